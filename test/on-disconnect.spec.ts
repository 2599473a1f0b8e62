import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { afterTokens, createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, getStream, postStream } from './support/sse.js';

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);

describe('onDisconnect: what a turn does when its client leaves', () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let env: Record<string, string>;
  let t: TestApp;

  before(async () => {
    db = await createTestDatabase();
    env = { LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false' };
    t = await startApp(env, db);
  });
  after(async () => {
    await t.close();
    await stub.close();
    await dropTestDatabase(db.name);
  });

  const turnStatus = async (sessionId: string) =>
    (await query(db.url, `SELECT status FROM turns WHERE session_id = $1`, [sessionId]))[0]?.status;

  it('continue: the client leaves, the LLM request is not aborted, the answer is stored completed, and a later join replays it', async () => {
    const text = words(40);
    stub.reply({ text, delayMs: 10 });
    const id = await createSession(t.baseUrl);
    const left = await postStream(
      `${t.baseUrl}/v1/sessions/${id}/messages`,
      { content: 'Take your time', onDisconnect: 'continue' },
      { stopWhen: afterTokens(3) },
    );
    const request = stub.requests.at(-1)!;
    const turnId = eventsOf(left, 'turn')[0].data.turnId;
    await eventually(async () => (await turnStatus(id)) !== 'running', 10_000);

    expect(await turnStatus(id)).toBe('completed');
    expect(request.aborted).toBe(false);
    const [answer] = await query(db.url, `SELECT content, status FROM messages WHERE session_id = $1 AND role = 'assistant'`, [id]);
    expect(answer).toEqual({ content: text.join(''), status: 'complete' });

    const joined = await getStream(`${t.baseUrl}/v1/sessions/${id}/turns/${turnId}/stream`);
    expect(joined.events.slice(0, left.events.length)).toEqual(left.events);
    expect(
      eventsOf(joined, 'token')
        .map((e) => e.data.delta)
        .join(''),
    ).toBe(text.join(''));
    expect(doneOf(joined)).toMatchObject({ turnId, status: 'completed' });
  });

  it('cancel, the default: the client leaves, the LLM request is aborted and the text so far is stored as interrupted', async () => {
    stub.reply({ text: words(400), delayMs: 10 });
    const id = await createSession(t.baseUrl);
    const left = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'Go' }, { stopWhen: afterTokens(3) });
    const request = stub.requests.at(-1)!;
    await eventually(async () => (await turnStatus(id)) !== 'running', 10_000);

    expect(await turnStatus(id)).toBe('interrupted');
    await eventually(async () => request.aborted);
    const [answer] = await query(db.url, `SELECT status FROM messages WHERE session_id = $1 AND role = 'assistant'`, [id]);
    expect(answer.status).toBe('interrupted');
    const joined = await getStream(`${t.baseUrl}/v1/sessions/${id}/stream`);
    expect(doneOf(joined)).toMatchObject({ turnId: eventsOf(left, 'turn')[0].data.turnId, status: 'interrupted' });
  });

  it('ON_DISCONNECT=continue makes continue the default, and a request may still ask for cancel', async () => {
    const other = await startApp({ ...env, ON_DISCONNECT: 'continue' }, db);
    try {
      stub.reply({ text: words(30), delayMs: 10 });
      const kept = await createSession(other.baseUrl);
      await postStream(`${other.baseUrl}/v1/sessions/${kept}/messages`, { content: 'Go' }, { stopWhen: afterTokens(2) });
      await eventually(async () => (await turnStatus(kept)) !== 'running', 10_000);
      expect(await turnStatus(kept)).toBe('completed');

      stub.reply({ text: words(400), delayMs: 10 });
      const cancelled = await createSession(other.baseUrl);
      await postStream(
        `${other.baseUrl}/v1/sessions/${cancelled}/messages`,
        { content: 'Go', onDisconnect: 'cancel' },
        { stopWhen: afterTokens(2) },
      );
      await eventually(async () => (await turnStatus(cancelled)) !== 'running', 10_000);
      expect(await turnStatus(cancelled)).toBe('interrupted');
    } finally {
      await other.close();
    }
  });

  it('refuses another value with a 400 that names the field, before any turn', async () => {
    const id = await createSession(t.baseUrl);
    const refused = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'Go', onDisconnect: 'later' });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.json)).toContain('onDisconnect');
    expect(await turnStatus(id)).toBeUndefined();
  });
});
