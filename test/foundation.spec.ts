import { expect } from 'expect';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { loadSettings } from '../src/config/load-settings.js';
import { adminQuery, query } from './support/database.js';
import { startApp, TestApp } from './support/app.js';
import { eventually } from './support/sse.js';

describe('foundation', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  it('answers liveness and readiness on the real database', async () => {
    await request(t.baseUrl).get('/health/live').expect(200);
    const ready = await request(t.baseUrl).get('/health/ready').expect(200);
    expect(ready.body.details.database.status).toBe('up');
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const doc = await request(t.baseUrl).get('/docs-json').expect(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toContain('/health/ready');
    const ui = await request(t.baseUrl).get('/docs').expect(200);
    expect(ui.text).toContain('swagger');
  });

  it('exports Prometheus metrics with a request id on every answer', async () => {
    const res = await request(t.baseUrl).get('/metrics').expect(200);
    expect(res.text).toContain('process_cpu_user_seconds_total');
    expect(res.headers['x-request-id']).toBeDefined();
    const echoed = await request(t.baseUrl).get('/health/live').set('X-Request-Id', 'abc-123');
    expect(echoed.headers['x-request-id']).toBe('abc-123');
  });

  it('created the schema through migrations, and the entities agree with it', async () => {
    const tables = await query<{ table_name: string }>(
      t.databaseUrl,
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    expect(tables.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['sessions', 'messages', 'turns', 'agent_switches', 'approvals', 'migrations']),
    );
    const pending = await t.dataSource.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('answers 404 JSON for an unknown route and 400 JSON for malformed JSON', async () => {
    const missing = await request(t.baseUrl).get('/nowhere').expect(404);
    expect(missing.body.statusCode).toBe(404);
    const bad = await request(t.baseUrl).post('/health/live').set('Content-Type', 'application/json').send('{"oops":');
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^application\/json/);
    expect(bad.body.statusCode).toBe(400);
    expect(bad.text).not.toMatch(/at .*\.js:\d+/);
  });

  it('turns not ready (503) while the database refuses connections, and recovers', async () => {
    await adminQuery(`ALTER DATABASE ${t.databaseName} ALLOW_CONNECTIONS false`);
    await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [t.databaseName]);
    try {
      const res = await request(t.baseUrl).get('/health/ready');
      expect(res.status).toBe(503);
      expect(res.body.error.database.status).toBe('down');
    } finally {
      await adminQuery(`ALTER DATABASE ${t.databaseName} ALLOW_CONNECTIONS true`);
    }
    // Recovers by itself: at once, or, if the refusals opened the database breaker, after its cooldown.
    await eventually(async () => (await request(t.baseUrl).get('/health/ready')).status === 200, 15_000);
  });
});

describe('settings', () => {
  it('accepts the defaults', () => {
    const s = loadSettings({});
    expect(s.PORT).toBe(3000);
    expect(s.DB_POOL_SIZE).toBe(10);
    expect(s.MULTI_AGENT_MODE).toBe(true);
  });

  it('names each bad setting and the reason', () => {
    expect(() => loadSettings({ DB_POOL_SIZE: 'ten', SLOW_TRANSACTION_MS: '0' })).toThrow(/DB_POOL_SIZE.*integer/s);
    expect(() => loadSettings({ SLOW_TRANSACTION_MS: '0' })).toThrow(/SLOW_TRANSACTION_MS.*less than 1/);
    expect(() => loadSettings({ MULTI_AGENT_MODE: 'maybe' })).toThrow(/MULTI_AGENT_MODE/);
    expect(() => loadSettings({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadSettings({ NODE_ENV: 'production' })).toThrow(/API_KEYS/);
  });

  it('stops the built service at start-up with a message naming the setting', () => {
    const run = spawnSync(process.execPath, ['dist/src/main.js'], {
      env: { ...process.env, DB_POOL_SIZE: '-3', PORT: '0' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('DB_POOL_SIZE');
    expect(run.stderr).toContain('did not start');
  });
});
