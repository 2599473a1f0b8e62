import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { universalAgent } from '../src/agents/definitions/universal.js';
import { estimateTokens } from '../src/turns/llm-context.js';
import { startApp, TestApp } from './support/app.js';
import { afterTokens, api, createSession, streamInBackground } from './support/conversation.js';
import { query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, postStream } from './support/sse.js';

const SESSION_KEYS = ['createdAt', 'currentAgent', 'id', 'lastActivityAt', 'messageCount', 'status', 'title', 'updatedAt'];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('conversations: sessions, history, stream format, limits', () => {
  const stub = new OpenAiStub();
  let t: TestApp;

  before(async () => {
    t = await startApp({ LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false' });
  });
  after(async () => {
    await t.close();
    await stub.close();
  });

  const turn = (id: string, content: string) => postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content });

  describe('sessions', () => {
    it('creates a session: 201 with exactly the Session fields of the design', async () => {
      const res = await api(t.baseUrl, 'POST', '/v1/sessions', { title: '  Parser work  ' });
      expect(res.status).toBe(201);
      expect(res.contentType).toMatch(/^application\/json/);
      expect(Object.keys(res.body).sort()).toEqual(SESSION_KEYS);
      expect(res.body).toEqual({
        id: expect.stringMatching(UUID),
        title: 'Parser work',
        currentAgent: 'universal',
        status: 'idle',
        messageCount: 0,
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        lastActivityAt: expect.stringMatching(ISO),
      });
      const got = await api(t.baseUrl, 'GET', `/v1/sessions/${res.body.id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(res.body);
    });

    it('refuses an agent this instance does not offer, naming agentType', async () => {
      const res = await api(t.baseUrl, 'POST', '/v1/sessions', { agentType: 'coder' });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain('agentType');
    });

    it('renames with PATCH {title}', async () => {
      const id = await createSession(t.baseUrl);
      const res = await api(t.baseUrl, 'PATCH', `/v1/sessions/${id}`, { title: 'Renamed' });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(SESSION_KEYS);
      expect(res.body.title).toBe('Renamed');
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body.title).toBe('Renamed');
      for (const bad of [{}, { title: '' }, { title: '   ' }, { title: 42 }, { title: 'x'.repeat(201) }]) {
        const refused = await api(t.baseUrl, 'PATCH', `/v1/sessions/${id}`, bad);
        expect(refused.status).toBe(400);
        expect(JSON.stringify(refused.body.message)).toContain('title');
      }
    });

    it('deletes softly: 204, then 404 on every route of that session', async () => {
      stub.reply({ text: 'Hello there.' });
      const id = await createSession(t.baseUrl);
      expect(doneOf(await turn(id, 'Hi')).status).toBe('completed');
      const removed = await fetch(`${t.baseUrl}/v1/sessions/${id}`, { method: 'DELETE' });
      expect(removed.status).toBe(204);
      expect(await removed.text()).toBe('');

      const answers = await Promise.all([
        api(t.baseUrl, 'GET', `/v1/sessions/${id}`),
        api(t.baseUrl, 'PATCH', `/v1/sessions/${id}`, { title: 'again' }),
        api(t.baseUrl, 'DELETE', `/v1/sessions/${id}`),
        api(t.baseUrl, 'GET', `/v1/sessions/${id}/messages`),
        api(t.baseUrl, 'POST', `/v1/sessions/${id}/messages`, { content: 'still there?' }),
        api(t.baseUrl, 'POST', `/v1/sessions/${id}/cancel`),
        api(t.baseUrl, 'GET', `/v1/sessions/${id}/agent`),
        api(t.baseUrl, 'GET', `/v1/sessions/${id}/approvals`),
        api(t.baseUrl, 'POST', `/v1/sessions/${id}/tool-results`, { toolCallId: 'call_1', output: 'x' }),
      ]);
      for (const answer of answers) {
        expect(answer.status).toBe(404);
        expect(answer.contentType).toMatch(/^application\/json/);
      }
      const list = await api(t.baseUrl, 'GET', '/v1/sessions?limit=100');
      expect(list.body.items.map((s: { id: string }) => s.id)).not.toContain(id);
      // Soft: the rows are still there.
      const [row] = await query(t.databaseUrl, `SELECT deleted_at, message_count FROM sessions WHERE id = $1`, [id]);
      expect(row.deleted_at).toBeInstanceOf(Date);
      expect(row.message_count).toBe(2);
    });

    it('counts messages and shows busy during a turn, idle after', async () => {
      stub.reply({ text: 'one two three four five six seven eight nine ten', delayMs: 60 });
      const id = await createSession(t.baseUrl);
      const running = streamInBackground(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'count' }, afterTokens(2));
      await running.reached;
      const during = await api(t.baseUrl, 'GET', `/v1/sessions/${id}`);
      expect(during.body.status).toBe('busy');
      expect(during.body.messageCount).toBe(1);
      const listed = (await api(t.baseUrl, 'GET', '/v1/sessions?limit=100')).body.items.find((s: { id: string }) => s.id === id);
      expect(listed.status).toBe('busy');
      expect(doneOf(await running.result).status).toBe('completed');
      const afterwards = await api(t.baseUrl, 'GET', `/v1/sessions/${id}`);
      expect(afterwards.body).toMatchObject({ status: 'idle', messageCount: 2 });
      expect(Date.parse(afterwards.body.lastActivityAt)).toBeGreaterThan(Date.parse(during.body.createdAt));
    });

    it('takes the title from the first user message when none was given: one line, trimmed, at most 80 characters', async () => {
      stub.reply({ text: 'Sure.' });
      const short = await createSession(t.baseUrl);
      await turn(short, '   Fix the\n  failing   build  ');
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${short}`)).body.title).toBe('Fix the failing build');
      await turn(short, 'A second message does not rename the session');
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${short}`)).body.title).toBe('Fix the failing build');

      const long = await createSession(t.baseUrl);
      const content = `${'Please refactor the tokenizer so that '.repeat(10)}it handles unicode.`;
      await turn(long, content);
      const title: string = (await api(t.baseUrl, 'GET', `/v1/sessions/${long}`)).body.title;
      expect(title.length).toBeLessThanOrEqual(80);
      expect(title.length).toBeGreaterThan(60);
      expect(content.startsWith(title.replace(/…$/, ''))).toBe(true);

      const named = await createSession(t.baseUrl, { title: 'Given title' });
      await turn(named, 'Something else entirely');
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${named}`)).body.title).toBe('Given title');
    });

    it('lists newest activity first with keyset pagination: no duplicates or gaps while sessions are created between pages', async () => {
      for (let i = 0; i < 12; i++) await createSession(t.baseUrl, { title: `listed ${i}` });
      const before = (await query(t.databaseUrl, `SELECT id FROM sessions WHERE deleted_at IS NULL`)).map((r) => r.id as string);
      const seen: Array<{ id: string; lastActivityAt: string }> = [];
      const createdMeanwhile: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const path: string = `/v1/sessions?limit=5${cursor ? `&cursor=${cursor}` : ''}`;
        // New sessions land while the page is read and before the next one is asked for.
        const [page, ...created] = await Promise.all([api(t.baseUrl, 'GET', path), createSession(t.baseUrl), createSession(t.baseUrl)]);
        createdMeanwhile.push(...created);
        expect(page.status).toBe(200);
        expect(Object.keys(page.body).sort()).toEqual(['items', 'nextCursor']);
        expect(page.body.items.length).toBeLessThanOrEqual(5);
        for (const item of page.body.items) expect(Object.keys(item).sort()).toEqual(SESSION_KEYS);
        seen.push(...page.body.items);
        cursor = page.body.nextCursor;
        pages++;
      } while (cursor);

      const ids = seen.map((s) => s.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(expect.arrayContaining(before));
      // Anything beyond the sessions that existed at the start can only be ones created during the walk.
      for (const id of ids.filter((x) => !before.includes(x))) expect(createdMeanwhile).toContain(id);
      expect(pages).toBeGreaterThanOrEqual(Math.ceil(before.length / 5));
      const times = seen.map((s) => Date.parse(s.lastActivityAt));
      expect(times).toEqual([...times].sort((a, b) => b - a));

      // A session with new activity moves to the front.
      stub.reply({ text: 'ok' });
      const last = (await api(t.baseUrl, 'GET', '/v1/sessions?limit=100')).body.items.map((s: { id: string }) => s.id);
      const bottom = last[last.length - 1];
      await turn(bottom, 'wake up');
      expect((await api(t.baseUrl, 'GET', '/v1/sessions?limit=1')).body.items[0].id).toBe(bottom);
    });

    it('refuses bad list parameters with 400 naming them', async () => {
      for (const [q, field] of [
        ['limit=0', 'limit'],
        ['limit=101', 'limit'],
        ['limit=abc', 'limit'],
        ['cursor=%27%3B%20DROP%20TABLE%20sessions%3B--', 'cursor'],
        ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
        ['sort=title', 'sort'],
      ]) {
        const res = await api(t.baseUrl, 'GET', `/v1/sessions?${q}`);
        expect({ q, status: res.status }).toEqual({ q, status: 400 });
        expect(JSON.stringify(res.body.message)).toContain(field);
      }
    });

    it('refuses a forged cursor with 400, never 500', async () => {
      const forged = [
        `1|${randomUUID()}`,
        `2024-01-01 00:00:00+00|------------------------------------`,
        `2024-13-45 99:99:99+00|${randomUUID()}`,
        `Jan 1 2024|${randomUUID()}`,
        `2024-02-30 00:00:00+00|${randomUUID()}`,
        `2024-01-01 00:00:00+99|${randomUUID()}`,
        `2024-01-01 00:00:00.1234567+00|${randomUUID()}`,
      ];
      for (const text of forged) {
        const res = await api(t.baseUrl, 'GET', `/v1/sessions?cursor=${Buffer.from(text).toString('base64url')}`);
        expect({ text, status: res.status }).toEqual({ text, status: 400 });
      }
    });
  });

  describe('history', () => {
    it('lists messages in conversation order with limit/after pagination', async () => {
      const id = await createSession(t.baseUrl);
      const dones = [];
      for (let i = 1; i <= 3; i++) {
        stub.reply({ text: `Answer ${i}.`, usage: { prompt: 10 * i, completion: i } });
        dones.push(doneOf(await turn(id, `Question ${i}`)));
      }
      expect(dones.map((d) => d.status)).toEqual(['completed', 'completed', 'completed']);
      const all = await api(t.baseUrl, 'GET', `/v1/sessions/${id}/messages`);
      expect(all.status).toBe(200);
      expect(all.body.nextCursor).toBeNull();
      expect(all.body.items.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
        ['user', 'Question 1'],
        ['assistant', 'Answer 1.'],
        ['user', 'Question 2'],
        ['assistant', 'Answer 2.'],
        ['user', 'Question 3'],
        ['assistant', 'Answer 3.'],
      ]);
      expect(all.body.items[1]).toEqual({
        id: expect.stringMatching(UUID),
        role: 'assistant',
        content: 'Answer 1.',
        agent: 'universal',
        status: 'complete',
        createdAt: expect.stringMatching(ISO),
        // Each message names its turn's end as that turn's `done` told it.
        turn: { id: dones[0].turnId, status: 'completed', usage: { promptTokens: 10, completionTokens: 1, totalTokens: 11 } },
      });
      expect(all.body.items.map((m: { turn: unknown }) => m.turn)).toEqual(
        dones.flatMap((d) => [d, d]).map((d) => ({ id: d.turnId, status: d.status, usage: d.usage })),
      );

      const first = await api(t.baseUrl, 'GET', `/v1/sessions/${id}/messages?limit=4`);
      expect(first.body.items).toEqual(all.body.items.slice(0, 4));
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await api(t.baseUrl, 'GET', `/v1/sessions/${id}/messages?limit=4&after=${first.body.nextCursor}`);
      expect(second.body.items).toEqual(all.body.items.slice(4));
      expect(second.body.nextCursor).toBeNull();

      const paged: unknown[] = [];
      let after = '';
      do {
        const page = await api(t.baseUrl, 'GET', `/v1/sessions/${id}/messages?limit=1${after ? `&after=${after}` : ''}`);
        paged.push(...page.body.items);
        after = page.body.nextCursor ?? '';
      } while (after);
      expect(paged).toEqual(all.body.items);
    });

    it('sends the LLM the system prompt first, the earlier exchange, and the new user message last', async () => {
      const id = await createSession(t.baseUrl);
      stub.reply({ text: 'Paris is the capital of France.' });
      await turn(id, 'What is the capital of France?');
      const before = stub.agentRequests.length;
      stub.reply({ text: 'About 2.1 million.' });
      await turn(id, 'And its population?');
      expect(stub.agentRequests.length).toBe(before + 1);
      const sent = stub.agentRequests[before].body;
      expect(sent.model).toBe('stub');
      expect(sent.stream).toBe(true);
      expect(sent.messages).toEqual([
        { role: 'system', content: universalAgent.systemPrompt },
        { role: 'user', content: 'What is the capital of France?' },
        { role: 'assistant', content: 'Paris is the capital of France.' },
        { role: 'user', content: 'And its population?' },
      ]);
      expect(sent.tools?.map((tool) => tool.function.name)).toEqual(expect.arrayContaining(['read_file', 'write_file']));
    });

    it('refuses bad history parameters with 400 naming them, never 500', async () => {
      const id = await createSession(t.baseUrl);
      for (const [q, field] of [
        ['limit=0', 'limit'],
        ['limit=501', 'limit'],
        ['after=abc', 'after'],
        ['after=-1', 'after'],
        ['after=1%20OR%201%3D1', 'after'],
        ['after=99999999999999999999999', 'after'],
        ['after=9999999999999999999', 'after'],
      ]) {
        const res = await api(t.baseUrl, 'GET', `/v1/sessions/${id}/messages?${q}`);
        expect({ q, status: res.status }).toEqual({ q, status: 400 });
        expect(JSON.stringify(res.body.message)).toContain(field);
      }
    });
  });

  describe('the stream', () => {
    it('answers text/event-stream with unbuffered headers and an increasing id on every event', async () => {
      stub.reply({ text: 'Streaming works well today.' });
      const id = await createSession(t.baseUrl);
      const result = await turn(id, 'Stream please');
      expect(result.status).toBe(200);
      expect(result.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const cacheControl = result.headers.get('cache-control') ?? '';
      expect(cacheControl).toContain('no-cache');
      expect(cacheControl).toContain('no-transform');
      expect(result.headers.get('x-accel-buffering')).toBe('no');

      expect(result.events.length).toBeGreaterThan(4);
      // Consecutive within the turn, and the session's next turn goes on above them.
      const ids = result.events.map((e) => Number(e.id));
      expect(ids).toEqual(result.events.map((_e, i) => ids[0] + i));
      stub.reply({ text: 'Again.' });
      const next = (await turn(id, 'Once more')).events.map((e) => Number(e.id));
      expect(next[0]).toBeGreaterThan(ids.at(-1)!);
      expect(result.events[0]).toMatchObject({
        event: 'turn',
        data: { turnId: expect.stringMatching(UUID), sessionId: id, agent: 'universal' },
      });
      expect(result.events[result.events.length - 1].event).toBe('done');
      expect(doneOf(result).turnId).toBe(eventsOf(result, 'turn')[0].data.turnId);
      expect(
        eventsOf(result, 'token')
          .map((e) => e.data.delta)
          .join(''),
      ).toBe('Streaming works well today.');
      expect(eventsOf(result, 'message').map((e) => e.data.message.role)).toEqual(['user', 'assistant']);
    });

    it('refuses an unknown session with 404 JSON and bad input with 400 JSON, before any stream', async () => {
      const requestsBefore = stub.requests.length;
      const unknown = await postStream(`${t.baseUrl}/v1/sessions/${randomUUID()}/messages`, { content: 'hello?' });
      expect(unknown.status).toBe(404);
      expect(unknown.headers.get('content-type')).toMatch(/^application\/json/);
      expect(unknown.json).toMatchObject({ statusCode: 404, code: 'session_not_found' });

      const id = await createSession(t.baseUrl);
      for (const [body, field] of [
        [{}, 'content'],
        [{ content: '' }, 'content'],
        [{ content: ' \n\t ' }, 'content'],
        [{ content: 42 }, 'content'],
        [{ content: ['a'] }, 'content'],
        [{ content: 'hi', agentType: 'nobody' }, 'agentType'],
        [{ content: 'hi', role: 'system' }, 'role'],
      ] as const) {
        const res = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(JSON.stringify(res.json.message)).toContain(field);
      }
      const malformed = await api(t.baseUrl, 'POST', `/v1/sessions/${id}/messages`, '{"content": "unterminated');
      expect(malformed.status).toBe(400);
      expect(malformed.contentType).toMatch(/^application\/json/);
      // Nothing was half-written and the LLM was never asked.
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body).toMatchObject({ messageCount: 0, status: 'idle', title: null });
      expect(await query(t.databaseUrl, `SELECT id FROM turns WHERE session_id = $1`, [id])).toEqual([]);
      expect(stub.requests.length).toBe(requestsBefore);
    });
  });

  describe('limits', () => {
    it('accepts content of 100,000 characters and refuses 100,001 with 400 naming content', async () => {
      stub.reply({ text: 'That is long.' });
      const id = await createSession(t.baseUrl);
      const tooLong = await api(t.baseUrl, 'POST', `/v1/sessions/${id}/messages`, { content: 'a'.repeat(100_001) });
      expect(tooLong.status).toBe(400);
      expect(JSON.stringify(tooLong.body.message)).toMatch(/content.*100000/);
      const justRight = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'a'.repeat(100_000) });
      expect(doneOf(justRight).status).toBe('completed');
      const [row] = await query(t.databaseUrl, `SELECT length(content) AS n FROM messages WHERE session_id = $1 AND role = 'user'`, [id]);
      expect(row.n).toBe(100_000);
    });

    it('refuses a JSON body over 1 MB with 413', async () => {
      const id = await createSession(t.baseUrl);
      const res = await api(t.baseUrl, 'POST', `/v1/sessions/${id}/messages`, { content: 'a'.repeat(1_100_000) });
      expect(res.status).toBe(413);
      expect(res.contentType).toMatch(/^application\/json/);
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js:\d+/);
      const session = await api(t.baseUrl, 'POST', '/v1/sessions', { title: 'b'.repeat(1_100_000) });
      expect(session.status).toBe(413);
    });

    it('refuses bodies of the wrong shape with 400, never 500', async () => {
      const id = await createSession(t.baseUrl);
      for (const body of [
        '[]',
        '[{"content":"x"}]',
        'null',
        '"just a string"',
        '42',
        '{"content":null}',
        '{"content":{"text":"x"}}',
        '{"content":"nul \\u0000 byte"}',
      ]) {
        const res = await api(t.baseUrl, 'POST', `/v1/sessions/${id}/messages`, body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(res.contentType).toMatch(/^application\/json/);
      }
      for (const body of ['[]', 'null', '{"title":["x"]}', '{"agentType":null,"title":{}}']) {
        const res = await api(t.baseUrl, 'POST', '/v1/sessions', body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
      }
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body.messageCount).toBe(0);
    });

    it('refuses unknown fields with 400 naming the field', async () => {
      const id = await createSession(t.baseUrl);
      for (const [method, path, body, field] of [
        ['POST', '/v1/sessions', { title: 'x', owner: 'someone-else' }, 'owner'],
        ['PATCH', `/v1/sessions/${id}`, { title: 'x', currentAgent: 'coder' }, 'currentAgent'],
        ['POST', `/v1/sessions/${id}/messages`, { content: 'x', status: 'interrupted' }, 'status'],
      ] as const) {
        const res = await api(t.baseUrl, method, path, body);
        expect({ path, status: res.status }).toEqual({ path, status: 400 });
        expect(JSON.stringify(res.body.message)).toContain(field);
      }
    });

    it('answers bad ids (not a UUID, SQL text) with 400 or 404, never 500', async () => {
      const badIds = [
        'not-a-uuid',
        "1' OR '1'='1",
        '1;DROP TABLE sessions',
        '00000000-0000-0000-0000-000000000000',
        `${randomUUID()}x`,
        '%00',
        '..',
      ];
      for (const raw of badIds) {
        const bad = encodeURIComponent(raw);
        const answers = await Promise.all([
          api(t.baseUrl, 'GET', `/v1/sessions/${bad}`),
          api(t.baseUrl, 'PATCH', `/v1/sessions/${bad}`, { title: 'x' }),
          api(t.baseUrl, 'DELETE', `/v1/sessions/${bad}`),
          api(t.baseUrl, 'GET', `/v1/sessions/${bad}/messages`),
          api(t.baseUrl, 'POST', `/v1/sessions/${bad}/messages`, { content: 'x' }),
          api(t.baseUrl, 'POST', `/v1/sessions/${bad}/cancel`),
          api(t.baseUrl, 'POST', `/v1/sessions/${bad}/tool-results`, { toolCallId: 'call_1', output: 'x' }),
          api(t.baseUrl, 'POST', `/v1/sessions/${bad}/approvals/${randomUUID()}`, { decision: 'approve' }),
        ]);
        for (const answer of answers) {
          expect({ raw, refused: [400, 404].includes(answer.status) }).toEqual({ raw, refused: true });
          expect(answer.contentType).toMatch(/^application\/json/);
        }
      }
      const id = await createSession(t.baseUrl);
      for (const raw of ['not-a-uuid', "1' OR '1'='1"]) {
        const res = await api(t.baseUrl, 'POST', `/v1/sessions/${id}/approvals/${encodeURIComponent(raw)}`, { decision: 'approve' });
        expect(res.status).toBe(400);
        expect(JSON.stringify(res.body.message)).toContain('approvalId');
      }
      const valid = await api(t.baseUrl, 'GET', `/v1/sessions/${randomUUID()}`);
      expect(valid.status).toBe(404);
      expect(valid.body.code).toBe('session_not_found');
    });
  });
});

