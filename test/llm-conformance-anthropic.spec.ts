import { expect } from 'expect';
import { describe, it } from 'node:test';
import { circuitState, conformance, SMALL_BREAKER } from './support/conformance.js';
import { anthropic, Shape } from './support/provider-stub.js';
import { doneOf, eventsOf, postStream } from './support/sse.js';

const { start, block, delta, stop, end, event } = anthropic;
const text = (index: number, t: string) => delta(index, { type: 'text_delta', text: t });
const json = (index: number, partial: string) => delta(index, { type: 'input_json_delta', partial_json: partial });
const ping = event('ping', {});

describe('Anthropic (LLM_PROVIDER=anthropic): the conformance suite', () => {
  const c = conformance('anthropic');

  it('streams text: message_start, content_block_delta text_delta, message_delta end_turn, usage from both', async () => {
    await c.check([anthropic.text('Hello from Claude.')], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      text: 'Hello from Claude.',
      rows: [{ role: 'assistant', content: 'Hello from Claude.' }],
      usage: { prompt: 11, completion: 7 },
    });
    const request = c.stub.requests.at(-1)!;
    expect(request.path).toBe('/v1/messages');
    expect(request.headers['x-api-key'] ?? request.headers.authorization).toMatch(/sk-test-key-0123456789/);
    expect(request.body).toMatchObject({ model: 'conformance-model', stream: true, max_tokens: 8192 });
    // The agent's prompt goes as `system`, tools in Anthropic's shape.
    expect(typeof request.body.system).toBe('string');
    expect(request.body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Please look at this' }] }]);
    expect(request.body.tools[0]).toEqual(expect.objectContaining({ name: expect.any(String), input_schema: expect.any(Object) }));
  });

  it('extended thinking: thinking_delta streamed as reasoning and stored apart, with pings slower than the idle limit', async () => {
    const frames = [
      start(),
      block(0, { type: 'thinking', thinking: '' }),
      delta(0, { type: 'thinking_delta', thinking: 'Consider it. ' }),
      ping,
      ping,
      ping,
      ping,
      ping,
      delta(0, { type: 'signature_delta', signature: 'EqQBCgIYAhIM' }),
      stop(0),
      block(1, { type: 'text', text: '' }),
      text(1, 'Considered.'),
      stop(1),
      ...end('end_turn', 20),
    ];
    const result = await c.check([{ frames, delayMs: 250 }], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      text: 'Considered.',
      reasoning: 'Consider it. ',
      rows: [{ role: 'assistant', content: 'Considered.', reasoning: 'Consider it. ' }],
      usage: { prompt: 11, completion: 20 },
    });
    await c.turn([anthropic.text('Next.')], result.sessionId);
    expect(c.stub.requests.at(-1)!.body.messages[1]).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'Considered.' }] });
  });

  it('an overloaded_error event inside the 200 stream: retried, then llm_error', async () => {
    const frames = [start(), ping, event('error', { error: { type: 'overloaded_error', message: 'Overloaded' } })];
    await c.check([{ frames }], {
      status: 'failed',
      breaker: { failures: 2, successes: 0 },
      code: 'llm_error',
      rows: [],
      turnError: /Provider: Overloaded/,
      requests: 2,
      errorType: 'server_error',
    });
  });

  it('an api_error event after a text delta: not retried, the text kept as interrupted, llm_error', async () => {
    const frames = [
      start(),
      block(0, { type: 'text', text: '' }),
      text(0, 'Starting '),
      event('error', { error: { type: 'api_error', message: 'Internal server error' } }),
    ];
    await c.check([{ frames }], {
      status: 'failed',
      breaker: { failures: 0, successes: 1 },
      code: 'llm_error',
      rows: [{ role: 'assistant', content: 'Starting ', status: 'interrupted' }],
      turnError: /Provider: Internal server error/,
      errorType: 'server_error',
    });
  });

  it('HTTP 503 twice: retried once, llm_error', async () => {
    await c.check([anthropic.error(503, 'api_error', 'Service unavailable')], {
      status: 'failed',
      breaker: { failures: 2, successes: 0 },
      code: 'llm_error',
      rows: [],
      turnError: /\(503\).*Provider: Service unavailable/,
      requests: 2,
      errorType: 'server_error',
    });
  });

  it('tool use after thinking: input_json_delta pieces, stop_reason tool_use; the result goes back as tool_result, after the signed thinking', async () => {
    const frames = [
      start(),
      block(0, { type: 'thinking', thinking: '', signature: '' }),
      delta(0, { type: 'thinking_delta', thinking: 'I need the file.' }),
      delta(0, { type: 'signature_delta', signature: 'sig-1' }),
      stop(0),
      block(1, { type: 'text', text: '' }),
      text(1, 'Reading it. '),
      stop(1),
      block(2, { type: 'tool_use', id: 'toolu_01', name: 'read_file', input: {} }),
      json(2, '{"path": '),
      json(2, '"README.md"}'),
      stop(2),
      ...end('tool_use'),
    ];
    const result = await c.check([{ frames }], {
      status: 'awaiting_tool_result',
      breaker: { failures: 0, successes: 1 },
      text: 'Reading it. ',
      reasoning: 'I need the file.',
      toolCalls: [{ toolCallId: 'toolu_01', name: 'read_file', arguments: { path: 'README.md' } }],
      rows: [{ role: 'assistant', content: 'Reading it. ', toolNames: ['read_file'], reasoning: 'I need the file.' }],
    });
    c.stub.play(anthropic.text('It says hello.'));
    const next = await postStream(`${c.t.baseUrl}/v1/sessions/${result.sessionId}/tool-results`, {
      toolCallId: 'toolu_01',
      output: '# Hello',
    });
    expect(doneOf(next).status).toBe('completed');
    expect(c.stub.requests.at(-1)!.body.messages.slice(1)).toEqual([
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'I need the file.', signature: 'sig-1' },
          { type: 'text', text: 'Reading it. ' },
          { type: 'tool_use', id: 'toolu_01', name: 'read_file', input: { path: 'README.md' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '# Hello' }] },
    ]);
  });

  it('a stream cut before message_stop is not a complete answer', async () => {
    await c.check([{ frames: [start(), block(0, { type: 'text', text: '' }), text(0, 'Half')], cut: true }], {
      status: 'failed',
      breaker: { failures: 0, successes: 1 },
      code: 'llm_error',
      rows: [{ role: 'assistant', content: 'Half', status: 'interrupted' }],
      turnError: /broke off/,
      errorType: 'connection',
    });
  });

  it('HTTP 529 overloaded_error, then a stream: retried, completed', async () => {
    await c.check([anthropic.error(529, 'overloaded_error', 'Overloaded'), anthropic.text('Back.')], {
      status: 'completed',
      breaker: { failures: 1, successes: 1 },
      rows: [{ role: 'assistant', content: 'Back.' }],
      requests: 2,
    });
  });

  it('a stream that ends cleanly without message_stop is not a complete answer', async () => {
    await c.check([{ frames: [start(), block(0, { type: 'text', text: '' }), text(0, 'Half')] }], {
      status: 'failed',
      breaker: { failures: 0, successes: 1 },
      code: 'llm_error',
      rows: [{ role: 'assistant', content: 'Half', status: 'interrupted' }],
      turnError: /ended before the answer was complete/,
      errorType: 'connection',
    });
  });

  it('stop_reason max_tokens on text: interrupted, llm_output_truncated', async () => {
    await c.check([{ frames: [start(), block(0, { type: 'text', text: '' }), text(0, 'Cut off'), stop(0), ...end('max_tokens')] }], {
      status: 'failed',
      breaker: { failures: 0, successes: 1 },
      code: 'llm_output_truncated',
      rows: [{ role: 'assistant', content: 'Cut off', status: 'interrupted' }],
      turnError: /output limit/,
      errorType: 'incomplete_answer',
    });
  });

  it('stop_reason max_tokens inside tool input: the call is not dispatched', async () => {
    const frames = [
      start(),
      block(0, { type: 'tool_use', id: 'toolu_02', name: 'read_file', input: {} }),
      json(0, '{"path": "REA'),
      ...end('max_tokens'),
    ];
    await c.check([{ frames }], {
      status: 'failed',
      breaker: { failures: 0, successes: 1 },
      code: 'llm_output_truncated',
      rows: [],
      turnError: /tool call/,
      errorType: 'incomplete_answer',
    });
  });

  const refusals: Array<[string, Shape, string, RegExp]> = [
    [
      '400 prompt too long',
      anthropic.error(400, 'invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum'),
      'llm_context_too_long',
      /210000 tokens/,
    ],
    ['401 authentication_error', anthropic.error(401, 'authentication_error', 'invalid x-api-key'), 'llm_auth_failed', /invalid x-api-key/],
    ['404 not_found_error', anthropic.error(404, 'not_found_error', 'model: claude-9'), 'llm_model_not_found', /claude-9/],
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

  it('an answer with no content blocks is llm_empty_answer', async () => {
    await c.check([{ frames: [start(), ...end('end_turn', 0)] }], {
      status: 'failed',
      breaker: { failures: 0, successes: 1 },
      code: 'llm_empty_answer',
      rows: [],
      turnError: /answered nothing/,
      errorType: 'incomplete_answer',
    });
  });

  it('HTTP 429 rate_limit_error: retried once, llm_rate_limited', async () => {
    await c.check([anthropic.error(429, 'rate_limit_error', 'Number of request tokens has exceeded your rate limit')], {
      status: 'failed',
      breaker: { failures: 2, successes: 0 },
      code: 'llm_rate_limited',
      rows: [],
      requests: 2,
      turnError: /rate limit/,
      errorType: 'rate_limit',
    });
  });
});

describe('Anthropic: the circuit breaker', () => {
  const c = conformance('anthropic', SMALL_BREAKER);

  it('refusals leave it closed; a run of 500s opens it', async () => {
    for (let i = 0; i < 4; i++) await c.turn([anthropic.error(400, 'invalid_request_error', 'tools: not supported')]);
    expect(await circuitState(c.t.baseUrl)).toBe(0);
    for (let i = 0; i < 3; i++) await c.turn([anthropic.error(500, 'api_error', 'Internal server error')]);
    expect(await circuitState(c.t.baseUrl)).toBe(2);
    const refused = await c.turn([anthropic.text('Not asked.')]);
    expect(eventsOf(refused, 'error').map((e) => e.data.code)).toEqual(['llm_unavailable']);
  });
});
