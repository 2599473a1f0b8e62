import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { api, createSession, streamInBackground } from './support/conversation.js';
import { query } from './support/database.js';
import { metricValue } from './support/metrics.js';
import { OpenAiStub, StubReply } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, postStream, StreamResult } from './support/sse.js';

const STUB_ENV = { LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false' };

function withService(settings: Record<string, string>) {
  const stub = new OpenAiStub();
  const service = {
    stub,
    t: undefined as unknown as TestApp,
    async turn(content: string): Promise<StreamResult & { sessionId: string }> {
      const sessionId = await createSession(service.t.baseUrl);
      return { sessionId, ...(await postStream(`${service.t.baseUrl}/v1/sessions/${sessionId}/messages`, { content })) };
    },
    async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
      return metricValue(await (await fetch(`${service.t.baseUrl}/metrics`)).text(), name, labels);
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

describe('the LLM circuit breaker', () => {
  describe('beside a minority of failing calls', () => {
    const s = withService({ LLM_RETRY_BASE_MS: '10', DB_POOL_SIZE: '20' });

    it('stays closed: 30 failing turns (cuts mid-stream, 500s) and 20 leaving clients beside 150 healthy turns leave >= 95% of them completed', async () => {
      const healthy: StubReply = { text: 'A healthy answer in a few words.', delayMs: 5 };
      s.stub.respond((request) => {
        const content = String(request.body.messages.at(-1)?.content);
        if (content.startsWith('cut')) return { text: 'This one breaks off soon after it starts', breakAfter: 2, delayMs: 5 };
        if (content.startsWith('fail')) return { status: 500 };
        return healthy;
      });
      const url = async () => `${s.t.baseUrl}/v1/sessions/${await createSession(s.t.baseUrl)}/messages`;
      const healthyTurns = Array.from({ length: 150 }, async (_, i) => postStream(await url(), { content: `healthy ${i}` }));
      const failing = Array.from({ length: 30 }, async (_, i) => {
        const sessionId = await createSession(s.t.baseUrl);
        const result = await postStream(`${s.t.baseUrl}/v1/sessions/${sessionId}/messages`, { content: `${i % 2 ? 'cut' : 'fail'} ${i}` });
        return { sessionId, cut: i % 2 === 1, ...result };
      });
      // Clients that leave as soon as their turn started: already-aborted calls, which count for nothing.
      const leaving = Array.from({ length: 20 }, async (_, i) =>
        postStream(await url(), { content: `bye ${i}` }, { stopWhen: () => true }),
      );
      const results = await Promise.all(healthyTurns);
      const failed = await Promise.all(failing);
      await Promise.all(leaving);

      const completed = results.filter((r) => doneOf(r)?.status === 'completed').length;
      expect(completed).toBeGreaterThanOrEqual(143);
      expect(await s.metric('llm_errors_total', { error_type: 'circuit_open' })).toBe(0);
      expect(await s.metric('llm_circuit_state')).toBe(0);
      // Cuts mid-stream are connection failures, not "other".
      expect(await s.metric('llm_errors_total', { error_type: 'connection' })).toBe(15);
      expect(await s.metric('llm_errors_total', { error_type: 'other' })).toBe(0);
      // Each cut turn tells its client and its row so, as a connection failure (not "The LLM call failed.").
      const cuts = failed.filter((r) => r.cut);
      expect(cuts).toHaveLength(15);
      for (const cut of cuts) {
        expect(doneOf(cut).status).toBe('failed');
        expect(eventsOf(cut, 'error').map((e) => e.data)).toEqual([
          { code: 'llm_error', message: expect.stringMatching(/broke off mid-answer/) },
        ]);
        const [turn] = await query(s.t.databaseUrl, `SELECT status, error FROM turns WHERE session_id = $1`, [cut.sessionId]);
        expect(turn).toEqual({
          status: 'failed',
          error: expect.stringMatching(/^The connection to the LLM provider broke off mid-answer\./),
        });
      }
    });
  });

  describe('with a provider that is fully down, then back', () => {
    const s = withService({
      LLM_MAX_RETRIES: '0',
      LLM_BREAKER_MIN_CALLS: '4',
      LLM_BREAKER_WINDOW_MS: '60000',
      // Long enough for the checks made while it is open.
      LLM_BREAKER_COOLDOWN_MS: '3000',
    });

    it('ignores 4xx, opens on failures, fails fast while open, shows half-open after the wait, lets one probe through, closes after recovery', async () => {
      // Metrics live in the process's registry, shared with the apps of the other tests of this file.
      const samples = await s.metric('llm_circuit_samples_total');
      const failures = await s.metric('llm_circuit_samples_total', { outcome: 'failure' });
      s.stub.reply({ status: 400 }, { status: 422 }, { status: 404 }, { status: 400 }, { status: 503 });
      for (let i = 0; i < 4; i++) expect(doneOf(await s.turn(`refused ${i}`)).status).toBe('failed');
      expect(await s.metric('llm_circuit_samples_total')).toBe(samples);
      expect(await s.metric('llm_circuit_state')).toBe(0);

      for (let i = 0; i < 4; i++) expect(eventsOf(await s.turn(`down ${i}`), 'error')[0].data.code).toBe('llm_error');
      expect(await s.metric('llm_circuit_samples_total', { outcome: 'failure' })).toBe(failures + 4);
      expect(await s.metric('llm_circuit_state')).toBe(2);
      const requested = s.stub.requests.length;
      expect(eventsOf(await s.turn('while open'), 'error')[0].data.code).toBe('llm_unavailable');
      expect(s.stub.requests.length).toBe(requested);

      // Half-open on a quiet service, without a call.
      await eventually(async () => (await s.metric('llm_circuit_state')) === 1, 10_000);
      expect(s.stub.requests.length).toBe(requested);

      // A probe that is cancelled says nothing: the next call probes again.
      let release!: () => void;
      s.stub.reply({ text: 'held', pause: { chunks: 0, until: new Promise<void>((r) => (release = r)) } });
      const cancelledId = await createSession(s.t.baseUrl);
      const cancelled = streamInBackground(
        `${s.t.baseUrl}/v1/sessions/${cancelledId}/messages`,
        { content: 'probe, cancelled' },
        (e) => e.event === 'message',
      );
      await cancelled.reached;
      await eventually(async () => s.stub.requests.length > requested);
      // While the probe runs, the others fail fast instead of queueing behind it.
      const others = await Promise.all(Array.from({ length: 5 }, (_, i) => s.turn(`queued ${i}`)));
      expect(others.map((r) => eventsOf(r, 'error')[0]?.data.code)).toEqual(Array(5).fill('llm_unavailable'));
      expect(s.stub.requests.length).toBe(requested + 1);
      expect((await api(s.t.baseUrl, 'POST', `/v1/sessions/${cancelledId}/cancel`)).body).toEqual({ cancelled: true });
      expect(doneOf(await cancelled.result).status).toBe('cancelled');
      release();
      expect(await s.metric('llm_circuit_state')).toBe(1);

      s.stub.reply({ text: 'Back again.' });
      const recovered = await s.turn('are you back?');
      expect(doneOf(recovered).status).toBe('completed');
      expect(await s.metric('llm_circuit_state')).toBe(0);
      expect(doneOf(await s.turn('and still?')).status).toBe('completed');
      const [turn] = await query(s.t.databaseUrl, `SELECT status FROM turns WHERE session_id = $1`, [recovered.sessionId]);
      expect(turn.status).toBe('completed');
    });
  });
});
