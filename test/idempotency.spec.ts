import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { IdempotencyKeys } from '../src/idempotency/idempotency-keys.js';
import { startApp, TestApp } from './support/app.js';
import { createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, postStream, StreamResult } from './support/sse.js';

const strip = (result: StreamResult) => result.events.map(({ id, event, data }) => ({ id, event, data }));

async function createWithKey(baseUrl: string, key: string, body: unknown = {}) {
  const res = await fetch(`${baseUrl}/v1/sessions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
    body: JSON.stringify(body),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: (await res.json()) as any };
}

describe('Idempotency-Key', () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let t: TestApp;

  before(async () => {
    db = await createTestDatabase();
    t = await startApp({ LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false' }, db);
  });
  after(async () => {
    await t.close();
    await stub.close();
    await dropTestDatabase(db.name);
  });

  const counts = async (sessionId: string) => {
    const [row] = await query(
      db.url,
      `SELECT (SELECT count(*)::int FROM turns WHERE session_id = $1) AS turns,
              (SELECT count(*)::int FROM messages WHERE session_id = $1 AND role = 'user') AS users,
              (SELECT count(*)::int FROM messages WHERE session_id = $1 AND role = 'tool') AS tools`,
      [sessionId],
    );
    return row;
  };

  it('the same key twice starts one turn: the repeat answers the first turn’s stream, event for event, or what follows its Last-Event-ID', async () => {
    stub.reply({ text: 'Only once, please.' });
    const id = await createSession(t.baseUrl);
    const url = `${t.baseUrl}/v1/sessions/${id}/messages`;
    const headers = { 'Idempotency-Key': randomUUID() };
    const calls = stub.requests.length;
    const first = await postStream(url, { content: 'Say it once' }, { headers });
    const repeat = await postStream(url, { content: 'Say it once' }, { headers });
    expect(repeat.status).toBe(200);
    expect(strip(repeat)).toEqual(strip(first));
    const after = await postStream(url, { content: 'Say it once' }, { headers: { ...headers, 'Last-Event-ID': first.events[1].id! } });
    expect(strip(after)).toEqual(strip(first).slice(2));
    const end = await postStream(url, { content: 'Say it once' }, { headers: { ...headers, 'Last-Event-ID': first.events.at(-1)!.id! } });
    expect(end.status).toBe(204);
    expect(stub.requests.length).toBe(calls + 1);
    expect(await counts(id)).toEqual({ turns: 1, users: 1, tools: 0 });
  });

  it('concurrent requests with one key start exactly one turn, and each gets its whole stream', async () => {
    stub.reply({ text: Array.from({ length: 20 }, (_, i) => `w${i} `), delayMs: 10 });
    const id = await createSession(t.baseUrl);
    const headers = { 'Idempotency-Key': randomUUID() };
    const results = await Promise.all(
      Array.from({ length: 6 }, () => postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'All at once' }, { headers })),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    const turnIds = new Set(results.map((r) => doneOf(r).turnId));
    expect(turnIds.size).toBe(1);
    for (const result of results) expect(strip(result)).toEqual(strip(results[0]));
    expect(eventsOf(results[0], 'token').length).toBe(20);
    expect(await counts(id)).toEqual({ turns: 1, users: 1, tools: 0 });
  });

  it('refuses the key with another body or on another session (422), and a malformed key (400), before anything is stored', async () => {
    stub.reply({ text: 'Fine.' });
    const id = await createSession(t.baseUrl);
    const other = await createSession(t.baseUrl);
    const headers = { 'Idempotency-Key': randomUUID() };
    await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'one thing' }, { headers });
    for (const [url, body] of [
      [`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'another thing' }],
      [`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'one thing', onDisconnect: 'continue' }],
      [`${t.baseUrl}/v1/sessions/${other}/messages`, { content: 'one thing' }],
    ] as const) {
      const refused = await postStream(url, body, { headers });
      expect({ status: refused.status, code: refused.json?.code }).toEqual({ status: 422, code: 'idempotency_key_reused' });
    }
    for (const key of ['', 'has space', 'x'.repeat(256), 'é']) {
      const refused = await postStream(
        `${t.baseUrl}/v1/sessions/${id}/messages`,
        { content: 'x' },
        { headers: { 'Idempotency-Key': key } },
      );
      expect({ key, status: refused.status, code: refused.json?.code }).toEqual({ key, status: 400, code: 'bad_idempotency_key' });
    }
    expect(await counts(id)).toEqual({ turns: 1, users: 1, tools: 0 });
    expect(await counts(other)).toEqual({ turns: 0, users: 0, tools: 0 });
  });

  it('a repeated tool result stores nothing again and answers the first one’s stream', async () => {
    stub.respond((request) =>
      request.body.messages.at(-1)?.role === 'tool'
        ? { text: 'Read it.' }
        : { toolCalls: [{ id: 'call_r', name: 'read_file', arguments: { path: 'README.md' } }] },
    );
    const id = await createSession(t.baseUrl);
    const asked = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'read the readme' });
    expect(doneOf(asked).status).toBe('awaiting_tool_result');
    const headers = { 'Idempotency-Key': randomUUID() };
    const result = { toolCallId: 'call_r', output: '# hello' };
    const first = await postStream(`${t.baseUrl}/v1/sessions/${id}/tool-results`, result, { headers });
    const repeat = await postStream(`${t.baseUrl}/v1/sessions/${id}/tool-results`, result, { headers });
    expect(doneOf(first).status).toBe('completed');
    expect(strip(repeat)).toEqual(strip(first));
    expect(await counts(id)).toEqual({ turns: 2, users: 1, tools: 1 });
    // Without the key, the same result is the conflict it always was.
    expect((await postStream(`${t.baseUrl}/v1/sessions/${id}/tool-results`, result)).json?.code).toBe('tool_result_exists');
  });

  it('POST /v1/sessions: a repeat answers the same session, concurrent ones too; another body is a 422', async () => {
    const key = randomUUID();
    const first = await createWithKey(t.baseUrl, key, { title: 'Kept once' });
    const again = await createWithKey(t.baseUrl, key, { title: 'Kept once' });
    expect(first).toMatchObject({ status: 201, replayed: null });
    expect(again).toMatchObject({ status: 201, replayed: 'true', body: { id: first.body.id, title: 'Kept once' } });
    expect((await createWithKey(t.baseUrl, key, { title: 'Another' })).body.code).toBe('idempotency_key_reused');

    const together = randomUUID();
    const all = await Promise.all(Array.from({ length: 6 }, () => createWithKey(t.baseUrl, together, { title: 'Raced' })));
    expect(new Set(all.map((r) => r.body.id)).size).toBe(1);
    const [row] = await query(db.url, `SELECT count(*)::int AS n FROM sessions WHERE title = 'Raced'`);
    expect(row.n).toBe(1);
  });

  it('holds for 24 hours: an older key starts anew, and the sweep deletes it', async () => {
    stub.reply({ text: 'Again.' });
    const id = await createSession(t.baseUrl);
    const key = randomUUID();
    const url = `${t.baseUrl}/v1/sessions/${id}/messages`;
    await postStream(url, { content: 'Daily' }, { headers: { 'Idempotency-Key': key } });
    await query(db.url, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1`, [key]);
    await postStream(url, { content: 'Daily' }, { headers: { 'Idempotency-Key': key } });
    expect(await counts(id)).toEqual({ turns: 2, users: 2, tools: 0 });
    await query(db.url, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1`, [key]);
    expect(await t.app.get(IdempotencyKeys).sweep()).toBeGreaterThanOrEqual(1);
    expect(await query(db.url, `SELECT 1 FROM idempotency_keys WHERE key = $1`, [key])).toEqual([]);
  });
});
