import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { metricValue } from './support/metrics.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, getStream, postStream } from './support/sse.js';
import { addressOf, TcpProxy } from './support/tcp-proxy.js';

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);
const metricsOf = async (app: TestApp) => (await fetch(`${app.baseUrl}/metrics`)).text();

describe('the LISTEN connection, lost while a stream follows a turn of another instance', () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let runner: TestApp;
  let follower: TestApp;
  let listenProxy: TcpProxy;

  before(async () => {
    db = await createTestDatabase();
    const env = { LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false' };
    runner = await startApp(env, db);
    // The follower's LISTEN connection goes through a proxy the test can cut and keep down.
    listenProxy = new TcpProxy(addressOf(db.url.replace(/^postgres(ql)?:/, 'http:')));
    const through = new URL(await listenProxy.start());
    const listenUrl = new URL(db.url);
    listenUrl.port = through.port;
    listenUrl.hostname = through.hostname;
    follower = await startApp({ ...env, DATABASE_LISTEN_URL: listenUrl.toString() }, db);
  });
  after(async () => {
    await follower.close();
    await runner.close();
    await listenProxy.close();
    await stub.close();
    await dropTestDatabase(db.name);
  });

  it(
    'is opened again, counted, and the follower reads what was announced while it was down: the whole turn, once, in order',
    { timeout: 30_000 },
    async () => {
      const text = words(20);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      stub.reply({ text, delayMs: 5, pause: { chunks: 10, until: held } });
      const id = await createSession(runner.baseUrl);
      const live = postStream(`${runner.baseUrl}/v1/sessions/${id}/messages`, { content: 'Count for me' });
      await eventually(async () => (await query(db.url, `SELECT 1 FROM turns WHERE session_id = $1`, [id])).length > 0);

      let reachedPause!: () => void;
      const paused = new Promise<void>((resolve) => (reachedPause = resolve));
      const followed = getStream(`${follower.baseUrl}/v1/sessions/${id}/stream`, {
        stopWhen: (_e, events) => {
          if (events.filter((e) => e.event === 'token').length === 10) reachedPause();
          return false;
        },
      });
      await paused;
      // Down: the connection is cut and every new one refused while the rest of the turn is stored and announced.
      listenProxy.refusing = true;
      listenProxy.cut();
      await eventually(async () => metricValue(await metricsOf(follower), 'db_listen_down') === 1);
      release();
      const answered = await live;
      expect(doneOf(answered).status).toBe('completed');
      listenProxy.refusing = false;

      const result = await followed;
      const ids = result.events.map((e) => Number(e.id));
      expect(ids).toEqual(ids.map((_id, i) => ids[0] + i));
      expect(eventsOf(result, 'token').map((e) => e.data.delta)).toEqual(text);
      expect(doneOf(result).status).toBe('completed');
      const metrics = await metricsOf(follower);
      expect(metricValue(metrics, 'db_listen_reconnects_total')).toBe(1);
      expect(metricValue(metrics, 'db_listen_down')).toBe(0);
    },
  );
});
