import { expect } from 'expect';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedDatabase, findFreePort } from '../src/database/embedded-postgres.js';
import { TurnRecovery } from '../src/turns/turn-recovery.js';
import { startApp, TestApp } from './support/app.js';
import { createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { spawnService } from './support/service-process.js';
import { doneOf, eventsOf, eventually, postStream } from './support/sse.js';

/** Starts a turn and resolves once `tokens` tokens have arrived; the stream goes on in the background. */
async function streamUntilTokens(url: string, tokens: number): Promise<{ rest: Promise<unknown> }> {
  let reached!: () => void;
  const started = new Promise<void>((resolve) => (reached = resolve));
  const rest = postStream(
    url,
    { content: 'Tell me everything you know' },
    {
      stopWhen: (_e, events) => {
        if (events.filter((e) => e.event === 'token').length === tokens) reached();
        return false;
      },
    },
  ).catch((error: unknown) => error);
  await started;
  return { rest };
}

describe('reliability', () => {
  const stub = new OpenAiStub();
  let llmUrl: string;

  before(async () => {
    llmUrl = await stub.start();
  });
  after(() => stub.close());

  it('stops gracefully on SIGTERM: running streams end with done{interrupted} after storing their partial answers', async () => {
    const db = await createTestDatabase();
    const service = await spawnService({ DATABASE_URL: db.url, SCRIPTED_TOKEN_DELAY_MS: '50', MULTI_AGENT_MODE: 'false' });
    try {
      const id = await createSession(service.baseUrl);
      let reached!: () => void;
      const started = new Promise<void>((resolve) => (reached = resolve));
      const stream = postStream(
        `${service.baseUrl}/v1/sessions/${id}/messages`,
        { content: 'Explain the universe' },
        {
          stopWhen: (_e, events) => {
            if (events.filter((e) => e.event === 'token').length === 3) reached();
            return false;
          },
        },
      );
      await started;
      const stoppedAt = Date.now();
      service.child.kill('SIGTERM');
      const result = await stream;
      expect(doneOf(result).status).toBe('interrupted');
      const exit = await service.exited;
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);

      const rows = await query(db.url, `SELECT role, status, content FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
      expect(rows.map((r) => [r.role, r.status])).toEqual([
        ['user', 'complete'],
        ['assistant', 'interrupted'],
      ]);
      expect(eventsOf(result, 'message').at(-1)?.data.message.status).toBe('interrupted');
      const [turn] = await query(db.url, `SELECT status FROM turns WHERE session_id = $1`, [id]);
      expect(turn.status).toBe('interrupted');
      const [session] = await query(db.url, `SELECT active_turn_id FROM sessions WHERE id = $1`, [id]);
      expect(session.active_turn_id).toBeNull();
    } finally {
      service.child.kill('SIGKILL');
      await dropTestDatabase(db.name);
    }
  });

  it('recovers from a process killed mid-turn: the lease expires, the dead turn is interrupted, the history stays valid', async () => {
    const db = await createTestDatabase();
    const env = { SESSION_LEASE_SECONDS: '3', LLM_BASE_URL: llmUrl, LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false' };
    stub.reply({ text: Array.from({ length: 200 }, (_, i) => `w${i} `), delayMs: 25 });
    const service = await spawnService({ ...env, DATABASE_URL: db.url });
    let second: TestApp | undefined;
    try {
      // The second instance is up before the kill, so the dead turn's lease is surely still live when it is asked.
      second = await startApp(env, db);
      const id = await createSession(service.baseUrl);
      const { rest } = await streamUntilTokens(`${service.baseUrl}/v1/sessions/${id}/messages`, 3);
      service.child.kill('SIGKILL');
      await service.exited;
      await rest;

      const refused = await postStream(`${second.baseUrl}/v1/sessions/${id}/messages`, { content: 'hello?' });
      expect(refused.status).toBe(409);
      expect(refused.json).toMatchObject({ code: 'session_busy' });
      await eventually(async () => {
        const [row] = await query(db.url, `SELECT lease_expires_at < now() AS expired FROM sessions WHERE id = $1`, [id]);
        return row.expired;
      }, 10_000);
      expect(await second.app.get(TurnRecovery).sweep()).toBe(1);
      const [dead] = await query(db.url, `SELECT status FROM turns WHERE session_id = $1`, [id]);
      expect(dead.status).toBe('interrupted');

      stub.reply({ text: 'I am back.' });
      const next = await postStream(`${second.baseUrl}/v1/sessions/${id}/messages`, { content: 'Are you still there?' });
      expect(doneOf(next).status).toBe('completed');
      // The stub refuses histories OpenAI would refuse; the request it got had one user message per turn.
      const users = stub.requests
        .at(-1)!
        .body.messages.filter((m) => m.role === 'user')
        .map((m) => m.content);
      expect(users).toEqual(['Tell me everything you know', 'Are you still there?']);
    } finally {
      service.child.kill('SIGKILL');
      await second?.close();
      await dropTestDatabase(db.name);
    }
  });

  it('survives a database outage: 503 while it is down, then the pool recovers by itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-runtime-outage-'));
    chmodSync(dir, 0o755);
    const port = await findFreePort();
    let server = await EmbeddedDatabase.start({ dataDir: join(dir, 'pg'), persistent: true, port, serverSettings: { fsync: 'off' } });
    const t = await startApp(
      { LLM_BASE_URL: llmUrl, LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false', DB_POOL_SIZE: '3' },
      { name: 'postgres', url: server.url },
    );
    try {
      stub.reply({ text: 'fine' });
      const id = await createSession(t.baseUrl);
      expect(doneOf(await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'before' })).status).toBe('completed');

      // Mid-stream: the answer cannot be stored; the stream still ends properly.
      stub.reply({ text: Array.from({ length: 40 }, (_, i) => `x${i} `), delayMs: 25 });
      const { rest } = await streamUntilTokens(`${t.baseUrl}/v1/sessions/${id}/messages`, 2);
      await server.stop();
      const broken = (await rest) as Awaited<ReturnType<typeof postStream>>;
      expect(broken.events.map((e) => e.event).slice(-2)).toEqual(['error', 'done']);
      expect(doneOf(broken).status).toBe('failed');

      const ready = await fetch(`${t.baseUrl}/health/ready`);
      expect(ready.status).toBe(503);
      const refused = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'during' });
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ statusCode: 503, code: 'database_unavailable' });
      const create = await fetch(`${t.baseUrl}/v1/sessions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(create.status).toBe(503);
      expect(await create.text()).not.toMatch(/at .*\.js|ECONNREFUSED|SELECT|INSERT/);

      server = await EmbeddedDatabase.start({ dataDir: join(dir, 'pg'), persistent: false, port, serverSettings: { fsync: 'off' } });
      await eventually(async () => (await fetch(`${t.baseUrl}/health/ready`)).status === 200, 10_000);
      // The lease of the broken turn could not be released while the database was down; it expires.
      await query(server.url, `UPDATE sessions SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
      stub.reply({ text: 'after' });
      const again = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'after' });
      expect(doneOf(again).status).toBe('completed');
    } finally {
      await t.close();
      await server.stop();
      await sleep(10);
    }
  });
});
