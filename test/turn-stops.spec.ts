import { expect } from 'expect';
import { ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { findFreePort } from '../src/database/embedded-postgres.js';
import { api, createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { metricValue } from './support/metrics.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, postStream, SseEvent, StreamResult } from './support/sse.js';
import { addressOf, serverClosed, TcpProxy } from './support/tcp-proxy.js';

/**
 * A cancel or a leaving client at each moment of a turn ends that turn alone. The service runs as
 * its own process (as an operator runs it) so that a stray rejection would show as its exit; locks
 * taken from a test connection and a gate in the LLM stub hold the turn at each moment on purpose.
 */
describe('a turn stopped at any moment', () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let child: ChildProcess;
  let baseUrl: string;
  let stderr = '';

  before(async () => {
    db = await createTestDatabase();
    const llmUrl = await stub.start();
    const port = await findFreePort();
    child = spawn(process.execPath, ['dist/src/main.js'], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        PORT: String(port),
        LLM_BASE_URL: llmUrl,
        LLM_API_KEY: 'x',
        LLM_MODEL: 'stub',
        LLM_MAX_RETRIES: '3',
        // Long enough that a cancel always lands while the turn waits for its next attempt.
        LLM_RETRY_BASE_MS: '5000',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    baseUrl = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${baseUrl}/health/ready`).catch(() => undefined))?.status === 200, 20_000);
  });

  after(async () => {
    child.kill('SIGKILL');
    await stub.close();
    await dropTestDatabase(db.name);
  });

  /** A lock held from a test connection until `release()`. */
  async function lock(sql: string): Promise<{ release(): Promise<void> }> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('BEGIN');
    await client.query(sql);
    return {
      async release() {
        await client.query('COMMIT');
        await client.end();
      },
    };
  }

  /** Resolves once a statement of the service waits for a lock on `table`. */
  const waitingOn = (table: string) =>
    eventually(async () => {
      const [row] = await query(
        db.url,
        `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = $1`,
        [table],
      );
      return row.n > 0;
    }, 10_000);

  /** Posts a turn; `leave()` makes the client go away, `events` fill in as they arrive. */
  function startTurn(sessionId: string, body: Record<string, unknown>, through = baseUrl) {
    const events: SseEvent[] = [];
    const gone = new AbortController();
    let wake = () => undefined as void;
    const result = postStream(`${through}/v1/sessions/${sessionId}/messages`, body, {
      leave: gone.signal,
      stopWhen: (event) => {
        events.push(event);
        wake();
        return false;
      },
    });
    return {
      result,
      /** Waits until the events so far match. */
      async until(match: (events: SseEvent[]) => boolean): Promise<void> {
        while (!match(events)) {
          const ended = await Promise.race([new Promise<boolean>((r) => (wake = () => r(false))), result.then(() => true)]);
          if (ended && !match(events)) throw new Error('the stream ended first');
        }
      },
      /** The client goes away. */
      leave(): Promise<StreamResult> {
        gone.abort();
        return result;
      },
    };
  }

  const cancel = async (sessionId: string) => (await api(baseUrl, 'POST', `/v1/sessions/${sessionId}/cancel`)).body;

  async function breakerCounts(): Promise<{ failures: number; errors: number; state: number }> {
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    return {
      failures: metricValue(text, 'llm_circuit_samples_total', { outcome: 'failure' }),
      errors: metricValue(text, 'llm_errors_total'),
      state: metricValue(text, 'llm_circuit_state'),
    };
  }

  /** The process lives, serves, saw no unhandled error, and the session is free again. */
  async function expectAlive(sessionId: string): Promise<void> {
    expect(child.exitCode).toBeNull();
    expect((await fetch(`${baseUrl}/health/ready`)).status).toBe(200);
    expect(stderr).not.toMatch(/unhandled|ERR_UNHANDLED_REJECTION/i);
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(metricValue(text, 'process_unhandled_errors_total')).toBe(0);
    await eventually(async () => (await api(baseUrl, 'GET', `/v1/sessions/${sessionId}`)).body.status === 'idle');
    const [session] = await query(db.url, `SELECT active_turn_id FROM sessions WHERE id = $1`, [sessionId]);
    expect(session.active_turn_id).toBeNull();
  }

  async function turnRow(sessionId: string): Promise<{ status: string; error: string | null }> {
    const rows = await query(db.url, `SELECT status, error FROM turns WHERE session_id = $1 ORDER BY started_at`, [sessionId]);
    return rows.at(-1) as { status: string; error: string | null };
  }

  const messageRows = (sessionId: string) =>
    query(db.url, `SELECT role, status, content FROM messages WHERE session_id = $1 ORDER BY seq`, [sessionId]);

  /** Stops the turn `how`: a cancel (accepted) or the client going away. */
  async function stop(turn: ReturnType<typeof startTurn>, sessionId: string, how: 'cancel' | 'leave'): Promise<void> {
    if (how === 'cancel') expect(await cancel(sessionId)).toEqual({ cancelled: true });
    else void turn.leave();
  }

  /** The turn's `done` for a cancel (the client stays to read it); the row for either. */
  async function expectStopped(turn: ReturnType<typeof startTurn>, sessionId: string, how: 'cancel' | 'leave'): Promise<void> {
    const result = await turn.result;
    if (how === 'cancel') {
      expect(doneOf(result).status).toBe('cancelled');
      expect(eventsOf(result, 'error')).toEqual([]);
    }
    await eventually(async () => (await turnRow(sessionId)).status !== 'running', 10_000);
    expect(await turnRow(sessionId)).toEqual(
      how === 'cancel' ? { status: 'cancelled', error: 'cancelled' } : { status: 'interrupted', error: 'the client went away' },
    );
  }

  it('before the history read (a cancel, then a client leaving, while the read waits for a lock): no LLM call, the breaker counts nothing', async () => {
    for (const how of ['cancel', 'leave'] as const) {
      const id = await createSession(baseUrl);
      const counted = await breakerCounts();
      const requested = stub.requests.length;
      const held = await lock('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
      const turn = startTurn(id, { content: 'Hello while the database is slow' });
      await waitingOn('messages');
      await stop(turn, id, how);
      await held.release();
      await expectStopped(turn, id, how);
      expect((await messageRows(id)).map((m) => [m.role, m.status])).toEqual([['user', 'complete']]);
      expect(stub.requests.length).toBe(requested);
      expect(await breakerCounts()).toEqual(counted);
      await expectAlive(id);
    }
  });

  it("during the user message's commit (the client leaves while the INSERT waits): interrupted, no LLM call", async () => {
    const id = await createSession(baseUrl);
    const counted = await breakerCounts();
    const requested = stub.requests.length;
    // Reads pass, writes wait: the history is read, the user's message is being committed.
    const held = await lock('LOCK TABLE messages IN EXCLUSIVE MODE');
    const turn = startTurn(id, { content: 'Hello, then gone' });
    await waitingOn('messages');
    const left = turn.leave();
    await held.release();
    await left;
    await eventually(async () => (await turnRow(id)).status !== 'running', 10_000);
    expect(await turnRow(id)).toEqual({ status: 'interrupted', error: 'the client went away' });
    expect((await messageRows(id)).map((m) => m.role)).toEqual(['user']);
    expect(stub.requests.length).toBe(requested);
    expect(await breakerCounts()).toEqual(counted);
    await expectAlive(id);
  });

  it('before the LLM call (a cancel, then a client leaving, while the agent switch waits): the call never starts', async () => {
    for (const how of ['cancel', 'leave'] as const) {
      const id = await createSession(baseUrl);
      const counted = await breakerCounts();
      const requested = stub.requests.length;
      const held = await lock('LOCK TABLE agent_switches IN ACCESS EXCLUSIVE MODE');
      const turn = startTurn(id, { content: 'Write some code', agentType: 'coder' });
      await waitingOn('agent_switches');
      await stop(turn, id, how);
      await held.release();
      await expectStopped(turn, id, how);
      expect((await messageRows(id)).map((m) => [m.role, m.status])).toEqual([['user', 'complete']]);
      expect(stub.requests.length).toBe(requested);
      expect(await breakerCounts()).toEqual(counted);
      await expectAlive(id);
    }
  });

  it('with the LLM request sent and no token yet (a cancel, then a client leaving): the call is aborted, the breaker counts nothing', async () => {
    for (const how of ['cancel', 'leave'] as const) {
      const id = await createSession(baseUrl);
      const counted = await breakerCounts();
      const requested = stub.requests.length;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      // The provider has the request and says nothing yet: no status line, no token.
      stub.reply({ text: 'Too late.', pause: { chunks: 0, until: gate } });
      const turn = startTurn(id, { content: 'Think first', agentType: 'coder' });
      await eventually(async () => stub.requests.length > requested);
      await stop(turn, id, how);
      await expectStopped(turn, id, how);
      await eventually(async () => stub.requests.at(-1)!.aborted);
      open();
      expect((await turn.result).events.filter((e) => e.event === 'token')).toEqual([]);
      expect((await messageRows(id)).map((m) => [m.role, m.status])).toEqual([['user', 'complete']]);
      expect(stub.requests.length).toBe(requested + 1);
      // The call was admitted and then stopped by the turn: neither a failure nor an LLM error.
      expect(await breakerCounts()).toEqual(counted);
      await expectAlive(id);
    }
  });

  it('between retries (a cancel, then a client leaving, while the turn waits for its next attempt): stopped at once, no further request', async () => {
    for (const how of ['cancel', 'leave'] as const) {
      const id = await createSession(baseUrl);
      const counted = await breakerCounts();
      const requested = stub.requests.length;
      stub.reply({ status: 503 });
      const turn = startTurn(id, { content: 'Provider hiccup', agentType: 'coder' });
      await eventually(async () => stub.requests.length > requested);
      await stop(turn, id, how);
      await expectStopped(turn, id, how);
      expect(stub.requests.length).toBe(requested + 1);
      expect((await messageRows(id)).map((m) => [m.role, m.status])).toEqual([['user', 'complete']]);
      // The 503 was the provider's failure; the stop added nothing.
      expect(await breakerCounts()).toEqual({ ...counted, failures: counted.failures + 1 });
      await expectAlive(id);
    }
  });

  it('during the stream (a cancel, then a client leaving): the partial answer is kept, cancelled or interrupted', async () => {
    for (const how of ['cancel', 'leave'] as const) {
      const id = await createSession(baseUrl);
      const counted = await breakerCounts();
      stub.reply({ text: Array.from({ length: 50 }, (_, i) => `w${i} `), delayMs: 20 });
      const turn = startTurn(id, { content: 'Tell me a long story', agentType: 'coder' });
      await turn.until((events) => events.filter((e) => e.event === 'token').length >= 3);
      if (how === 'cancel') {
        expect(await cancel(id)).toEqual({ cancelled: true });
        expect(doneOf(await turn.result).status).toBe('cancelled');
      } else {
        await turn.leave();
      }
      await eventually(async () => (await turnRow(id)).status !== 'running', 10_000);
      expect((await turnRow(id)).status).toBe(how === 'cancel' ? 'cancelled' : 'interrupted');
      const rows = await messageRows(id);
      expect(rows.map((m) => [m.role, m.status])).toEqual([
        ['user', 'complete'],
        ['assistant', 'interrupted'],
      ]);
      expect(rows[1].content).toMatch(/^w0 w1 w2 /);
      await eventually(async () => stub.requests.at(-1)!.aborted);
      const now = await breakerCounts();
      expect(now.failures).toBe(counted.failures);
      expect(now.errors).toBe(counted.errors);
      await expectAlive(id);
    }
  });

  it('a client that posts again right after leaving waits for its abandoned turn to close instead of getting session_busy', async () => {
    const id = await createSession(baseUrl);
    stub.reply({ text: Array.from({ length: 50 }, (_, i) => `w${i} `), delayMs: 20 });
    const first = startTurn(id, { content: 'Tell me a long story', agentType: 'coder' });
    await first.until((events) => events.filter((e) => e.event === 'token').length >= 3);
    // The abandoned turn cannot store its partial answer until the lock goes: its close takes a while.
    const held = await lock('LOCK TABLE messages IN EXCLUSIVE MODE');
    await first.leave();
    await waitingOn('messages');
    const starts = async () =>
      metricValue(await (await fetch(`${baseUrl}/metrics`)).text(), 'sse_transaction_commits_total', { operation: 'start_turn' });
    const before = await starts();
    stub.reply({ text: 'Here again.' });
    const second = postStream(`${baseUrl}/v1/sessions/${id}/messages`, { content: 'Sorry, I was gone' });
    // The new request found the session busy and waits; then the abandoned turn may close.
    await eventually(async () => (await starts()) > before);
    await held.release();
    const result = await second;
    expect(result.status).toBe(200);
    expect(doneOf(result).status).toBe('completed');
    const turns = await query(db.url, `SELECT status FROM turns WHERE session_id = $1 ORDER BY started_at`, [id]);
    expect(turns.map((t) => t.status)).toEqual(['interrupted', 'completed']);
    expect((await messageRows(id)).map((m) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'interrupted'],
      ['user', 'complete'],
      ['assistant', 'complete'],
    ]);
    await expectAlive(id);
  });

  it('during the final commits (a cancel, then a client leaving, while the answer waits for a lock): recorded once, the stop wins', async () => {
    for (const how of ['cancel', 'leave'] as const) {
      const id = await createSession(baseUrl);
      const counted = await breakerCounts();
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      stub.reply({ text: 'The whole answer, held back before its end.', pause: { chunks: 2, until: gate } });
      // Through a proxy, so that the test knows the connection's port and can see the service close it.
      const proxy = new TcpProxy(addressOf(baseUrl));
      const turn = startTurn(id, { content: 'Answer me', agentType: 'coder' }, await proxy.start());
      await turn.until((events) => events.filter((e) => e.event === 'token').length >= 2);
      const held = await lock('LOCK TABLE messages IN EXCLUSIVE MODE');
      open();
      await waitingOn('messages');
      let left: Promise<unknown> | undefined;
      if (how === 'cancel') expect(await cancel(id)).toEqual({ cancelled: true });
      else {
        // The client's connection is reset (as when it goes away), and the lock goes only once the
        // service has seen it go: else the commit may win the race.
        left = turn.result.catch(() => undefined); // the read breaks off
        proxy.cut(true);
        await eventually(async () => serverClosed(Number(new URL(baseUrl).port), proxy.upstreamPorts[0]));
      }
      await held.release();
      if (left) await left;
      else expect(doneOf(await turn.result).status).toBe('cancelled');
      await proxy.close();
      await eventually(async () => (await turnRow(id)).status !== 'running', 10_000);
      expect((await turnRow(id)).status).toBe(how === 'cancel' ? 'cancelled' : 'interrupted');
      // The answer had fully arrived: it is stored once, complete.
      expect((await messageRows(id)).map((m) => [m.role, m.status, m.content])).toEqual([
        ['user', 'complete', 'Answer me'],
        ['assistant', 'complete', 'The whole answer, held back before its end.'],
      ]);
      expect((await breakerCounts()).failures).toBe(counted.failures);
      await expectAlive(id);
    }
  });

  it('after the answer was stored, while the end is recorded (a cancel while the last events wait for a lock): too late, completed', async () => {
    const id = await createSession(baseUrl);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    stub.reply({ text: 'The whole answer, stored before the cancel.', pause: { chunks: 2, until: gate } });
    const turn = startTurn(id, { content: 'Answer me', agentType: 'coder' });
    await turn.until((events) => events.filter((e) => e.event === 'token').length >= 2);
    // The events wait, the answer does not: the turn is past its last check for a stop, recording its end.
    const held = await lock('LOCK TABLE turn_events IN EXCLUSIVE MODE');
    open();
    await eventually(async () => (await messageRows(id)).some((m) => m.role === 'assistant' && m.status === 'complete'), 10_000);
    await waitingOn('turn_events');
    // The turn's row is still `running`, so the cancel is accepted; there is nothing left to stop.
    expect(await cancel(id)).toEqual({ cancelled: true });
    await held.release();
    expect(doneOf(await turn.result).status).toBe('completed');
    expect(await turnRow(id)).toEqual({ status: 'completed', error: null });
    expect((await messageRows(id)).map((m) => [m.role, m.status, m.content])).toEqual([
      ['user', 'complete', 'Answer me'],
      ['assistant', 'complete', 'The whole answer, stored before the cancel.'],
    ]);
    // What the soak (bench/soak.ts) tells such a cancel by: requested after the answer's commit began.
    const [row] = await query(
      db.url,
      `SELECT t.cancel_requested_at >= max(m.created_at) AS after_answer FROM turns t
         JOIN messages m ON m.turn_id = t.id AND m.role = 'assistant' AND m.status = 'complete'
        WHERE t.session_id = $1 GROUP BY t.id, t.cancel_requested_at`,
      [id],
    );
    expect(row.after_answer).toBe(true);
    await expectAlive(id);
  });
});
