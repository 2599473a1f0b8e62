import { expect } from 'expect';
import { after, before } from 'node:test';
import { startApp, TestApp } from './app.js';
import { createSession } from './conversation.js';
import { query } from './database.js';
import { ProviderStub, Shape } from './provider-stub.js';
import { doneOf, eventsOf, postStream, StreamResult } from './sse.js';

/** What one provider shape must come to, through the real service. */
export interface Expected {
  status: 'completed' | 'awaiting_tool_result' | 'failed';
  /** The `error` event's code, right before `done`. */
  code?: string;
  /** The `token` deltas, joined. */
  text?: string;
  /** The `reasoning` deltas, joined. */
  reasoning?: string;
  toolCalls?: Array<{ toolCallId?: string; name: string; arguments: Record<string, unknown> }>;
  /** The stored messages after the user's, in order (`status` defaults to complete). */
  rows: Array<{ role: string; content: string | null; status?: string; toolNames?: string[]; reasoning?: string }>;
  /** The turn's stored error. */
  turnError?: RegExp;
  /** The turn's stored usage (null: not reported). */
  usage?: { prompt: number | null; completion: number | null };
  /** Requests the provider got (retries included); 1 unless given. */
  requests?: number;
  /** The `llm_errors_total{error_type}` that grows by one; none grows when unset. */
  errorType?: string;
  /**
   * What the breaker was told, as `llm_circuit_samples_total{outcome}` grows: one sample per
   * attempt, a success as soon as the provider sent an event, a failure only for 5xx, 429,
   * timeouts and connection failures before it; a refusal or an incomplete answer counts nothing.
   */
  breaker: { failures: number; successes: number };
}

type Samples = Map<string, number>;

async function metrics(baseUrl: string): Promise<Samples> {
  const samples: Samples = new Map();
  for (const line of (await (await fetch(`${baseUrl}/metrics`)).text()).split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1], Number(match[2]));
  }
  return samples;
}

function errorsByType(samples: Samples): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of samples) {
    const type = /^llm_errors_total\{.*error_type="(\w+)"/.exec(key)?.[1];
    if (type) out[type] = value;
  }
  return out;
}

function breakerSamples(samples: Samples): { failures: number; successes: number } {
  const sum = (outcome: string) =>
    [...samples].reduce(
      (n, [key, value]) => (key.startsWith('llm_circuit_samples_total{') && key.includes(`outcome="${outcome}"`) ? n + value : n),
      0,
    );
  return { failures: sum('failure'), successes: sum('success') };
}

/** The circuit breaker's state as /metrics tells it: 0 closed, 1 half-open, 2 open. */
export async function circuitState(baseUrl: string): Promise<number | undefined> {
  for (const [key, value] of await metrics(baseUrl)) if (key.startsWith('llm_circuit_state{')) return value;
  return undefined;
}

export const PROMPT = 'Please look at this';

/**
 * The conformance harness: the real service over HTTP, pointed at a stub that replays recorded
 * provider shapes; `check` runs one turn against one shape and asserts its events, stored rows,
 * turn record, metrics and breaker.
 */
