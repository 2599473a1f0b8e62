import { expect } from 'expect';
import { ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { findFreePort } from '../src/database/embedded-postgres.js';
import { startApp, TestApp } from './support/app.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { doneOf, eventsOf, eventually, getStream, postStream } from './support/sse.js';

const ALICE = 'alice-7d1f0c2b9e4a4f6b8c3d2e1f0a9b8c7d';
const ALICE_SECOND = 'alice-2-1b2c3d4e5f60718293a4b5c6d7e8f901';
const BOB = 'bob-9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const API_KEYS = `${ALICE}:alice,${ALICE_SECOND}:alice,${BOB}:bob`;

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { key?: string; headers?: Record<string, string>; body?: unknown } = {},
) {
  const headers: Record<string, string> = { ...(options.key ? bearer(options.key) : {}), ...options.headers };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, headers: res.headers, text, json: json as any };
}

describe('API keys and owners', () => {
  let t: TestApp;

  before(async () => {
    t = await startApp({ API_KEYS });
  });
  after(() => t.close());

  const someId = '3f2b8c1e-9a7d-4e6f-8b5c-1d2e3f4a5b6c';
  const everyRoute: Array<[string, string, unknown?]> = [
    ['POST', '/v1/sessions', {}],
    ['GET', '/v1/sessions'],
    ['GET', `/v1/sessions/${someId}`],
    ['PATCH', `/v1/sessions/${someId}`, { title: 'x' }],
    ['DELETE', `/v1/sessions/${someId}`],
    ['GET', `/v1/sessions/${someId}/messages`],
    ['POST', `/v1/sessions/${someId}/messages`, { content: 'hi' }],
    ['POST', `/v1/sessions/${someId}/tool-results`, { toolCallId: 'call_1', output: 'x' }],
    ['POST', `/v1/sessions/${someId}/approvals/${someId}`, { decision: 'approve' }],
    ['GET', `/v1/sessions/${someId}/approvals`],
    ['POST', `/v1/sessions/${someId}/cancel`],
    ['GET', `/v1/sessions/${someId}/agent`],
    ['PUT', `/v1/sessions/${someId}/agent`, { agentType: 'coder' }],
    ['GET', '/v1/agents'],
  ];

  it('answers 401 JSON on every /v1 route without a valid Bearer key, before looking at the body or the id', async () => {
    const refusals: Array<Record<string, string> | undefined> = [
      undefined,
      { Authorization: '' },
      { Authorization: 'Bearer' },
      { Authorization: 'Bearer ' },
      { Authorization: `Basic ${Buffer.from(`alice:${ALICE}`).toString('base64')}` },
      { Authorization: ALICE },
      { Authorization: `Bearer ${ALICE.slice(0, -1)}` },
      { Authorization: `Bearer ${ALICE}x` },
      { Authorization: `Bearer ${ALICE.toUpperCase()}` },
      { Authorization: `Bearer ${ALICE} ${BOB}` },
      { Authorization: 'Bearer alice' },
      { Authorization: `Bearer ${'k'.repeat(4000)}` },
    ];
    for (const [method, path, body] of everyRoute) {
      for (const headers of refusals) {
        const res = await call(t.baseUrl, method, path, { headers, body });
        expect({ method, path, headers, status: res.status }).toEqual({ method, path, headers, status: 401 });
        expect(res.json).toEqual({ statusCode: 401, code: 'unauthorized', message: expect.any(String) });
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    // A malformed body is not even read without a key.
    const bad = await call(t.baseUrl, 'POST', '/v1/sessions', { body: { title: 42, unknown: true } });
    expect(bad.status).toBe(401);
    expect(await query(t.databaseUrl, `SELECT id FROM sessions`)).toEqual([]);
  });

  it('accepts the Bearer scheme in any case, and records the key owner on what it creates', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await call(t.baseUrl, 'POST', '/v1/sessions', {
        headers: { Authorization: `${scheme} ${BOB}` },
        body: { title: scheme },
      });
      expect(res.status).toBe(201);
      const [row] = await query(t.databaseUrl, `SELECT owner FROM sessions WHERE id = $1`, [res.json.id]);
      expect(row.owner).toBe('bob');
    }
    const agents = await call(t.baseUrl, 'GET', '/v1/agents', { key: ALICE });
    expect(agents.status).toBe(200);
    expect(agents.json.items.length).toBeGreaterThan(0);
  });

  it('keeps /health open, and /metrics and the docs open by default', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics', '/docs', '/docs-json']) {
      expect({ path, status: (await fetch(`${t.baseUrl}${path}`)).status }).toEqual({ path, status: 200 });
      // A wrong key on a public route is ignored, not refused.
      expect({ path, status: (await fetch(`${t.baseUrl}${path}`, { headers: bearer('nope') })).status }).toEqual({ path, status: 200 });
    }
  });

  it('gives another owner 404 on every route of a session, hides it from lists, and changes nothing of it', async () => {
    // Alice's sessions: one waiting for a tool result, one waiting for an approval.
    const create = async (title: string) =>
      (await call(t.baseUrl, 'POST', '/v1/sessions', { key: ALICE, body: { title, agentType: 'coder' } })).json.id as string;
    const reading = await create('reading');
    const writing = await create('writing');
    const read = await postStream(
      `${t.baseUrl}/v1/sessions/${reading}/messages`,
      { content: 'read README.md' },
      { headers: bearer(ALICE) },
    );
    expect(doneOf(read).status).toBe('awaiting_tool_result');
    const toolCallId = eventsOf(read, 'tool_call')[0].data.toolCallId as string;
    const write = await postStream(
      `${t.baseUrl}/v1/sessions/${writing}/messages`,
      { content: 'create a file notes.md' },
      { headers: bearer(ALICE) },
    );
    expect(doneOf(write).status).toBe('awaiting_approval');
    const approvalId = eventsOf(write, 'approval_required')[0].data.approvalId as string;

    const snapshot = () =>
      query(
        t.databaseUrl,
        `SELECT s.id, s.owner, s.title, s.current_agent, s.message_count, s.deleted_at, s.active_turn_id,
                (SELECT count(*)::int FROM messages m WHERE m.session_id = s.id) AS messages,
                (SELECT count(*)::int FROM turns u WHERE u.session_id = s.id) AS turns,
                (SELECT count(*)::int FROM agent_switches a WHERE a.session_id = s.id) AS switches,
                (SELECT json_agg(p.status) FROM approvals p WHERE p.session_id = s.id) AS approvals
         FROM sessions s WHERE s.owner = 'alice' ORDER BY s.id`,
      );
    const before = await snapshot();

    // Every session route, as documented in the OpenAPI document, tried by Bob on Alice's sessions.
    const asBob: Record<string, () => Promise<{ status: number; json?: { code?: string } }>> = {
      'GET /v1/sessions/{id}': () => call(t.baseUrl, 'GET', `/v1/sessions/${reading}`, { key: BOB }),
      'PATCH /v1/sessions/{id}': () => call(t.baseUrl, 'PATCH', `/v1/sessions/${reading}`, { key: BOB, body: { title: 'mine now' } }),
      'DELETE /v1/sessions/{id}': () => call(t.baseUrl, 'DELETE', `/v1/sessions/${reading}`, { key: BOB }),
      'GET /v1/sessions/{id}/messages': () => call(t.baseUrl, 'GET', `/v1/sessions/${reading}/messages`, { key: BOB }),
      'POST /v1/sessions/{id}/messages': () =>
        postStream(`${t.baseUrl}/v1/sessions/${reading}/messages`, { content: 'hello' }, { headers: bearer(BOB) }),
      'POST /v1/sessions/{id}/tool-results': () =>
        postStream(`${t.baseUrl}/v1/sessions/${reading}/tool-results`, { toolCallId, output: 'forged' }, { headers: bearer(BOB) }),
      'POST /v1/sessions/{id}/approvals/{approvalId}': () =>
        postStream(`${t.baseUrl}/v1/sessions/${writing}/approvals/${approvalId}`, { decision: 'approve' }, { headers: bearer(BOB) }),
      'GET /v1/sessions/{id}/approvals': () => call(t.baseUrl, 'GET', `/v1/sessions/${writing}/approvals`, { key: BOB }),
      'POST /v1/sessions/{id}/cancel': () => call(t.baseUrl, 'POST', `/v1/sessions/${reading}/cancel`, { key: BOB }),
      'GET /v1/sessions/{id}/agent': () => call(t.baseUrl, 'GET', `/v1/sessions/${reading}/agent`, { key: BOB }),
      'PUT /v1/sessions/{id}/agent': () =>
        call(t.baseUrl, 'PUT', `/v1/sessions/${reading}/agent`, { key: BOB, body: { agentType: 'architect' } }),
      'GET /v1/sessions/{id}/stream': () => getStream(`${t.baseUrl}/v1/sessions/${reading}/stream`, { headers: bearer(BOB) }),
      'GET /v1/sessions/{id}/turns/{turnId}/stream': () =>
        getStream(`${t.baseUrl}/v1/sessions/${reading}/turns/${doneOf(read).turnId}/stream`, { headers: bearer(BOB) }),
    };
    const doc = (await call(t.baseUrl, 'GET', '/docs-json')).json as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/v1/sessions/{id}'))
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
    expect(documented.length).toBeGreaterThanOrEqual(10);
    for (const route of documented) {
      expect({ route, covered: route in asBob }).toEqual({ route, covered: true });
      const res = await asBob[route]();
      expect({ route, status: res.status, code: res.json?.code }).toEqual({ route, status: 404, code: 'session_not_found' });
    }

    // Lists: each owner sees exactly its own sessions, whichever of its keys it uses.
    const bobs = await call(t.baseUrl, 'GET', '/v1/sessions?limit=100', { key: BOB });
    expect(bobs.json.items.map((s: { id: string }) => s.id)).not.toEqual(expect.arrayContaining([reading]));
    expect(bobs.json.items.map((s: { id: string }) => s.id)).not.toEqual(expect.arrayContaining([writing]));
    for (const key of [ALICE, ALICE_SECOND]) {
      const alices = await call(t.baseUrl, 'GET', '/v1/sessions?limit=100', { key });
      expect(alices.json.items.map((s: { id: string }) => s.id).sort()).toEqual([reading, writing].sort());
    }
    expect(await snapshot()).toEqual(before);

    // Bob's own session is just as invisible to Alice.
    const bobsOwn = bobs.json.items[0].id as string;
    expect((await call(t.baseUrl, 'GET', `/v1/sessions/${bobsOwn}`, { key: ALICE })).status).toBe(404);
    expect((await call(t.baseUrl, 'GET', `/v1/sessions/${bobsOwn}`, { key: BOB })).status).toBe(200);

    // What Bob could not do, Alice (with either key) still can.
    const result = await postStream(
      `${t.baseUrl}/v1/sessions/${reading}/tool-results`,
      { toolCallId, output: '# README' },
      { headers: bearer(ALICE_SECOND) },
    );
    expect(doneOf(result).status).toBe('completed');
    const decided = await postStream(
      `${t.baseUrl}/v1/sessions/${writing}/approvals/${approvalId}`,
      { decision: 'approve' },
      { headers: bearer(ALICE) },
    );
    expect(eventsOf(decided, 'tool_call')).toHaveLength(1);
    expect((await call(t.baseUrl, 'GET', `/v1/sessions/${reading}/messages`, { key: ALICE })).json.items.length).toBeGreaterThan(3);
  });
});

