import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { Cluster, WITHOUT_CLUSTER_PROGRAMS } from './support/cluster.js';
import { afterTokens, api, createSession, streamInBackground } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { metricValue } from './support/metrics.js';
import { OpenAiStub, StubReply } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, getStream, postStream, SseEvent } from './support/sse.js';

const words = (n: number, prefix = 'w') => Array.from({ length: n }, (_, i) => `${prefix}${i} `);
const tokensOf = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === 'token')
    .map((e) => (e.data as { delta: string }).delta)
    .join('');

/**
 * What holds on one instance holds across three real processes sharing one PostgreSQL through
 * PgBouncer in transaction mode: each request here is sent to a chosen instance, so "another
 * instance" is certain and not left to the balancer.
 */
describe('scale-out: three instances, PgBouncer (transaction pooling), HAProxy', { skip: WITHOUT_CLUSTER_PROGRAMS }, () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let cluster: Cluster;
  const at = (i: number) => cluster.instances[i].baseUrl;

  /** The stub's next replies, counted from now (the last one repeats). */
  function next(...replies: StubReply[]): void {
    const base = stub.requests.length;
    stub.respond((_req, index) => replies[Math.min(index - base, replies.length - 1)]);
  }

  /** The stub holds its answer after `chunks` words until the returned function is called. */
  function held(text: string[], chunks: number): () => void {
    let release!: () => void;
    const until = new Promise<void>((resolve) => (release = resolve));
    next({ text, delayMs: 2, pause: { chunks, until } });
    return release;
  }

  before(async () => {
    db = await createTestDatabase();
    const env = { LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false', SSE_RETRY_MS: '200' };
    cluster = await Cluster.start({ databaseUrl: db.url, env });
  });
  after(async () => {
    await cluster?.close();
    await stub.close();
    await dropTestDatabase(db.name);
  });

  it('serves through the balancer: sessions and turns work over PgBouncer, LISTEN goes straight to PostgreSQL', async () => {
    next({ text: 'Hello through the pooler.' });
    const id = await createSession(cluster.baseUrl);
    const result = await postStream(`${cluster.baseUrl}/v1/sessions/${id}/messages`, { content: 'Hi' });
    expect(doneOf(result).status).toBe('completed');
    expect(tokensOf(result.events)).toBe('Hello through the pooler.');
    const listeners = await query(
      db.url,
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'agent-runtime-listen'`,
      [db.name],
    );
    // One direct LISTEN connection per instance that has followed a stream; none through the pooler.
    expect(listeners[0].n).toBeLessThanOrEqual(3);
    const pools = await cluster.pgbouncer.admin('SHOW POOLS');
    expect(pools.find((p) => p.database === db.name)).toMatchObject({ pool_mode: 'transaction' });
  });

  it('reads the database gauges through the pooler: an open transaction of another client shows in every instance', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT 1');
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      for (const i of [0, 1, 2]) {
        const text = await (await fetch(`${at(i)}/metrics`)).text();
        expect(metricValue(text, 'db_oldest_transaction_seconds')).toBeGreaterThanOrEqual(1);
      }
    } finally {
      await client.end();
    }
  });

  it('one turn per session: while a turn streams on one instance, both others answer 409 session_busy', async () => {
    const release = held(words(20), 5);
    const id = await createSession(at(0));
    const first = streamInBackground(`${at(0)}/v1/sessions/${id}/messages`, { content: 'Count' }, afterTokens(5));
    await first.reached;
    for (const i of [1, 2]) {
      const refused = await postStream(`${at(i)}/v1/sessions/${id}/messages`, { content: 'Me too' });
      expect(refused.status).toBe(409);
      expect(refused.json).toMatchObject({ code: 'session_busy' });
    }
    release();
    expect(doneOf(await first.result).status).toBe('completed');
    expect(await query(db.url, `SELECT status FROM turns WHERE session_id = $1`, [id])).toEqual([{ status: 'completed' }]);
    const messages = await query(db.url, `SELECT role, content FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
    expect(messages).toEqual([
      { role: 'user', content: 'Count' },
      { role: 'assistant', content: words(20).join('') },
    ]);
  });

  it('cancel from another instance stops the turn where it runs, keeping its partial answer', async () => {
    const release = held(words(20), 5);
    const id = await createSession(at(0));
    const first = streamInBackground(`${at(0)}/v1/sessions/${id}/messages`, { content: 'Count' }, afterTokens(5));
    await first.reached;
    const cancel = await api(at(1), 'POST', `/v1/sessions/${id}/cancel`);
    expect(cancel.status).toBe(202);
    const result = await first.result;
    release();
    expect(doneOf(result).status).toBe('cancelled');
    expect(await query(db.url, `SELECT status FROM turns WHERE session_id = $1`, [id])).toEqual([{ status: 'cancelled' }]);
    const [answer] = await query(db.url, `SELECT status, content FROM messages WHERE session_id = $1 AND role = 'assistant'`, [id]);
    expect(answer).toEqual({ status: 'interrupted', content: words(5).join('') });
    // The session is free again, from any instance.
    next({ text: 'Again.' });
    expect(doneOf(await postStream(`${at(2)}/v1/sessions/${id}/messages`, { content: 'Again' })).status).toBe('completed');
  });

  it('a client resumes on another instance with Last-Event-ID, and a third joins live: both get the end, nothing twice', async () => {
    const text = words(30);
    const release = held(text, 12);
    const id = await createSession(at(0));
    const first = await postStream(
      `${at(0)}/v1/sessions/${id}/messages`,
      { content: 'Count', onDisconnect: 'continue' },
      { stopWhen: afterTokens(5) },
    );
    const lastSeen = first.events.at(-1)!.id!;
    const resumed = getStream(`${at(1)}/v1/sessions/${id}/stream`, { headers: { 'Last-Event-ID': lastSeen } });
    const joined = getStream(`${at(2)}/v1/sessions/${id}/stream`);
    // Both are following before the LLM goes on: the rest reaches them live, through LISTEN.
    await eventually(async () => {
      const [row] = await query(db.url, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'`, [
        db.name,
      ]);
      return row.n >= 2;
    }, 10_000);
    release();
    const [r, j] = await Promise.all([resumed, joined]);
    expect(Number(r.events[0].id)).toBe(Number(lastSeen) + 1);
    expect(tokensOf(first.events) + tokensOf(r.events)).toBe(text.join(''));
    expect(tokensOf(j.events)).toBe(text.join(''));
    expect(doneOf(r).status).toBe('completed');
    expect(doneOf(j).status).toBe('completed');
    const ids = [...first.events, ...r.events].map((e) => Number(e.id));
    expect(ids).toEqual(ids.map((_id, i) => ids[0] + i));
    expect(await query(db.url, `SELECT role FROM messages WHERE session_id = $1 ORDER BY seq`, [id])).toEqual([
      { role: 'user' },
      { role: 'assistant' },
    ]);
  });

  it('an approval asked on one instance is decided on another, and the turn goes on there', async () => {
    const write = { id: 'call_write', name: 'write_file', arguments: { path: 'notes/plan.txt', content: 'draft' } };
    next({ text: 'On it.', toolCalls: [write] });
    const id = await createSession(at(0));
    const asked = await postStream(`${at(0)}/v1/sessions/${id}/messages`, { content: 'Write the plan' });
    expect(doneOf(asked).status).toBe('awaiting_approval');
    const { approvalId } = eventsOf(asked, 'approval_required')[0].data;
    const decided = await postStream(`${at(1)}/v1/sessions/${id}/approvals/${approvalId}`, { decision: 'approve' });
    expect(decided.status).toBe(200);
    expect(eventsOf(decided, 'tool_call').map((e) => e.data.toolCallId)).toEqual(['call_write']);
    expect(doneOf(decided).status).toBe('awaiting_tool_result');
    const again = await postStream(`${at(2)}/v1/sessions/${id}/approvals/${approvalId}`, { decision: 'reject' });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ code: 'approval_decided' });
    expect(await query(db.url, `SELECT status FROM approvals WHERE id = $1`, [approvalId])).toEqual([{ status: 'approved' }]);
    next({ text: 'Written.' });
    const done = await postStream(`${at(2)}/v1/sessions/${id}/tool-results`, { toolCallId: 'call_write', output: 'ok' });
    expect(doneOf(done).status).toBe('completed');
  });

  it('the same Idempotency-Key sent to all three instances at once starts one turn; each gets its stream', async () => {
    next({ text: words(10), delayMs: 5 });
    const id = await createSession(at(0));
    const headers = { 'Idempotency-Key': randomUUID() };
    const results = await Promise.all(
      [0, 1, 2].map((i) => postStream(`${at(i)}/v1/sessions/${id}/messages`, { content: 'Say it once' }, { headers })),
    );
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(doneOf(result).status).toBe('completed');
      expect(tokensOf(result.events)).toBe(words(10).join(''));
    }
    expect(await query(db.url, `SELECT status FROM turns WHERE session_id = $1`, [id])).toEqual([{ status: 'completed' }]);
    expect((await query(db.url, `SELECT role FROM messages WHERE session_id = $1 ORDER BY seq`, [id])).map((m) => m.role)).toEqual([
      'user',
      'assistant',
    ]);
    // A retry later, on yet another instance, replays the stored stream and starts nothing.
    const calls = stub.requests.length;
    const later = await postStream(`${at(2)}/v1/sessions/${id}/messages`, { content: 'Say it once' }, { headers });
    expect(later.events.map((e) => e.id)).toEqual(results[0].events.map((e) => e.id));
    expect(stub.requests.length).toBe(calls);
  });
});

