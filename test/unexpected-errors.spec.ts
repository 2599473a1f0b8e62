import { expect } from 'expect';
import { ChildProcess, spawn } from 'node:child_process';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { findFreePort } from '../src/database/embedded-postgres.js';
import { createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { metricValue } from './support/metrics.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, postStream } from './support/sse.js';

/** A GET on a connection of its own: a stopping server closes the idle keep-alive ones that fetch would reuse. */
function getOnce(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('a rejection nobody handled, an exception nobody caught', () => {
  const stub = new OpenAiStub();
  let llmUrl: string;

  before(async () => {
    llmUrl = await stub.start();
  });
  after(() => stub.close());

  for (const fault of ['reject', 'reject-value', 'throw'] as const) {
    it(`(${fault}) is logged and counted, then the process stops gracefully: the running turn is interrupted and stored, its lease released, exit code 1`, async () => {
      const db = await createTestDatabase();
      const port = await findFreePort();
      const baseUrl = `http://127.0.0.1:${port}`;
      const child: ChildProcess = spawn(process.execPath, ['dist/test/support/faulty-service.js'], {
        env: {
          ...process.env,
          NODE_ENV: 'test',
          LOG_LEVEL: process.env.DEBUG_LOGS ? 'debug' : 'warn',
          DATABASE_URL: db.url,
          PORT: String(port),
          LLM_BASE_URL: llmUrl,
          LLM_API_KEY: 'x',
          LLM_MODEL: 'stub',
          MULTI_AGENT_MODE: 'false',
        },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      let logs = '';
      child.stdout!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let locker: pg.Client | undefined;
      try {
        await eventually(async () => (await fetch(`${baseUrl}/health/ready`).catch(() => undefined))?.status === 200, 20_000);
        const id = await createSession(baseUrl);
        stub.reply({ text: Array.from({ length: 200 }, (_, i) => `w${i} `), delayMs: 20 });
        let reached!: () => void;
        const started = new Promise<void>((resolve) => (reached = resolve));
        const stream = postStream(
          `${baseUrl}/v1/sessions/${id}/messages`,
          { content: 'Keep talking' },
          {
            stopWhen: (_e, events) => {
              if (events.filter((e) => e.event === 'token').length === 3) reached();
              return false;
            },
          },
        );
        void stream.catch(() => undefined); // awaited below; a failed assertion first must not leave it unhandled
        await started;
        // Holds the stop while the partial answer waits to be stored, to read the metric meanwhile.
        locker = new pg.Client({ connectionString: db.url });
        await locker.connect();
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE messages IN EXCLUSIVE MODE');
        child.send(fault);
        await eventually(async () => {
          const [row] = await query(
            db.url,
            `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = 'messages'`,
          );
          return row.n > 0;
        }, 10_000);
        const metrics = (await getOnce(`${baseUrl}/metrics`)).body;
        const kind = fault === 'throw' ? 'uncaught_exception' : 'unhandled_rejection';
        expect(metricValue(metrics, 'process_unhandled_errors_total', { kind })).toBe(1);
        expect((await getOnce(`${baseUrl}/health/ready`)).status).toBe(503);
        await locker.query('COMMIT');

        const result = await stream;
        expect(doneOf(result).status).toBe('interrupted');
        expect(eventsOf(result, 'message').at(-1)?.data.message.status).toBe('interrupted');
        expect(await exited).toBe(1);
        if (fault === 'reject-value') {
          // The value is logged by its shape: its number as it is, its string by its length only.
          expect(logs).toMatch(/"kind":"unhandled_rejection".*non-error value: object \{ attempt: 3, text: ''\.\.\. 24 more characters \}/);
          expect(logs).not.toContain('injected rejection value');
        } else expect(logs).toMatch(new RegExp(`"kind":"${kind}".*injected ${fault === 'reject' ? 'rejection' : 'exception'}`));
        const [turn] = await query(db.url, `SELECT status FROM turns WHERE session_id = $1`, [id]);
        expect(turn.status).toBe('interrupted');
        const rows = await query(db.url, `SELECT role, status FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
        expect(rows.map((r) => [r.role, r.status])).toEqual([
          ['user', 'complete'],
          ['assistant', 'interrupted'],
        ]);
        const [session] = await query(db.url, `SELECT active_turn_id FROM sessions WHERE id = $1`, [id]);
        expect(session.active_turn_id).toBeNull();
      } finally {
        if (process.env.DEBUG_LOGS) process.stderr.write(logs);
        await locker?.end().catch(() => undefined);
        child.kill('SIGKILL');
        await dropTestDatabase(db.name);
      }
    });
  }
});
