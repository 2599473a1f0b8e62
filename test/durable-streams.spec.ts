import { fetchEventSource, type EventSourceMessage } from '@microsoft/fetch-event-source';
import { expect } from 'expect';
import { EventSource } from 'eventsource';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EventRetention } from '../src/turns/event-log/event-retention.js';
import { TurnRecovery } from '../src/turns/turn-recovery.js';
import { startApp, TestApp } from './support/app.js';
import { afterTokens, api, createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { spawnService } from './support/service-process.js';
import { doneOf, eventsOf, eventually, getStream, postStream, SseEvent, StreamResult } from './support/sse.js';
import { addressOf, TcpProxy } from './support/tcp-proxy.js';

const words = (n: number, prefix = 'w') => Array.from({ length: n }, (_, i) => `${prefix}${i} `);
const tokensOf = (events: Array<{ event: string; data: unknown }>) =>
  events
    .filter((e) => e.event === 'token')
    .map((e) => (e.data as { delta: string }).delta)
    .join('');
/** Ids within one turn are consecutive: a lost or repeated event shows as a break. */
function expectConsecutive(ids: number[]): void {
  expect(ids).toEqual(ids.map((_id, i) => ids[0] + i));
}
const idsOf = (events: SseEvent[]) => events.map((e) => Number(e.id));
const strip = (result: StreamResult) => result.events.map(({ id, event, data }) => ({ id, event, data }));

describe('durable turns: resume and join streams', () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let env: Record<string, string>;
  let a: TestApp;

  before(async () => {
    db = await createTestDatabase();
    env = {
      LLM_BASE_URL: await stub.start(),
      LLM_API_KEY: 'x',
      LLM_MODEL: 'stub',
      MULTI_AGENT_MODE: 'false',
      SSE_RETRY_MS: '200',
      SESSION_LEASE_SECONDS: '3',
    };
    a = await startApp(env, db);
  });
  const historyOf = (id: string) =>
    query(db.url, `SELECT role, status, content, agent FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
  const messageCountOf = async (id: string) =>
    Number((await query(db.url, `SELECT message_count FROM sessions WHERE id = $1`, [id]))[0].message_count);
  after(async () => {
    await a.close();
    await stub.close();
    await dropTestDatabase(db.name);
  });

  it('eventsource v5, reconnecting by itself through a connection cut mid-stream, gets the whole answer once and in order; one turn and one user message are stored', async () => {
    const text = words(40);
    stub.reply({ text, delayMs: 15 });
    const proxy = new TcpProxy(addressOf(a.baseUrl));
    const through = await proxy.start();
    try {
      const id = await createSession(a.baseUrl);
      const key = randomUUID();
      const body = JSON.stringify({ content: 'Tell me a long story', onDisconnect: 'continue' });
      const received: SseEvent[] = [];
      const es = new EventSource(`${through}/v1/sessions/${id}/messages`, {
        // What its README says to do for a POST: the reconnect repeats the request with its Last-Event-ID.
        fetch: (url, init) =>
          fetch(url, {
            ...init,
            method: 'POST',
            body,
            headers: { ...init?.headers, 'Content-Type': 'application/json', 'Idempotency-Key': key },
          }),
      });
      let cut = false;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no done; got ${received.map((e) => e.event).join(',')}`)), 20_000);
        for (const type of ['turn', 'token', 'message', 'done'] as const) {
          es.addEventListener(type, (e) => {
            received.push({ id: e.lastEventId, event: type, data: JSON.parse(e.data) } as SseEvent);
            if (!cut && received.filter((r) => r.event === 'token').length === 5) {
              cut = true;
              proxy.cut();
            }
            if (type === 'done') {
              clearTimeout(timer);
              es.close();
              resolve();
            }
          });
        }
      });
      expect(proxy.connections).toBe(2);
      expectConsecutive(idsOf(received));
      expect(received.map((e) => e.event).filter((e) => e !== 'token')).toEqual(['turn', 'message', 'message', 'done']);
      expect(tokensOf(received)).toBe(text.join(''));
      expect(received.at(-1)!.data).toMatchObject({ status: 'completed' });
      const turns = await query(db.url, `SELECT status FROM turns WHERE session_id = $1`, [id]);
      expect(turns).toEqual([{ status: 'completed' }]);
      const messages = await query(db.url, `SELECT role, status, content FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
      expect(messages).toEqual([
        { role: 'user', status: 'complete', content: 'Tell me a long story' },
        { role: 'assistant', status: 'complete', content: text.join('') },
      ]);
    } finally {
      await proxy.close();
    }
  });

  it('@microsoft/fetch-event-source gets no empty message from the pings, and resumes a cut POST stream with its Last-Event-ID', async () => {
    const pinging = await startApp({ ...env, SSE_PING_SECONDS: '1' }, db);
    // What it needs of a browser, with `openWhenHidden` (no visibility handling); only for this test,
    // because on Node 21+ (which has `navigator`) the openai SDK takes a `window` for a browser and refuses to start.
    const browser = globalThis as unknown as { window?: unknown; document?: unknown };
    browser.window = globalThis;
    browser.document = { hidden: false, addEventListener: () => undefined, removeEventListener: () => undefined };
    const proxy = new TcpProxy(addressOf(pinging.baseUrl));
    const through = await proxy.start();
    try {
      const text = ['slow ', 'words ', 'with ', 'pauses ', 'between ', 'them'];
      stub.reply({ text, delayMs: 700 });
      const id = await createSession(pinging.baseUrl);
      const messages: EventSourceMessage[] = [];
      let pings = 0;
      // The bytes as they arrive, to count the pings the library must have skipped.
      const counting: typeof fetch = async (input, init) => {
        const res = await fetch(input, init);
        if (!res.body) return res;
        const [mine, counted] = res.body.tee();
        void (async () => {
          for await (const chunk of counted as unknown as AsyncIterable<Uint8Array>)
            pings += Buffer.from(chunk).toString().split(': ping\n').length - 1;
        })().catch(() => undefined);
        return new Response(mine, { status: res.status, headers: res.headers });
      };
      let cut = false;
      await fetchEventSource(`${through}/v1/sessions/${id}/messages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() },
        body: JSON.stringify({ content: 'Slowly, please', onDisconnect: 'continue' }),
        openWhenHidden: true,
        fetch: counting,
        onmessage: (message) => {
          messages.push(message);
          if (!cut && messages.filter((m) => m.event === 'token').length === 3) {
            cut = true;
            proxy.cut();
          }
        },
        // Undefined: try again after the stream's `retry:`.
        onerror: () => undefined,
      });
      expect(messages.filter((m) => m.event === '' || m.data === '')).toEqual([]);
      const received = messages.map((m) => ({ id: m.id, event: m.event, data: JSON.parse(m.data) }) as SseEvent);
      expect(pings).toBeGreaterThanOrEqual(2);
      expect(proxy.connections).toBe(2);
      expectConsecutive(idsOf(received));
      expect(tokensOf(received)).toBe(text.join(''));
      expect(received.at(-1)).toMatchObject({ event: 'done', data: { status: 'completed' } });
    } finally {
      delete browser.window;
      delete browser.document;
      await proxy.close();
      await pinging.close();
    }
  });

  it('a client that drops mid-stream resumes with Last-Event-ID on a second service process: exactly the missing events, then the rest live', async () => {
    const b = await spawnService({ ...env, DATABASE_URL: db.url });
    try {
      const text = words(30);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      // The LLM stops after 12 tokens until the resumed stream has them all: those can only come from storage.
      stub.reply({ text, delayMs: 5, pause: { chunks: 12, until: held } });
      const id = await createSession(a.baseUrl);
      const first = await postStream(
        `${a.baseUrl}/v1/sessions/${id}/messages`,
        { content: 'Count for me', onDisconnect: 'continue' },
        { stopWhen: afterTokens(5) },
      );
      const lastSeen = first.events.at(-1)!.id!;
      let tokensBeforeRelease = -1;
      const resumed = await getStream(`${b.baseUrl}/v1/sessions/${id}/stream`, {
        headers: { 'Last-Event-ID': lastSeen },
        stopWhen: (_e, events) => {
          if (tokensBeforeRelease < 0 && tokensOf(first.events) + tokensOf(events) === text.slice(0, 12).join('')) {
            tokensBeforeRelease = eventsOf({ events } as StreamResult, 'token').length;
            release();
          }
          return false;
        },
      });
      expect(resumed.status).toBe(200);
      expect(Number(resumed.events[0].id)).toBe(Number(lastSeen) + 1);
      expectConsecutive([...idsOf(first.events), ...idsOf(resumed.events)]);
      expect(tokensOf(first.events) + tokensOf(resumed.events)).toBe(text.join(''));
      // Replayed while the LLM was held, then live from the other process.
      expect(tokensBeforeRelease).toBe(12 - eventsOf(first, 'token').length);
      expect(eventsOf(resumed, 'token').length).toBeGreaterThan(tokensBeforeRelease);
      expect(doneOf(resumed).status).toBe('completed');
    } finally {
      b.child.kill('SIGKILL');
      await b.exited;
    }
  });

  it('a replay after the running process is killed (SIGKILL) ends with the done{interrupted} that recovery records; a follower gets it too', async () => {
    const service = await spawnService({ ...env, DATABASE_URL: db.url });
    try {
      stub.reply({ text: words(400), delayMs: 20 });
      const id = await createSession(service.baseUrl);
      let seen: SseEvent[] = [];
      let reached!: () => void;
      const started = new Promise<void>((resolve) => (reached = resolve));
      const live = postStream(
        `${service.baseUrl}/v1/sessions/${id}/messages`,
        { content: 'Go on and on' },
        {
          stopWhen: (_e, events) => {
            seen = events;
            if (eventsOf({ events } as StreamResult, 'token').length >= 5) reached();
            return false;
          },
        },
      ).catch(() => undefined);
      await started;
      const turnId = eventsOf({ events: seen } as StreamResult, 'turn')[0].data.turnId;
      const stored = Number(seen[seen.length - 2].id);
      await eventually(async () => {
        const [row] = await query(db.url, `SELECT max(id)::float8 AS id FROM turn_events WHERE turn_id = $1`, [turnId]);
        return Number(row.id) >= stored;
      });
      const follower = getStream(`${a.baseUrl}/v1/sessions/${id}/turns/${turnId}/stream`, {
        headers: { 'Last-Event-ID': String(stored) },
      });
      service.child.kill('SIGKILL');
      await service.exited;
      await live;
      await eventually(async () => {
        const [row] = await query(db.url, `SELECT lease_expires_at < now() AS expired FROM sessions WHERE id = $1`, [id]);
        return row.expired;
      }, 10_000);
      await a.app.get(TurnRecovery).sweep();

      const followed = await follower;
      expect(followed.events.at(-1)).toMatchObject({ event: 'done', data: { turnId, status: 'interrupted' } });
      const replay = await getStream(`${a.baseUrl}/v1/sessions/${id}/stream`, { headers: { 'Last-Event-ID': seen[0].id! } });
      const done = replay.events.at(-1)!;
      expect(done).toMatchObject({ event: 'done', data: { turnId, status: 'interrupted' } });
      // Everything stored before the kill, in order, then the recovery's done in the slot kept for it.
      const before = idsOf(replay.events.slice(0, -1));
      expectConsecutive(before);
      expect(before[0]).toBe(Number(seen[0].id) + 1);
      expect(before.at(-1)!).toBeGreaterThanOrEqual(stored);
      expect(Number(done.id) % 1_000_000).toBe(999_999);
      const [turn] = await query(db.url, `SELECT status FROM turns WHERE id = $1`, [turnId]);
      expect(turn.status).toBe('interrupted');
      // The answer streamed before the kill, as far as it was stored, is kept in the history and counted.
      const streamed = tokensOf(replay.events);
      expect(streamed.length).toBeGreaterThan(0);
      expect(await historyOf(id)).toEqual([
        { role: 'user', status: 'complete', content: 'Go on and on', agent: 'universal' },
        { role: 'assistant', status: 'interrupted', content: streamed, agent: 'universal' },
      ]);
      expect(await messageCountOf(id)).toBe(2);
    } finally {
      service.child.kill('SIGKILL');
      await service.exited;
    }
  });

  it('a new turn on a session whose process was killed ends the dead turn first: its streamed answer is kept before the new message', async () => {
    const service = await spawnService({ ...env, DATABASE_URL: db.url });
    try {
      stub.reply({ text: words(400), delayMs: 20 });
      const id = await createSession(service.baseUrl);
      const live = postStream(
        `${service.baseUrl}/v1/sessions/${id}/messages`,
        { content: 'Go on and on', onDisconnect: 'continue' },
        { stopWhen: afterTokens(5) },
      );
      const turnId = eventsOf(await live, 'turn')[0].data.turnId;
      await eventually(async () => (await query(db.url, `SELECT 1 FROM turn_events WHERE turn_id = $1`, [turnId])).length > 0);
      service.child.kill('SIGKILL');
      await service.exited;
      await eventually(async () => {
        const [row] = await query(db.url, `SELECT lease_expires_at < now() AS expired FROM sessions WHERE id = $1`, [id]);
        return row.expired;
      }, 10_000);

      stub.reply({ text: ['fine'] });
      const next = await postStream(`${a.baseUrl}/v1/sessions/${id}/messages`, { content: 'Are you there?' });
      expect(doneOf(next).status).toBe('completed');
      const replay = await getStream(`${a.baseUrl}/v1/sessions/${id}/turns/${turnId}/stream`);
      expect(replay.events.at(-1)).toMatchObject({ event: 'done', data: { turnId, status: 'interrupted' } });
      const streamed = tokensOf(replay.events);
      expect(streamed.length).toBeGreaterThan(0);
      expect(await historyOf(id)).toEqual([
        { role: 'user', status: 'complete', content: 'Go on and on', agent: 'universal' },
        { role: 'assistant', status: 'interrupted', content: streamed, agent: 'universal' },
        { role: 'user', status: 'complete', content: 'Are you there?', agent: 'universal' },
        { role: 'assistant', status: 'complete', content: 'fine', agent: 'universal' },
      ]);
      expect(await messageCountOf(id)).toBe(4);
    } finally {
      service.child.kill('SIGKILL');
      await service.exited;
    }
  });

  it('an idle session streams its last turn ending with done; nothing after the last id is a 204, which stops EventSource', async () => {
    const id = await createSession(a.baseUrl);
    const streamUrl = `${a.baseUrl}/v1/sessions/${id}/stream`;
    expect((await getStream(streamUrl)).status).toBe(204);
    stub.reply({ text: 'An earlier answer.' });
    await postStream(`${a.baseUrl}/v1/sessions/${id}/messages`, { content: 'first' });
    stub.reply({ text: 'The last answer.' });
    const turn = await postStream(`${a.baseUrl}/v1/sessions/${id}/messages`, { content: 'second' });

    const idle = await getStream(streamUrl);
    expect(idle.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(strip(idle)).toEqual(strip(turn));
    const third = turn.events[2].id!;
    expect(strip(await getStream(streamUrl, { headers: { 'Last-Event-ID': third } }))).toEqual(strip(turn).slice(3));
    expect(strip(await getStream(`${streamUrl}?lastEventId=${third}`))).toEqual(strip(turn).slice(3));
    const turnId = doneOf(turn).turnId;
    expect(strip(await getStream(`${a.baseUrl}/v1/sessions/${id}/turns/${turnId}/stream`))).toEqual(strip(turn));
    expect((await getStream(streamUrl, { headers: { 'Last-Event-ID': turn.events.at(-1)!.id! } })).status).toBe(204);

    // A browser-style EventSource on the idle session: the turn, then its reconnect after done is told to stop.
    const es = new EventSource(streamUrl);
    const names: string[] = [];
    for (const type of ['turn', 'token', 'message', 'done']) es.addEventListener(type, () => names.push(type));
    const stoppedWith = await new Promise<number | undefined>(
      (resolve) => (es.onerror = (e) => es.readyState === es.CLOSED && resolve(e.code)),
    );
    expect(stoppedWith).toBe(204);
    expect(names).toEqual(turn.events.map((e) => e.event));
  });

  it('refuses a malformed Last-Event-ID, one from another session, a bad or unknown turn and a deleted session', async () => {
    stub.reply({ text: 'Hello.' });
    const id = await createSession(a.baseUrl);
    const other = await createSession(a.baseUrl);
    await postStream(`${a.baseUrl}/v1/sessions/${id}/messages`, { content: 'hi' });
    const foreign = (await postStream(`${a.baseUrl}/v1/sessions/${other}/messages`, { content: 'hi' })).events[0].id!;
    const stream = `/v1/sessions/${id}/stream`;
    const refusal = async (path: string, headers: Record<string, string> = {}) => {
      const res = await getStream(`${a.baseUrl}${path}`, { headers });
      return { status: res.status, code: res.json?.code };
    };
    expect(await refusal(stream, { 'Last-Event-ID': 'abc' })).toEqual({ status: 400, code: 'bad_last_event_id' });
    expect(await refusal(`${stream}?lastEventId=-1`)).toEqual({ status: 400, code: 'bad_last_event_id' });
    expect(await refusal(stream, { 'Last-Event-ID': foreign })).toEqual({ status: 400, code: 'unknown_last_event_id' });
    expect(await refusal(`/v1/sessions/${id}/turns/${randomUUID()}/stream`)).toEqual({ status: 404, code: 'turn_not_found' });
    expect(await refusal(`/v1/sessions/${id}/turns/nope/stream`)).toEqual({ status: 400, code: 'bad_turn_id' });
    expect((await api(a.baseUrl, 'DELETE', `/v1/sessions/${id}`)).status).toBe(204);
    expect(await refusal(stream)).toEqual({ status: 404, code: 'session_not_found' });
  });

  it('retention deletes the events of turns finished before EVENT_RETENTION_HOURS and keeps the messages', async () => {
    const id = await createSession(a.baseUrl);
    stub.reply({ text: words(30) });
    const old = doneOf(await postStream(`${a.baseUrl}/v1/sessions/${id}/messages`, { content: 'long ago' })).turnId;
    stub.reply({ text: 'Recent.' });
    const recent = doneOf(await postStream(`${a.baseUrl}/v1/sessions/${id}/messages`, { content: 'now' })).turnId;
    await query(db.url, `UPDATE turns SET finished_at = now() - interval '25 hours' WHERE id = $1`, [old]);
    await query(db.url, `UPDATE turn_events SET created_at = now() - interval '25 hours' WHERE turn_id = $1`, [old]);
    const rowsOf = async (turnId: string) =>
      Number((await query(db.url, `SELECT count(*)::int AS n FROM turn_events WHERE turn_id = $1`, [turnId]))[0].n);
    const [oldRows, recentRows] = [await rowsOf(old), await rowsOf(recent)];
    expect(oldRows).toBeGreaterThan(0);

    expect(await a.app.get(EventRetention).sweep()).toBeGreaterThanOrEqual(oldRows);
    expect([await rowsOf(old), await rowsOf(recent)]).toEqual([0, recentRows]);
    const messages = await query(db.url, `SELECT role FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(doneOf(await getStream(`${a.baseUrl}/v1/sessions/${id}/stream`)).turnId).toBe(recent);
  });
});
