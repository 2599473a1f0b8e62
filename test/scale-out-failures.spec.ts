import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Cluster, WITHOUT_CLUSTER_PROGRAMS } from './support/cluster.js';
import { createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { metricValue } from './support/metrics.js';
import { doneOf, eventually, postStream, SseEvent } from './support/sse.js';
import { turnToTheEnd } from './support/turn-client.js';

const TURNS = 300;
// Short, for the test's sake, but not so short that a loaded machine lets a live turn's lease lapse.
const LEASE_SECONDS = 6;
const ANSWER = Array.from({ length: 20 }, (_, i) => `w${i} `);
const tokensOf = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === 'token')
    .map((e) => (e.data as { delta: string }).delta)
    .join('');
const statusOf = (events: SseEvent[]) => (events.at(-1)?.event === 'done' ? (events.at(-1)!.data as { status: string }).status : 'none');

/** Text that is the start of the answer (what a client or a partial answer may hold). */
const expectPrefix = (text: string) => expect(text).toBe(ANSWER.join('').slice(0, text.length));

/**
 * Ids within one turn's stream are consecutive: a lost or repeated event shows as a break. The
 * `done` that recovery records for a dead turn takes the last id of the turn's range instead.
 */
function expectConsecutive(events: SseEvent[]): void {
  const recovered = statusOf(events) === 'interrupted' && events.length > 1;
  const ids = events.map((e) => Number(e.id));
  const live = recovered ? ids.slice(0, -1) : ids;
  expect(live).toEqual(live.map((_id, i) => live[0] + i));
  if (recovered) expect(ids.at(-1)).toBeGreaterThan(live.at(-1)!);
}

/**
 * Nothing lost: every message a client was told was stored (its `message` event) is in the table,
 * and a completed turn has its user message and its whole answer. Nothing doubled: at most one user
 * message and one answer per turn. A turn killed before it stored the user's message has none; its
 * client saw no `message` event for it and knows to send it again.
 */
async function expectHistories(
  dbUrl: string,
  turns: Map<string, { content: string; status: string; events: SseEvent[]; storedTokens: string }>,
): Promise<void> {
  const rows = await query<{ id: string; session_id: string; role: string; status: string; content: string }>(
    dbUrl,
    `SELECT id, session_id, role, status, content FROM messages ORDER BY session_id, seq`,
  );
  const bySession = new Map<string, typeof rows>();
  for (const row of rows) bySession.set(row.session_id, [...(bySession.get(row.session_id) ?? []), row]);
  for (const [sessionId, turn] of turns) {
    const history = bySession.get(sessionId) ?? [];
    const told = turn.events.filter((e) => e.event === 'message').map((e) => (e.data as { message: { id: string } }).message.id);
    expect(told.filter((id) => !history.some((m) => m.id === id))).toEqual([]);
    const users = history.filter((m) => m.role === 'user').map((m) => m.content);
    const answers = history.filter((m) => m.role === 'assistant');
    if (turn.status === 'completed') {
      expect(users).toEqual([turn.content]);
      expect(answers.map((m) => [m.status, m.content])).toEqual([['complete', ANSWER.join('')]]);
    } else {
      expect(users.length).toBeLessThanOrEqual(1);
      // The answer it was streaming is kept as far as its events were stored (recovery stores it),
      // or whole, once, when it was stored before the kill (its turn's end was not).
      const kept = answers.map((m) => [m.status, m.content]);
      if (kept[0]?.[0] === 'complete') expect(kept).toEqual([['complete', ANSWER.join('')]]);
      else expect(kept).toEqual(turn.storedTokens ? [['interrupted', turn.storedTokens]] : []);
    }
    // Every token stored reached its client (live, or replayed when it came back).
    expect(tokensOf(turn.events).slice(0, turn.storedTokens.length)).toBe(turn.storedTokens);
    for (const answer of answers) expectPrefix(answer.content);
  }
}

/** Three instances on `databaseUrl` whose LLM answers ANSWER, a token every `delayMs`. */
async function startCluster(stub: OpenAiStub, databaseUrl: string, delayMs: number, env: Record<string, string> = {}): Promise<Cluster> {
  stub.reply({ text: ANSWER, delayMs });
  return Cluster.start({
    databaseUrl,
    env: {
      LLM_BASE_URL: await stub.start(),
      LLM_API_KEY: 'x',
      LLM_MODEL: 'stub',
      MULTI_AGENT_MODE: 'false',
      SESSION_LEASE_SECONDS: String(LEASE_SECONDS),
      RATE_LIMIT_PER_MINUTE: '1000000',
      SHUTDOWN_TIMEOUT_MS: '3000',
      ...env,
    },
  });
}