describe('scale-out: one rate-limit budget per key across the instances', { skip: WITHOUT_CLUSTER_PROGRAMS }, () => {
  const LIMIT = 9;
  const KEY = 'alice-7d1e0c2b3a4f5e6d7c8b9a0f1e2d3c4b';
  let db: { name: string; url: string };
  let cluster: Cluster;

  before(async () => {
    db = await createTestDatabase();
    cluster = await Cluster.start({
      databaseUrl: db.url,
      env: { API_KEYS: `${KEY}:alice`, RATE_LIMIT_PER_MINUTE: String(LIMIT), LLM_BASE_URL: 'http://127.0.0.1:9/v1', LLM_API_KEY: 'x' },
    });
  });
  after(async () => {
    await cluster?.close();
    await dropTestDatabase(db.name);
  });

  const get = (baseUrl: string) => fetch(`${baseUrl}/v1/agents`, { headers: { Authorization: `Bearer ${KEY}` } });

  it('spends one budget whichever instance serves: the request after the limit is 429 on all three and through the balancer', async () => {
    const remaining: string[] = [];
    for (let i = 0; i < LIMIT; i++) {
      const res = await get(cluster.instances[i % 3].baseUrl);
      expect(res.status).toBe(200);
      remaining.push(res.headers.get('x-ratelimit-remaining')!);
    }
    expect(remaining).toEqual(Array.from({ length: LIMIT }, (_, i) => String(LIMIT - 1 - i)));
    for (const baseUrl of [cluster.baseUrl, ...cluster.instances.map((i) => i.baseUrl)]) {
      const res = await get(baseUrl);
      expect(res.status).toBe(429);
      expect(((await res.json()) as { code: string }).code).toBe('rate_limited');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // One row for the key, counted once per request up to the first one over; blocked ones count nothing.
    const rows = await query(db.url, `SELECT hits, blocked_until > now() AS blocked FROM rate_limit_hits`);
    expect(rows).toEqual([{ hits: LIMIT + 1, blocked: true }]);
  });

  it('counts concurrent requests exactly: of 3 × LIMIT at once over the instances, LIMIT pass', async () => {
    await query(db.url, `DELETE FROM rate_limit_hits`);
    const statuses = await Promise.all(
      Array.from({ length: 3 * LIMIT }, (_, i) => get(cluster.instances[i % 3].baseUrl).then((res) => res.status)),
    );
    expect(statuses.filter((s) => s === 200).length).toBe(LIMIT);
    expect(statuses.filter((s) => s === 429).length).toBe(2 * LIMIT);
  });
});
