/**
 * The database gauges behind LongDatabaseTransaction and DatabasePoolSaturation, read from the real
 * PostgreSQL at scrape time: a transaction and a lock wait held by another client show up in them.
 */
import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startApp, TestApp } from './support/app.js';
import { query } from './support/database.js';

async function scrape(baseUrl: string): Promise<string> {
  return (await fetch(`${baseUrl}/metrics`)).text();
}

function valueOf(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  if (!line) throw new Error(`${name}${labels} is not in /metrics`);
  return Number(line.split(' ')[1]);
}

async function gauge(baseUrl: string, name: string, labels = ''): Promise<number> {
  return valueOf(await scrape(baseUrl), name, labels);
}

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setImmediate(resolve));
}

describe('database activity gauges', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ DB_POOL_SIZE: '7' });
  });
  after(() => t?.close());

  it('read the oldest transaction and the longest lock wait of other clients at each scrape', async () => {
    expect(await gauge(t.baseUrl, 'db_longest_lock_wait_seconds')).toBe(0);

    const holder = new pg.Client({ connectionString: t.databaseUrl });
    const waiter = new pg.Client({ connectionString: t.databaseUrl });
    await holder.connect();
    await waiter.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE');
      const waiting = waiter.query('SELECT count(*) FROM sessions');
      await waitFor(async () => {
        const rows = await query(t.databaseUrl, 'SELECT 1 FROM pg_locks WHERE NOT granted AND waitstart IS NOT NULL');
        return rows.length > 0;
      });

      const metrics = await scrape(t.baseUrl);
      const oldest = valueOf(metrics, 'db_oldest_transaction_seconds');
      const lockWait = valueOf(metrics, 'db_longest_lock_wait_seconds');
      expect(lockWait).toBeGreaterThan(0);
      // The holder's transaction began before the waiter started to wait.
      expect(oldest).toBeGreaterThanOrEqual(lockWait);

      await holder.query('COMMIT');
      await waiting;
      expect(await gauge(t.baseUrl, 'db_longest_lock_wait_seconds')).toBe(0);
    } finally {
      await holder.end();
      await waiter.end();
    }
  });

  it('report the pool: its size and its connections by state', async () => {
    expect(await gauge(t.baseUrl, 'db_pool_max_connections')).toBe(7);
    expect((await fetch(`${t.baseUrl}/health/ready`)).status).toBe(200); // leaves a pooled connection idle
    const quiet = await scrape(t.baseUrl);
    const idle = valueOf(quiet, 'db_pool_connections', '{state="idle"}');
    expect(idle).toBeGreaterThan(0);
    expect(valueOf(quiet, 'db_pool_connections', '{state="busy"}') + idle).toBeLessThanOrEqual(7);
    expect(valueOf(quiet, 'db_pool_connections', '{state="waiting"}')).toBe(0);

    // Two connections of the service's own pool taken out of it: one only held, one in a statement.
    // (Reads: outside a Unit of Work the write guard refuses anything else, BEGIN included.)
    const holders = [t.dataSource.createQueryRunner(), t.dataSource.createQueryRunner()];
    const held: Array<Promise<unknown>> = [];
    try {
      for (const runner of holders) await runner.connect();
      held.push(holders[0].query('SELECT pg_sleep(0.5)'));
      const during = await scrape(t.baseUrl);
      const busy = valueOf(during, 'db_pool_connections', '{state="busy"}');
      expect(busy).toBeGreaterThanOrEqual(2);
      expect(busy + valueOf(during, 'db_pool_connections', '{state="idle"}')).toBeLessThanOrEqual(7);
    } finally {
      await Promise.all(held);
      for (const runner of holders) await runner.release();
    }
    // Released, they are idle again and none is busy on their account.
    const released = await scrape(t.baseUrl);
    expect(valueOf(released, 'db_pool_connections', '{state="busy"}')).toBeLessThan(2);
    expect(valueOf(released, 'db_pool_connections', '{state="idle"}')).toBeGreaterThanOrEqual(2);
    expect(valueOf(released, 'db_pool_connections', '{state="waiting"}')).toBe(0);
  });
});