describe('scale-out under failure: 300 turns through HAProxy', { skip: WITHOUT_CLUSTER_PROGRAMS }, () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let cluster: Cluster;

  before(async () => {
    db = await createTestDatabase();
    cluster = await startCluster(stub, db.url, 60, { SSE_RETRY_MS: '200' });
  });
  after(async () => {
    await cluster?.close();
    await stub.close();
    await dropTestDatabase(db.name);
  });

  it('SIGKILL of one instance: survivors complete, the killed one’s turns end interrupted, sessions free within the lease, nothing lost or doubled', async () => {
    const sessions = await Promise.all(Array.from({ length: TURNS }, () => createSession(cluster.baseUrl)));
    let tokens = 0;
    let killed: Promise<void> | undefined;
    const killAt = (TURNS * ANSWER.length) / 2;
    const turns = sessions.map((id, i) =>
      turnToTheEnd(cluster.baseUrl, id, { content: `question ${i}`, onDisconnect: 'continue' }, randomUUID(), (event) => {
        if (event.event === 'token' && ++tokens === killAt) killed = cluster.kill(1);
      }),
    );
    const results = await Promise.all(turns);
    await killed;
    const killedAt = Date.now();
    const cut = results.filter((r) => r.attempts.length > 1);
    // The kill fell mid-stream: some clients lost their connection, most did not.
    expect({ cut: cut.length > 0 }).toEqual({ cut: true });
    expect(cut.length).toBeLessThan(TURNS);
    // No refusal anywhere: every request the balancer passed on was served (a killed instance's are
    // cut, not refused). On a starved machine HAProxy may briefly see no backend ready and answer its
    // own 503, which the client retries like a cut.
    const refused = results.flatMap((r) => r.attempts.filter((a) => a.status !== 200 && !a.balancer));
    expect(refused.map((a) => `${a.status} ${a.refusal}`)).toEqual([]);
    // Every client got the end of its turn: completed with the whole answer, or interrupted (it ran
    // on the killed instance; HAProxy may also have retried a POST the killed one never answered
    // onto a survivor, which then followed the dead turn to its end).
    for (const result of results) {
      expectConsecutive(result.events);
      expectPrefix(tokensOf(result.events));
      expect(['completed', 'interrupted']).toContain(statusOf(result.events));
      if (statusOf(result.events) === 'completed') expect(tokensOf(result.events)).toBe(ANSWER.join(''));
    }
    const interrupted = results.filter((r) => statusOf(r.events) === 'interrupted').length;
    expect({ interrupted: interrupted > 0 }).toEqual({ interrupted: true });
    // Only the killed instance's share (round robin: a third) can be interrupted; the survivors' turns all complete.
    expect(interrupted).toBeLessThanOrEqual(Math.ceil(TURNS / 3) + 3);

    const turnRows = await query<{ session_id: string; status: string; stored_tokens: string | null }>(
      db.url,
      `SELECT t.session_id, t.status,
              (SELECT string_agg(e.event #>> '{}', '' ORDER BY r.id, e.n) FROM turn_events r,
                      jsonb_array_elements(r.events) WITH ORDINALITY AS e(event, n)
                WHERE r.turn_id = t.id AND jsonb_typeof(e.event) = 'string') AS stored_tokens
       FROM turns t`,
    );
    expect(turnRows.length).toBe(TURNS);
    expect(new Set(turnRows.map((t) => t.session_id)).size).toBe(TURNS);
    expect(turnRows.filter((t) => t.status === 'interrupted').length).toBe(interrupted);
    expect(turnRows.filter((t) => t.status === 'completed').length).toBe(TURNS - interrupted);
    const bySession = new Map(
      turnRows.map((t) => {
        const i = sessions.indexOf(t.session_id);
        return [
          t.session_id,
          { content: `question ${i}`, status: t.status, events: results[i].events, storedTokens: t.stored_tokens ?? '' },
        ];
      }),
    );
    await expectHistories(db.url, bySession);
    // No lease is left live (the dead ones expired within the lease time, before the clients got
    // their `done`), and the sessions of the dead turns take a new turn at once.
    expect(await query(db.url, `SELECT id FROM sessions WHERE active_turn_id IS NOT NULL AND lease_expires_at > now()`)).toEqual([]);
    const dead = turnRows.filter((t) => t.status === 'interrupted').map((t) => t.session_id);
    // Their leases ran out within the lease time of the kill (the last renewal was before it).
    const [{ latest }] = await query(db.url, `SELECT max(lease_expires_at) AS latest FROM sessions WHERE id = ANY($1::uuid[])`, [dead]);
    expect((latest as Date).getTime()).toBeLessThanOrEqual(killedAt + LEASE_SECONDS * 1000);
    stub.reply({ text: 'Back.' });
    for (const id of dead.slice(0, 5)) {
      expect(doneOf(await postStream(`${cluster.baseUrl}/v1/sessions/${id}/messages`, { content: 'Still there?' })).status).toBe(
        'completed',
      );
    }
  });
});

