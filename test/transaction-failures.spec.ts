/**
 * Micro-transactions that fail, on the real PostgreSQL: a foreign-key violation rolls the whole
 * transaction back and is counted with its reason, a slow one is logged under its operation, and
 * one still running when its stream ends is rolled back. Locks held by a second client make the
 * timing deterministic.
 */
import { ConsoleLogger, LoggerService } from '@nestjs/common';
import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { TransactionHost } from '../src/unit-of-work/transaction-host.js';
import { startApp, TestApp } from './support/app.js';
import { afterTokens, createSession, streamInBackground } from './support/conversation.js';
import { query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually } from './support/sse.js';

/** The app's log calls, as Nest hands them to its logger. */
class RecordingLogger extends ConsoleLogger implements LoggerService {
  readonly records: { level: string; message: unknown }[] = [];
  override log(message: unknown): void {
    this.records.push({ level: 'log', message });
  }
  override warn(message: unknown): void {
    this.records.push({ level: 'warn', message });
  }
  override error(message: unknown): void {
    this.records.push({ level: 'error', message });
  }
}

function sample(metrics: string, name: string, labels: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('micro-transactions that fail', () => {
  let t: TestApp;
  let host: TransactionHost;
  const stub = new OpenAiStub();
  const logs = new RecordingLogger();
  const metrics = async () => (await fetch(`${t.baseUrl}/metrics`)).text();

  /** A second client holding a row lock on a session until `release()`. */
  async function lockSession(id: string): Promise<{ release: () => Promise<void> }> {
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    await client.query('BEGIN');
    await client.query('SELECT id FROM sessions WHERE id = $1 FOR UPDATE', [id]);
    return {
      release: async () => {
        await client.query('COMMIT');
        await client.end();
      },
    };
  }
  const someoneWaitsForALock = async () =>
    (await query(t.databaseUrl, "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")).length >
    0;

  before(async () => {
    const llm = await stub.start();
    t = await startApp({ SLOW_TRANSACTION_MS: '1', LLM_BASE_URL: llm, LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false' });
    t.app.useLogger(logs);
    host = t.app.get(TransactionHost);
  });
  after(async () => {
    await t?.close();
    await stub.close();
  });

  it('rolls back the whole transaction on a foreign-key violation and counts it with its reason, without retrying', async () => {
    const title = `fk-${randomUUID()}`;
    const failing = host.run('fk test', () =>
      host.transaction('insert_orphan_message', async () => {
        await host.tx.query(`INSERT INTO sessions (owner, title, current_agent) VALUES ('local', $1, 'ask')`, [title]);
        await host.tx.query(`INSERT INTO messages (session_id, role, content) VALUES ($1, 'user', 'orphan')`, [randomUUID()]);
      }),
    );
    await expect(failing).rejects.toMatchObject({ driverError: expect.objectContaining({ code: '23503' }) });
    // The session inserted first in the same transaction is gone with it.
    expect(await query(t.databaseUrl, 'SELECT id FROM sessions WHERE title = $1', [title])).toEqual([]);
    const text = await metrics();
    expect(sample(text, 'db_rollbacks_total', 'operation="insert_orphan_message",reason="foreign_key_violation"')).toBe(1);
    expect(sample(text, 'sse_transaction_commits_total', 'operation="insert_orphan_message",status="error"')).toBe(1);
    expect(text).not.toContain('db_retries_total{operation="insert_orphan_message"');
  });

  it('logs a slow micro-transaction with the name of its operation', async () => {
    const id = await createSession(t.baseUrl);
    const lock = await lockSession(id);
    const renaming = fetch(`${t.baseUrl}/v1/sessions/${id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'renamed' }),
    });
    await eventually(someoneWaitsForALock);
    await lock.release();
    expect((await renaming).status).toBe(200);
    const slow = logs.records.filter((r) => (r.message as { msg?: string })?.msg === 'slow transaction');
    expect(slow).toContainEqual({
      level: 'warn',
      message: expect.objectContaining({ operation: 'rename_session', durationMs: expect.any(Number), unitOfWork: expect.any(String) }),
    });
  });

  it('rolls back a micro-transaction still running when its stream ends', async () => {
    const id = await createSession(t.baseUrl);
    const title = `in-flight-${randomUUID()}`;
    const lock = await lockSession(id);
    const uow = host.open('stream test');
    const inFlight = host
      .within(uow, () =>
        host.transaction('save_in_flight', async () => {
          await host.tx.query(`INSERT INTO sessions (owner, title, current_agent) VALUES ('local', $1, 'ask')`, [title]);
          await host.tx.query('SELECT id FROM sessions WHERE id = $1 FOR UPDATE', [id]); // waits for the lock
        }),
      )
      .then(
        () => 'committed',
        (error: Error) => error.message,
      );
    await eventually(someoneWaitsForALock);
    // The client goes away while the transaction waits; then the lock is released and it could commit.
    await uow.end('unsubscribed');
    await lock.release();
    expect(await inFlight).toMatch(/stream ended before save_in_flight could commit/);
    expect(await query(t.databaseUrl, 'SELECT id FROM sessions WHERE title = $1', [title])).toEqual([]);
    expect(sample(await metrics(), 'db_rollbacks_total', 'operation="save_in_flight",reason="stream_aborted"')).toBe(1);
  });

  it('ends a turn whose session is deleted under it as failed, session_deleted, without retrying against the missing row', async () => {
    stub.reply({ text: Array.from({ length: 30 }, (_, i) => `w${i} `), delayMs: 10 });
    const id = await createSession(t.baseUrl);
    const before = await metrics();
    const { reached, result } = streamInBackground(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'go on' }, afterTokens(2));
    await reached;
    await query(t.databaseUrl, 'DELETE FROM sessions WHERE id = $1', [id]);
    const stream = await result;
    expect(doneOf(stream).status).toBe('failed');
    expect(eventsOf(stream, 'error').map((e) => e.data.code)).toEqual(['session_deleted']);
    const after = await metrics();
    const rolledBack = (text: string) =>
      sample(text, 'db_rollbacks_total', 'operation="save_assistant_message",reason="foreign_key_violation"');
    // One attempt, no retry, and no second write for the partial answer.
    expect(rolledBack(after) - rolledBack(before)).toBe(1);
    expect(after).not.toMatch(/db_retries_total\{[^}]*reason="foreign_key_violation"/);
    expect(after).not.toContain('operation="save_interrupted_message",reason="foreign_key_violation"');
    expect(logs.records.find((r) => (r.message as { msg?: string })?.msg === 'turn failed')).toBeUndefined();
  });
});