describe('METRICS_PUBLIC=false and DOCS_PUBLIC=false', () => {
  let t: TestApp;

  before(async () => {
    t = await startApp({ API_KEYS, METRICS_PUBLIC: 'false', DOCS_PUBLIC: 'false' });
  });
  after(() => t.close());

  it('require a key for /metrics, /docs and /docs-json; /health stays open', async () => {
    for (const path of ['/metrics', '/docs', '/docs/', '/docs/swagger-ui-init.js', '/docs-json', '/docs-yaml']) {
      const refused = await call(t.baseUrl, 'GET', path);
      expect({ path, status: refused.status, body: refused.json }).toEqual({
        path,
        status: 401,
        body: { statusCode: 401, code: 'unauthorized', message: expect.any(String) },
      });
      expect({ path, status: (await call(t.baseUrl, 'GET', path, { key: 'wrong' })).status }).toEqual({ path, status: 401 });
      expect({ path, status: (await call(t.baseUrl, 'GET', path, { key: BOB })).status }).toEqual({ path, status: 200 });
    }
    for (const path of ['/health/live', '/health/ready']) expect((await fetch(`${t.baseUrl}${path}`)).status).toBe(200);
  });
});

describe('without API_KEYS', () => {
  let t: TestApp;

  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  it('serves every request as the one owner "local", whatever Authorization says', async () => {
    for (const headers of [{}, bearer('anything'), { Authorization: 'Basic eDp5' }]) {
      const res = await call(t.baseUrl, 'POST', '/v1/sessions', { headers, body: {} });
      expect(res.status).toBe(201);
      expect((await call(t.baseUrl, 'GET', `/v1/sessions/${res.json.id}`)).status).toBe(200);
    }
    const owners = await query(t.databaseUrl, `SELECT DISTINCT owner FROM sessions`);
    expect(owners).toEqual([{ owner: 'local' }]);
  });
});