describe('scale-out: a rolling restart under load', { skip: WITHOUT_CLUSTER_PROGRAMS }, () => {
  const USERS = 30;
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let cluster: Cluster;

  before(async () => {
    db = await createTestDatabase();
    cluster = await startCluster(stub, db.url, 40);
  });
  after(async () => {
    await cluster?.close();
    await stub.close();
    await dropTestDatabase(db.name);
  });

  /**
   * Waits until the restarted instance `i` is back in the balancer's rotation before the next one
   * stops: ready itself (restart waits for that), and taking requests sent through HAProxy (a check
   * every 500 ms brings it back). It is new, so any read of a session counted on it came from there.
   */
  async function backInRotation(i: number, sessionId: string): Promise<void> {
    const instance = cluster.instances[i];
    const probed = { method: 'GET', route: '/v1/sessions/:id', status: '200' };
    await eventually(async () => {
      if ((await fetch(`${instance.baseUrl}/health/ready`)).status !== 200) return false;
      for (let n = 0; n < 3; n++) await (await fetch(`${cluster.baseUrl}/v1/sessions/${sessionId}`)).text();
      const metrics = await (await fetch(`${instance.baseUrl}/metrics`)).text();
      return metricValue(metrics, 'http_request_duration_seconds_count', probed) > 0;
    }, 15_000);
  }

  it('SIGTERM one instance at a time while users keep talking: every request served, every turn stored once with what its client saw', async () => {
    const sessions = await Promise.all(Array.from({ length: USERS }, () => createSession(cluster.baseUrl)));
    let restarting = true;
    const users = sessions.map(async (id, u) => {
      const runs: Array<{ content: string; events: SseEvent[]; statuses: number[] }> = [];
      while (restarting || runs.length < 2) {
        const content = `user ${u} turn ${runs.length}`;
        const { attempts, events } = await turnToTheEnd(cluster.baseUrl, id, { content, onDisconnect: 'continue' }, randomUUID());
        runs.push({ content, events, statuses: attempts.map((a) => a.status) });
      }
      return runs;
    });
    const exits = [];
    try {
      // The restarts come under load: once every user's first turn has started (some are running on
      // each instance, for the SIGTERM to interrupt).
      await eventually(async () => (await query(db.url, `SELECT count(*)::int AS n FROM turns`))[0].n >= USERS, 20_000);
      for (const i of [0, 1, 2]) {
        const { code, signal, logs } = await cluster.restart(i);
        exits.push({ code, signal, logs: code === 0 ? '' : logs });
        await backInRotation(i, sessions[0]);
      }
    } finally {
      // The users stop even when a restart throws, or they would talk to a closed cluster for ever.
      restarting = false;
    }
    const runs = (await Promise.all(users)).flat();
    expect(exits).toEqual([0, 1, 2].map(() => ({ code: 0, signal: null, logs: '' })));

    expect(runs.flatMap((r) => r.statuses).filter((s) => s !== 200)).toEqual([]);
    const turnIds = runs.map((r) => (r.events.find((e) => e.event === 'turn')!.data as { turnId: string }).turnId);
    expect(new Set(turnIds).size).toBe(runs.length);
    const rows = await query<{ id: string; status: string }>(db.url, `SELECT id, status FROM turns`);
    expect(rows.length).toBe(runs.length);
    const messages = await query<{ turn_id: string; role: string; status: string; content: string }>(
      db.url,
      `SELECT turn_id, role, status, content FROM messages ORDER BY seq`,
    );
    let interrupted = 0;
    for (const [i, run] of runs.entries()) {
      const status = statusOf(run.events);
      expect(rows.find((t) => t.id === turnIds[i])?.status).toBe(status);
      const stored = messages.filter((m) => m.turn_id === turnIds[i]).map((m) => [m.role, m.status, m.content]);
      if (status === 'completed') {
        expect(stored).toEqual([
          ['user', 'complete', run.content],
          ['assistant', 'complete', ANSWER.join('')],
        ]);
      } else {
        // Stopped by a SIGTERM: the answer so far is stored, exactly what the client was sent (whole
        // when the stop came between storing the answer and ending the turn).
        expect(status).toBe('interrupted');
        interrupted++;
        const sent = tokensOf(run.events);
        expect(stored[0]).toEqual(['user', 'complete', run.content]);
        expect(stored.slice(1).map(([role, , content]) => [role, content])).toEqual(sent ? [['assistant', sent]] : []);
        if (sent !== ANSWER.join('')) expect(stored.slice(1).map(([, answerStatus]) => answerStatus)).not.toContain('complete');
      }
    }
    // Each restart stopped the turns running on it.
    expect({ interrupted: interrupted > 0 }).toEqual({ interrupted: true });
    expect(await query(db.url, `SELECT id FROM sessions WHERE active_turn_id IS NOT NULL`)).toEqual([]);
  });
});
