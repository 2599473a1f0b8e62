import { expect } from 'expect';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { api, createSession, streamInBackground } from './support/conversation.js';
import { query } from './support/database.js';
import { OpenAiStub, StubReply } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, postStream, StreamResult } from './support/sse.js';

const STUB_ENV = { LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false' };

/** The service against its own stub, with these LLM settings. */
function withService(settings: Record<string, string>) {
  const stub = new OpenAiStub();
  const service = {
    stub,
    t: undefined as unknown as TestApp,
    /** Replies in order from the next request on; the last one repeats. */
    script(...replies: StubReply[]): void {
      const start = stub.requests.length;
      stub.respond((_request, index) => replies[Math.min(index - start, replies.length - 1)]);
    },
    async turn(content: string, id?: string): Promise<StreamResult & { sessionId: string }> {
      const sessionId = id ?? (await createSession(service.t.baseUrl));
      return { sessionId, ...(await postStream(`${service.t.baseUrl}/v1/sessions/${sessionId}/messages`, { content })) };
    },
  };
  before(async () => {
    service.t = await startApp({ ...STUB_ENV, LLM_BASE_URL: await stub.start(), ...settings });
  });
  after(async () => {
    await service.t.close();
    await stub.close();
  });
  return service;
}

/** A failed turn ends with `error` then `done{failed}`. */
function expectFailed(result: StreamResult, code: string): void {
  const names = result.events.map((e) => e.event);
  expect(names[0]).toBe('turn');
  expect(names.slice(-2)).toEqual(['error', 'done']);
  expect(doneOf(result).status).toBe('failed');
  const [error] = eventsOf(result, 'error');
  expect(error.data).toEqual({ code, message: expect.any(String) });
  // No internals reach the client.
  expect(error.data.message).not.toMatch(/127\.0\.0\.1|stub error|at .*\.js/);
}

describe('conversations: a resilient LLM', () => {
  describe('retries before the first token, never after', () => {
    const s = withService({ LLM_RETRY_BASE_MS: '10' });

    it('completes a turn after two 500s: three requests, one answer', async () => {
      s.script({ status: 500 }, { status: 500 }, { text: 'Third time lucky.' });
      const before = s.stub.requests.length;
      const result = await s.turn('Try hard');
      expect(doneOf(result).status).toBe('completed');
      expect(eventsOf(result, 'error')).toEqual([]);
      expect(
        eventsOf(result, 'token')
          .map((e) => e.data.delta)
          .join(''),
      ).toBe('Third time lucky.');
      expect(s.stub.requests.length - before).toBe(3);
      const rows = await query(s.t.databaseUrl, `SELECT role, content FROM messages WHERE session_id = $1 ORDER BY seq`, [
        result.sessionId,
      ]);
      expect(rows).toEqual([
        { role: 'user', content: 'Try hard' },
        { role: 'assistant', content: 'Third time lucky.' },
      ]);
    });

    it('retries a 429', async () => {
      s.script({ status: 429 }, { text: 'After the rate limit.' });
      const before = s.stub.requests.length;
      const result = await s.turn('Busy provider');
      expect(doneOf(result).status).toBe('completed');
      expect(s.stub.requests.length - before).toBe(2);
    });

    it('does not retry a 400 from the provider', async () => {
      s.script({ status: 400 });
      const before = s.stub.requests.length;
      const result = await s.turn('Bad request');
      expectFailed(result, 'llm_bad_request');
      expect(s.stub.requests.length - before).toBe(1);
    });

    it('does not retry a stream that breaks after its first tokens: error, done{failed}, no complete answer, the session usable after', async () => {
      // The delay lets the first chunks leave before the connection is cut.
      s.script({ text: 'This answer will break off in the middle of a sentence', breakAfter: 3, delayMs: 20 });
      const before = s.stub.requests.length;
      const result = await s.turn('Tell me a story');
      expect(s.stub.requests.length - before).toBe(1);
      expect(eventsOf(result, 'token').length).toBe(3);
      expectFailed(result, 'llm_error');
      // What the user saw is kept, marked interrupted; `error` still comes right before `done`.
      const rows = await query(s.t.databaseUrl, `SELECT role, content, status FROM messages WHERE session_id = $1 ORDER BY seq`, [
        result.sessionId,
      ]);
      expect(rows).toEqual([
        { role: 'user', content: 'Tell me a story', status: 'complete' },
        { role: 'assistant', content: 'This answer will ', status: 'interrupted' },
      ]);
      expect(eventsOf(result, 'message').map((e) => e.data.message.status)).toEqual(['complete', 'interrupted']);
      const [turn] = await query(s.t.databaseUrl, `SELECT status, error FROM turns WHERE id = $1`, [doneOf(result).turnId]);
      expect(turn.status).toBe('failed');
      expect(turn.error).toEqual(expect.any(String));
      expect((await api(s.t.baseUrl, 'GET', `/v1/sessions/${result.sessionId}`)).body.status).toBe('idle');

      s.script({ text: 'Whole answer this time.' });
      const next = await s.turn('Again please', result.sessionId);
      expect(doneOf(next).status).toBe('completed');
      // The history sent next is valid for the provider: no dangling half-answer as a complete reply.
      const sent = s.stub.requests[s.stub.requests.length - 1].body.messages;
      expect(sent[sent.length - 1]).toEqual({ role: 'user', content: 'Again please' });
    });

    it('reports the usage of the provider on done and stores it on the turn', async () => {
      s.script({ text: 'Counted answer.', usage: { prompt: 123, completion: 45 } });
      const result = await s.turn('How much did that cost?');
      expect(doneOf(result)).toEqual({
        turnId: expect.any(String),
        status: 'completed',
        usage: { promptTokens: 123, completionTokens: 45, totalTokens: 168 },
      });
      const [turn] = await query(s.t.databaseUrl, `SELECT prompt_tokens, completion_tokens, status FROM turns WHERE id = $1`, [
        doneOf(result).turnId,
      ]);
      expect(turn).toEqual({ prompt_tokens: 123, completion_tokens: 45, status: 'completed' });
    });
  });

  describe('the circuit breaker', () => {
    const s = withService({ LLM_BREAKER_MIN_CALLS: '2', LLM_MAX_RETRIES: '0', LLM_BREAKER_COOLDOWN_MS: '60000' });

    it('opens after repeated failures: the next turn fails fast with llm_unavailable, without a request', async () => {
      s.script({ status: 503 });
      for (let i = 0; i < 2; i++) expectFailed(await s.turn(`failing ${i}`), 'llm_error');
      expect(s.stub.requests.length).toBe(2);

      s.script({ text: 'I would have answered.' });
      const started = Date.now();
      const result = await s.turn('Are you back?');
      expect(Date.now() - started).toBeLessThan(1_000);
      expectFailed(result, 'llm_unavailable');
      expect(s.stub.requests.length).toBe(2);
      const [turn] = await query(s.t.databaseUrl, `SELECT status FROM turns WHERE id = $1`, [doneOf(result).turnId]);
      expect(turn.status).toBe('failed');
      // The user's message is kept for when the provider is back.
      expect((await api(s.t.baseUrl, 'GET', `/v1/sessions/${result.sessionId}`)).body).toMatchObject({ status: 'idle', messageCount: 1 });

      const metrics = await (await fetch(`${s.t.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/llm_circuit_state\{gen_ai_provider_name="openai_compatible"\} 2/);
    });
  });

  describe('stopping a turn before the first token', () => {
    const s = withService({ LLM_RETRY_BASE_MS: '3000', LLM_MAX_RETRIES: '3', LLM_BREAKER_MIN_CALLS: '2' });

    it('does not count cancels and clients that left as provider failures: the circuit stays closed', async () => {
      s.script({ text: 'slow to start', delayMs: 1_500 });
      for (let i = 0; i < 2; i++) {
        const id = await createSession(s.t.baseUrl);
        const requested = s.stub.requests.length;
        const running = streamInBackground(
          `${s.t.baseUrl}/v1/sessions/${id}/messages`,
          { content: 'Hello?' },
          (e) => e.event === 'message',
        );
        await running.reached;
        await eventually(async () => s.stub.requests.length > requested);
        expect((await api(s.t.baseUrl, 'POST', `/v1/sessions/${id}/cancel`)).body).toEqual({ cancelled: true });
        expect(doneOf(await running.result).status).toBe('cancelled');
      }
      const id = await createSession(s.t.baseUrl);
      const requested = s.stub.requests.length;
      const leaving = postStream(
        `${s.t.baseUrl}/v1/sessions/${id}/messages`,
        { content: 'Bye' },
        { stopWhen: () => s.stub.requests.length > requested },
      );
      await leaving;
      await eventually(async () => s.stub.requests[requested]?.aborted);

      s.script({ text: 'Still here.' });
      const result = await s.turn('Is the provider considered down?');
      expect(eventsOf(result, 'error')).toEqual([]);
      expect(doneOf(result).status).toBe('completed');
    });

    it('stops waiting for the next attempt: done{cancelled} at once, no further request', async () => {
      s.script({ status: 503 });
      const id = await createSession(s.t.baseUrl);
      const requested = s.stub.requests.length;
      const running = streamInBackground(`${s.t.baseUrl}/v1/sessions/${id}/messages`, { content: 'Hello?' }, (e) => e.event === 'message');
      await running.reached;
      await eventually(async () => s.stub.requests.length > requested);
      const cancelledAt = Date.now();
      expect((await api(s.t.baseUrl, 'POST', `/v1/sessions/${id}/cancel`)).body).toEqual({ cancelled: true });
      const result = await running.result;
      expect(Date.now() - cancelledAt).toBeLessThan(1_000);
      expect(doneOf(result).status).toBe('cancelled');
      expect(eventsOf(result, 'error')).toEqual([]);
      expect(s.stub.requests.length).toBe(requested + 1);
    });
  });

  describe('timeouts', () => {
    const s = withService({
      LLM_FIRST_TOKEN_TIMEOUT_MS: '300',
      LLM_IDLE_TIMEOUT_MS: '300',
      LLM_MAX_RETRIES: '1',
      LLM_RETRY_BASE_MS: '10',
      LLM_TIMEOUT_MS: '1500',
    });
    /** A provider that sends one chunk and then nothing, keeping the connection open. */
    const stalling = { server: createServer(), requests: 0, aborted: 0, url: '' };

    before(async () => {
      stalling.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        stalling.requests++;
        req.resume();
        res.on('close', () => {
          if (!res.writableFinished) stalling.aborted++;
        });
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write(
          `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'stub', choices: [{ index: 0, delta: { content: 'Half ' }, finish_reason: null }] })}\n\n`,
        );
      });
      await new Promise<void>((resolve) => stalling.server.listen(0, '127.0.0.1', resolve));
      stalling.url = `http://127.0.0.1:${(stalling.server.address() as AddressInfo).port}/v1`;
    });
    after(async () => {
      stalling.server.closeAllConnections();
      await new Promise((resolve) => stalling.server.close(resolve));
    });

    it('gives up on a provider that goes silent: error llm_timeout, done{failed}, the requests aborted', async () => {
      s.script({ text: 'far too slow', delayMs: 1_000 });
      const before = s.stub.requests.length;
      const started = Date.now();
      const result = await s.turn('Hello?');
      expect(Date.now() - started).toBeLessThan(2_000);
      expectFailed(result, 'llm_timeout');
      const sent = s.stub.requests.slice(before);
      expect(sent.length).toBe(2);
      // The stub sees each abort when its socket closes, which may land after done.
      await eventually(async () => sent.every((r) => r.aborted));

      s.script({ text: 'Fast now.' });
      expect(doneOf(await s.turn('Better?', result.sessionId)).status).toBe('completed');
    });

    it('gives up on a stream that goes silent after its first token, without a retry, keeping what was said', async () => {
      const service = await startApp({ ...STUB_ENV, LLM_BASE_URL: stalling.url, LLM_IDLE_TIMEOUT_MS: '300', LLM_RETRY_BASE_MS: '10' });
      try {
        const id = await createSession(service.baseUrl);
        const started = Date.now();
        const result = await postStream(`${service.baseUrl}/v1/sessions/${id}/messages`, { content: 'Go on' });
        expect(Date.now() - started).toBeLessThan(1_500);
        expect(eventsOf(result, 'token').map((e) => e.data.delta)).toEqual(['Half ']);
        expectFailed(result, 'llm_timeout');
        expect(stalling.requests).toBe(1);
        await eventually(async () => stalling.aborted === 1);
        const rows = await query(service.databaseUrl, `SELECT role, content, status FROM messages WHERE session_id = $1 ORDER BY seq`, [
          id,
        ]);
        expect(rows[1]).toEqual({ role: 'assistant', content: 'Half ', status: 'interrupted' });
      } finally {
        await service.close();
      }
    });

    it('bounds the whole answer by LLM_TIMEOUT_MS even while tokens keep coming', async () => {
      s.script({ text: Array.from({ length: 40 }, (_, i) => `t${i} `), delayMs: 100 });
      const started = Date.now();
      const result = await s.turn('Talk forever');
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1_400);
      expect(elapsed).toBeLessThan(2_500);
      expect(eventsOf(result, 'token').length).toBeGreaterThan(5);
      expectFailed(result, 'llm_timeout');
      const last = s.stub.requests[s.stub.requests.length - 1];
      await eventually(async () => last.aborted);
    });
  });
});