export function conformance(provider: 'openai' | 'anthropic', env: Record<string, string> = {}) {
  const stub = new ProviderStub();
  const harness = {
    stub,
    t: undefined as unknown as TestApp,
    async turn(shapes: Shape[], sessionId?: string): Promise<StreamResult & { sessionId: string }> {
      stub.play(...shapes);
      const id = sessionId ?? (await createSession(harness.t.baseUrl));
      return { sessionId: id, ...(await postStream(`${harness.t.baseUrl}/v1/sessions/${id}/messages`, { content: PROMPT })) };
    },
    async check(shapes: Shape[], want: Expected): Promise<StreamResult & { sessionId: string }> {
      const before = await metrics(harness.t.baseUrl);
      const requested = stub.requests.length;
      const result = await harness.turn(shapes);
      const names = result.events.map((e) => e.event);
      expect(names[0]).toBe('turn');
      expect(names[names.length - 1]).toBe('done');
      const done = doneOf(result);
      expect(done.status).toBe(want.status);
      const errors = eventsOf(result, 'error').map((e) => e.data);
      if (want.code) {
        expect(names.slice(-2)).toEqual(['error', 'done']);
        expect(errors).toEqual([{ code: want.code, message: expect.any(String) }]);
        // The client gets what to do, never the provider's internals.
        expect(errors[0].message).not.toMatch(/127\.0\.0\.1|sk-|Incorrect API key|at .*\.js/);
      } else {
        expect(errors).toEqual([]);
      }
      const joined = (name: 'token' | 'reasoning') => eventsOf(result, name).map((e) => e.data.delta);
      if (want.text !== undefined) expect(joined('token').join('')).toBe(want.text);
      expect(joined('reasoning').join('')).toBe(want.reasoning ?? '');
      expect(eventsOf(result, 'tool_call').map((e) => e.data)).toEqual(
        (want.toolCalls ?? []).map((c) => ({ toolCallId: c.toolCallId ?? expect.any(String), name: c.name, arguments: c.arguments })),
      );

      const rows = await query(
        harness.t.databaseUrl,
        `SELECT role, content, status, tool_calls, metadata FROM messages WHERE session_id = $1 ORDER BY seq`,
        [result.sessionId],
      );
      expect(
        rows.map((r) => ({
          role: r.role,
          content: r.content,
          status: r.status,
          ...(r.tool_calls ? { toolNames: r.tool_calls.map((c: { function: { name: string } }) => c.function.name) } : {}),
          ...(r.metadata?.reasoning ? { reasoning: r.metadata.reasoning } : {}),
        })),
      ).toEqual([{ role: 'user', content: PROMPT, status: 'complete' }, ...want.rows.map((r) => ({ status: 'complete', ...r }))]);

      const [turn] = await query(harness.t.databaseUrl, `SELECT status, error, prompt_tokens, completion_tokens FROM turns WHERE id = $1`, [
        done.turnId,
      ]);
      expect(turn.status).toBe(want.status);
      if (want.turnError) expect(turn.error).toMatch(want.turnError);
      else expect(turn.error).toBeNull();
      if (want.usage) expect({ prompt: turn.prompt_tokens, completion: turn.completion_tokens }).toEqual(want.usage);
      expect(stub.requests.length - requested).toBe(want.requests ?? 1);

      const afterwards = await metrics(harness.t.baseUrl);
      const [was, is] = [errorsByType(before), errorsByType(afterwards)];
      const grown = Object.fromEntries(Object.keys(is).flatMap((k) => (is[k] !== (was[k] ?? 0) ? [[k, is[k] - (was[k] ?? 0)]] : [])));
      expect(grown).toEqual(want.errorType ? { [want.errorType]: 1 } : {});
      const [told, tells] = [breakerSamples(before), breakerSamples(afterwards)];
      expect({ failures: tells.failures - told.failures, successes: tells.successes - told.successes }).toEqual(want.breaker);
      // LLM_BREAKER_MIN_CALLS (20) is far more than one turn's attempts: it stays closed.
      expect(await circuitState(harness.t.baseUrl)).toBe(0);
      return result;
    },
  };
  before(async () => {
    const base = await stub.start(provider === 'openai' ? '/v1' : '');
    harness.t = await startApp({
      LLM_PROVIDER: provider,
      LLM_BASE_URL: base,
      LLM_API_KEY: 'sk-test-key-0123456789',
      LLM_MODEL: 'conformance-model',
      MULTI_AGENT_MODE: 'false',
      LLM_MAX_RETRIES: '1',
      LLM_RETRY_BASE_MS: '1',
      LLM_IDLE_TIMEOUT_MS: '1000',
      LLM_FIRST_TOKEN_TIMEOUT_MS: '3000',
      ...env,
    });
  });
  after(async () => {
    await harness.t.close();
    await stub.close();
  });
  return harness;
}

/** A breaker that a handful of calls can open, for a suite of its own so earlier turns do not dilute its window. */
export const SMALL_BREAKER = { LLM_BREAKER_MIN_CALLS: '3', LLM_BREAKER_FAILURE_PERCENT: '60', LLM_BREAKER_WINDOW_MS: '60000' };