describe('conversations: history trimmed to the token budget', () => {
  const stub = new OpenAiStub();
  let t: TestApp;
  // Room for the system prompt and three of the 100-character messages below (each ~29 tokens), not four.
  const systemTokens = estimateTokens({ role: 'system', content: universalAgent.systemPrompt });
  const budget = systemTokens + 100;
  let llmUrl: string;

  before(async () => {
    llmUrl = await stub.start();
    t = await startApp({
      LLM_BASE_URL: llmUrl,
      LLM_API_KEY: 'x',
      LLM_MODEL: 'stub',
      MULTI_AGENT_MODE: 'false',
      HISTORY_TOKEN_BUDGET: String(budget),
    });
  });
  after(async () => {
    await t.close();
    await stub.close();
  });

  it('drops the oldest messages first and always keeps the newest', async () => {
    const id = await createSession(t.baseUrl);
    const say = (who: string, i: number) => `${who}${i}:`.padEnd(100, '.');
    for (let i = 1; i <= 4; i++) {
      stub.reply({ text: say('a', i) });
      expect(doneOf(await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: say('u', i) })).status).toBe('completed');
    }
    const last = stub.agentRequests[stub.agentRequests.length - 1].body.messages;
    expect(last[0]).toEqual({ role: 'system', content: universalAgent.systemPrompt });
    // History u1 a1 u2 a2 u3 a3 u4: the newest three fit.
    expect(last.slice(1).map((m) => m.content)).toEqual([say('u', 3), say('a', 3), say('u', 4)]);
    expect(last.map((m) => estimateTokens(m as never)).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(budget);

    // A newest message bigger than the whole budget is still sent, alone.
    stub.reply({ text: 'Long one.' });
    const huge = 'z'.repeat(4 * budget);
    expect(doneOf(await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: huge })).status).toBe('completed');
    const trimmed = stub.agentRequests[stub.agentRequests.length - 1].body.messages;
    expect(trimmed.map((m) => [m.role, m.content])).toEqual([
      ['system', universalAgent.systemPrompt],
      ['user', huge],
    ]);
    // The stored history keeps everything.
    expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body.messageCount).toBe(10);
  });

  it('keeps the system prompt and the newest message under a budget smaller than the prompt (HISTORY_TOKEN_BUDGET=300)', async () => {
    expect(systemTokens).toBeGreaterThan(300);
    const tiny = await startApp({
      LLM_BASE_URL: llmUrl,
      LLM_API_KEY: 'x',
      LLM_MODEL: 'stub',
      MULTI_AGENT_MODE: 'false',
      HISTORY_TOKEN_BUDGET: '300',
    });
    try {
      const id = await createSession(tiny.baseUrl);
      for (const content of ['first question', 'second question', 'third question']) {
        stub.reply({ text: `answer to the ${content}` });
        expect(doneOf(await postStream(`${tiny.baseUrl}/v1/sessions/${id}/messages`, { content })).status).toBe('completed');
      }
      const sent = stub.agentRequests[stub.agentRequests.length - 1].body.messages;
      expect(sent.map((m) => [m.role, m.content])).toEqual([
        ['system', universalAgent.systemPrompt],
        ['user', 'third question'],
      ]);
    } finally {
      await tiny.close();
    }
  });
});
