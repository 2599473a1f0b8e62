import { SchedulerRegistry } from '@nestjs/schedule';
import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SessionRetention } from '../src/sessions/session-retention.js';
import { startApp, TestApp } from './support/app.js';
import { query } from './support/database.js';
import { doneOf, postStream } from './support/sse.js';

const TTL_HOURS = 24;

describe('session retention', () => {
  let t: TestApp;
  let retention: SessionRetention;

  before(async () => {
    t = await startApp({ SESSION_TTL_HOURS: String(TTL_HOURS) });
    retention = t.app.get(SessionRetention);
  });
  after(() => t.close());

  async function createSession(title: string): Promise<string> {
    const res = await fetch(`${t.baseUrl}/v1/sessions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  async function idleFor(id: string, hours: number): Promise<void> {
    await query(t.databaseUrl, `UPDATE sessions SET last_activity_at = now() - make_interval(hours => $2) WHERE id = $1`, [id, hours]);
  }

  async function status(id: string): Promise<number> {
    return (await fetch(`${t.baseUrl}/v1/sessions/${id}`)).status;
  }

  it('runs on a schedule', () => {
    expect(t.app.get(SchedulerRegistry).getInterval('session-retention')).toBeDefined();
  });

  it('soft-deletes sessions idle past SESSION_TTL_HOURS, and only those', async () => {
    const stale = await createSession('stale');
    const fresh = await createSession('fresh');
    const almost = await createSession('idle just under the TTL');
    const running = await createSession('stale but a turn holds its lease');
    const crashed = await createSession('stale, its turn died and the lease expired');
    await idleFor(stale, TTL_HOURS + 1);
    await idleFor(almost, TTL_HOURS - 1);
    await idleFor(running, TTL_HOURS * 10);
    await idleFor(crashed, TTL_HOURS * 10);
    await query(t.databaseUrl, `UPDATE sessions SET active_turn_id = $2, lease_expires_at = now() + interval '1 hour' WHERE id = $1`, [
      running,
      randomUUID(),
    ]);
    await query(t.databaseUrl, `UPDATE sessions SET active_turn_id = $2, lease_expires_at = now() - interval '1 hour' WHERE id = $1`, [
      crashed,
      randomUUID(),
    ]);

    expect(await retention.expireIdleSessions()).toBe(2);

    expect(await status(stale)).toBe(404);
    expect(await status(crashed)).toBe(404);
    for (const kept of [fresh, almost, running]) expect(await status(kept)).toBe(200);
    const listed = (await (await fetch(`${t.baseUrl}/v1/sessions?limit=100`)).json()) as { items: Array<{ id: string }> };
    expect(listed.items.map((s) => s.id).sort()).toEqual([fresh, almost, running].sort());

    // Soft: the rows stay, marked deleted.
    const rows = await query<{ id: string; deleted: boolean }>(
      t.databaseUrl,
      `SELECT id, deleted_at IS NOT NULL AS deleted FROM sessions WHERE id = ANY($1::uuid[])`,
      [[stale, crashed, fresh, almost, running]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.deleted]))).toEqual({
      [stale]: true,
      [crashed]: true,
      [fresh]: false,
      [almost]: false,
      [running]: false,
    });

    expect(await retention.expireIdleSessions()).toBe(0);
    await query(t.databaseUrl, `UPDATE sessions SET active_turn_id = NULL, lease_expires_at = NULL WHERE id = $1`, [running]);
  });

  it('counts a turn as activity: a session talked to again is not expired', async () => {
    const revived = await createSession('revived');
    await idleFor(revived, TTL_HOURS * 2);
    const turn = await postStream(`${t.baseUrl}/v1/sessions/${revived}/messages`, { content: 'Still there?' });
    expect(doneOf(turn).status).toBe('completed');
    await retention.expireIdleSessions();
    expect(await status(revived)).toBe(200);
  });

  it('expires many sessions in several short micro-transactions within a Unit of Work', async () => {
    await query(
      t.databaseUrl,
      `INSERT INTO sessions (owner, current_agent, last_activity_at)
       SELECT 'bulk', 'orchestrator', now() - interval '30 days' FROM generate_series(1, 1234)`,
    );
    const before = await commits();
    expect(await retention.expireIdleSessions()).toBe(1234);
    const [{ left }] = await query<{ left: number }>(
      t.databaseUrl,
      `SELECT count(*)::int AS left FROM sessions WHERE owner = 'bulk' AND deleted_at IS NULL`,
    );
    expect(left).toBe(0);
    // 500 + 500 + 234: three commits, each named in the transaction metrics.
    expect((await commits()) - before).toBe(3);
  });

  async function commits(): Promise<number> {
    const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('sse_transaction_commits_total{') && l.includes('operation="expire_sessions"') && l.includes('status="success"'),
      );
    return line ? Number(line.split(' ').pop()) : 0;
  }
});
