import { expect } from 'expect';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { startApp } from './support/app.js';
import { circuitState, conformance, SMALL_BREAKER } from './support/conformance.js';
import { createSession } from './support/conversation.js';
import { metricValue } from './support/metrics.js';
import { openai, ProviderStub, Shape } from './support/provider-stub.js';
import { doneOf, eventsOf, postStream } from './support/sse.js';

const { chunk, data } = openai;

describe('OpenAI-compatible providers: the conformance suite, errors', () => {
  const c = conformance('openai');

  it('an error object inside a 200 stream (invalid_api_key): not retried, llm_auth_failed, the provider message stored without the key', async () => {
    const error = {
      message: 'Incorrect API key provided: sk-test-key-0123456789.',
      type: 'invalid_request_error',
      code: 'invalid_api_key',
    };
    await c.check([{ frames: [data({ error })] }], {
      status: 'failed',
      breaker: { failures: 0, successes: 0 },
      code: 'llm_auth_failed',
      rows: [],
      turnError: /Provider: Incorrect API key provided: \[redacted\]\./,
      errorType: 'bad_request',
    });
  });

  it('an error object inside a 200 stream after some text: the text kept as interrupted, llm_error', async () => {
    await c.check(
      [{ frames: [chunk({ content: 'Starting ' }), data({ error: { message: 'The server had an error', type: 'server_error' } })] }],
      {
        status: 'failed',
        breaker: { failures: 0, successes: 1 },
        code: 'llm_error',
        rows: [{ role: 'assistant', content: 'Starting ', status: 'interrupted' }],
        turnError: /Provider: The server had an error/,
        errorType: 'server_error',
      },
    );
  });

  const refusals: Array<[string, Shape, string, RegExp]> = [
    [
      '400 context too long (OpenAI)',
      openai.error(400, {
        message: "This model's maximum context length is 8192 tokens.",
        type: 'invalid_request_error',
        code: 'context_length_exceeded',
      }),
      'llm_context_too_long',
      /maximum context length is 8192/,
    ],
    [
      '400 tools refused (vLLM started without tool-calling flags)',
      {
        status: 400,
        contentType: 'application/json',
        frames: [
          JSON.stringify({
            object: 'error',
            message: '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
            type: 'BadRequestError',
            param: null,
            code: 400,
          }),
        ],
      },
      'llm_tools_unsupported',
      /enable-auto-tool-choice/,
    ],
    [
      '401 bad key',
      openai.error(401, { message: 'Invalid Authorization: Bearer sk-live-abcdef123456', type: 'invalid_request_error' }),
      'llm_auth_failed',
      /Bearer \[redacted\]/,
    ],
    [
      '404 unknown model (Ollama)',
      {
        status: 404,
        contentType: 'application/json',
        frames: [JSON.stringify({ error: 'model "llama9" not found, try pulling it first' })],
      },
      'llm_model_not_found',
      /llama9/,
    ],
  ];
  for (const [name, shape, code, detail] of refusals) {
    it(`HTTP ${name}: ${code}, not retried, not counted by the breaker`, async () => {
      await c.check([shape], {
        status: 'failed',
        breaker: { failures: 0, successes: 0 },
        code,
        rows: [],
        turnError: detail,
        errorType: 'bad_request',
      });
    });
  }

  it('HTTP 429 twice: retried once, llm_rate_limited', async () => {
    await c.check([openai.error(429, { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' })], {
      status: 'failed',
      breaker: { failures: 2, successes: 0 },
      code: 'llm_rate_limited',
      rows: [],
      turnError: /Rate limit reached/,
      requests: 2,
      errorType: 'rate_limit',
    });
  });

  it('HTTP 500 then a stream: retried, completed', async () => {
    await c.check([openai.error(500, { message: 'boom', type: 'server_error' }), openai.text('Recovered.')], {
      status: 'completed',
      breaker: { failures: 1, successes: 1 },
      rows: [{ role: 'assistant', content: 'Recovered.' }],
      requests: 2,
    });
  });

  it('HTTP 503 twice: llm_error', async () => {
    await c.check([{ status: 503, contentType: 'text/plain', frames: ['upstream unavailable'] }], {
      status: 'failed',
      breaker: { failures: 2, successes: 0 },
      code: 'llm_error',
      rows: [],
      turnError: /\(503\)/,
      requests: 2,
      errorType: 'server_error',
    });
  });
});

describe('OpenAI-compatible providers: the circuit breaker', () => {
  const c = conformance('openai', SMALL_BREAKER);

  it('five refusals leave it closed; a run of 503s opens it', async () => {
    for (let i = 0; i < 5; i++) await c.turn([openai.error(400, { message: 'tools are not supported', type: 'invalid_request_error' })]);
    expect(await circuitState(c.t.baseUrl)).toBe(0);
    expect(doneOf(await c.turn([openai.text('Still here.')])).status).toBe('completed');
    for (let i = 0; i < 3; i++) await c.turn([openai.error(503, { message: 'down' })]);
    expect(await circuitState(c.t.baseUrl)).toBe(2);
    const refused = await c.turn([openai.text('Not asked.')]);
    expect(eventsOf(refused, 'error').map((e) => e.data.code)).toEqual(['llm_unavailable']);
  });
});

describe('OpenAI-compatible providers: nobody listening at LLM_BASE_URL', () => {
  it('retried, then llm_error counted as a connection failure', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const t = await startApp({
      LLM_BASE_URL: `http://127.0.0.1:${port}/v1`,
      LLM_MODEL: 'm',
      MULTI_AGENT_MODE: 'false',
      LLM_MAX_RETRIES: '1',
      LLM_RETRY_BASE_MS: '1',
    });
    const counts = async () => {
      const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
      return [metricValue(text, 'llm_retries_total'), metricValue(text, 'llm_errors_total', { error_type: 'connection' })];
    };
    try {
      const before = await counts();
      const result = await postStream(`${t.baseUrl}/v1/sessions/${await createSession(t.baseUrl)}/messages`, { content: 'Hi' });
      expect(doneOf(result).status).toBe('failed');
      expect(eventsOf(result, 'error').map((e) => e.data.code)).toEqual(['llm_error']);
      const after = await counts();
      // One retry, then one failure of type `connection`.
      expect([after[0] - before[0], after[1] - before[1]]).toEqual([1, 1]);
    } finally {
      await t.close();
    }
  });
});

describe('OpenAI-compatible providers: LLM_STREAM_USAGE=false', () => {
  it('does not send stream_options to a gateway that refuses it', async () => {
    const stub = new ProviderStub();
    const t = await startApp({
      LLM_BASE_URL: await stub.start(),
      LLM_API_KEY: 'x',
      LLM_MODEL: 'm',
      MULTI_AGENT_MODE: 'false',
      LLM_STREAM_USAGE: 'false',
    });
    try {
      stub.play(openai.text('No usage asked.'));
      const result = await postStream(`${t.baseUrl}/v1/sessions/${await createSession(t.baseUrl)}/messages`, { content: 'Hi' });
      expect(doneOf(result).status).toBe('completed');
      expect(stub.requests[0].body).not.toHaveProperty('stream_options');
    } finally {
      await t.close();
      await stub.close();
    }
  });
});