interface Service {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** The built service as an operator runs it, with its log output kept. */
function spawnService(env: Record<string, string>, port: number): Service {
  const chunks: Buffer[] = [];
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', PORT: String(port), API_KEYS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  child.stderr!.on('data', (c: Buffer) => chunks.push(c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, baseUrl: `http://127.0.0.1:${port}`, output: () => Buffer.concat(chunks).toString('utf8'), exited };
}

async function ready(service: Service): Promise<void> {
  await eventually(async () => (await fetch(`${service.baseUrl}/health/ready`).catch(() => undefined))?.status === 200, 30_000);
}

describe('the service process', () => {
  let db: { name: string; url: string };

  before(async () => {
    db = await createTestDatabase();
  });
  after(() => dropTestDatabase(db.name));

  it('warns at start that it runs open without API_KEYS', async () => {
    const service = spawnService({ DATABASE_URL: db.url }, await findFreePort());
    try {
      await ready(service);
      await eventually(async () => service.output().includes('API_KEYS is not set'), 5_000);
      expect(service.output()).toMatch(/"level":40.*API_KEYS is not set: the service is OPEN/);
    } finally {
      service.child.kill('SIGTERM');
      await service.exited;
    }
  });

  it('never writes a key to its logs, valid or not', async () => {
    const wrong = 'wrong-0f1e2d3c4b5a69788796a5b4c3d2e1f0';
    const service = spawnService({ DATABASE_URL: db.url, API_KEYS }, await findFreePort());
    try {
      await ready(service);
      expect((await call(service.baseUrl, 'POST', '/v1/sessions', { key: ALICE, body: {} })).status).toBe(201);
      expect((await call(service.baseUrl, 'GET', '/v1/sessions', { key: wrong })).status).toBe(401);
      expect((await call(service.baseUrl, 'GET', '/v1/sessions', { headers: { Authorization: ALICE } })).status).toBe(401);
      expect((await call(service.baseUrl, 'GET', '/v1/agents', { key: BOB })).status).toBe(200);
      await eventually(async () => (service.output().match(/"url":"\/v1\//g) ?? []).length >= 4, 5_000);
      const output = service.output();
      expect(output).toContain('API keys required: 3 key(s) for 2 owner(s)');
      expect(output).toContain('"authorization":"[Redacted]"');
      for (const secret of [ALICE, ALICE_SECOND, BOB, wrong, ALICE.slice(0, 12), wrong.slice(0, 12)]) expect(output).not.toContain(secret);
    } finally {
      service.child.kill('SIGTERM');
      await service.exited;
    }
  });

  it('refuses to start in production without API_KEYS, or with a repeated key, naming no key', async () => {
    const open = spawnService({ DATABASE_URL: db.url, NODE_ENV: 'production' }, await findFreePort());
    expect(await open.exited).toBe(1);
    expect(open.output()).toMatch(/API_KEYS: must be set when NODE_ENV=production[\s\S]*The service did not start/);

    const repeated = spawnService({ DATABASE_URL: db.url, API_KEYS: `${ALICE}:alice,${BOB}:bob,${ALICE}:mallory` }, await findFreePort());
    expect(await repeated.exited).toBe(1);
    expect(repeated.output()).toMatch(/API_KEYS: pair 3 repeats an earlier key[\s\S]*The service did not start/);
    expect(repeated.output()).not.toContain(ALICE);

    const malformed = spawnService({ DATABASE_URL: db.url, API_KEYS: `${ALICE}:alice,${BOB}` }, await findFreePort());
    expect(await malformed.exited).toBe(1);
    expect(malformed.output()).toMatch(/API_KEYS \(value not shown\): API_KEYS must be a list of key:owner pairs/);
    expect(malformed.output()).not.toContain(ALICE);
    expect(malformed.output()).not.toContain(BOB);
  });
});
