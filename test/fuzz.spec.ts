import { expect } from 'expect';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ERROR_CODES, type ErrorCode } from '../src/common/error-codes.js';
import { startApp, TestApp } from './support/app.js';
import { query } from './support/database.js';
import { doneOf, eventsOf, postStream } from './support/sse.js';

/** Fixed, so a failure reproduces; FUZZ_SEED=<n> explores other inputs. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_260_611);
const CASES_PER_ROUTE = 40;
const KEY = 'fuzz-3e1d9c7b5a3f1e0d8c6b4a2f0e9d7c5b';
const AUTH = { Authorization: `Bearer ${KEY}` };

/** mulberry32: a small deterministic generator. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let r = state;
    r = Math.imul(r ^ (r >>> 15), r | 1);
    r ^= r + Math.imul(r ^ (r >>> 7), r | 61);
    return ((r ^ (r >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)], chance: (p: number) => next() < p };
}
type Random = ReturnType<typeof generator>;

const ODD_TEXT = [
  "'; DROP TABLE sessions; --",
  '" OR "1"="1',
  "1'); DELETE FROM messages WHERE ('1'='1",
  '$1 $2 ::text',
  '../../../../etc/passwd',
  '..\\..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2f',
  '<script>alert(1)</script>',
  '${process.exit()} {{7*7}} %s%s%n',
  '\u202Eevil.exe\u202C',
  'Z\u0351\u036B\u0343\u036A\u0302\u036B\u033D\u034F\u0334\u0319\u0324\u031E\u0349 A\u0334\u0335\u031C\u0330',
  '👩‍👩‍👧‍👦 🏳️‍🌈 𝕳𝖊𝖑𝖑𝖔',
  '\uFEFFbom \u200Bzero\u200Dwidth \u00A0nbsp',
  'עברית العربية 中文 日本語 한국어',
  '\r\n\r\nHTTP/1.1 200 OK\r\nX-Injected: 1',
  '\u0001\u0002\u001F\u007F\u0085',
  '\uFFFE\uFFFF\uFDD0',
  'e\u0301 vs é',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  '',
  ' ',
];
const UNSTORABLE_TEXT = ['a\u0000b', '\u0000', 'lone \uD800 high', 'lone \uDFFF low'];
const HUGE_TEXT = ['x'.repeat(100_001), 'é'.repeat(60_000), '😀'.repeat(30_000), 'A'.repeat(300_000)];

function randomText(r: Random): string {
  const ranges: Array<[number, number]> = [
    [0x20, 0x7e],
    [0x00, 0x1f],
    [0xa0, 0x2ff],
    [0x300, 0x36f],
    [0x590, 0x6ff],
    [0x4e00, 0x9fff],
    [0xd800, 0xdfff],
    [0xfff0, 0xffff],
    [0x1f300, 0x1faff],
  ];
  let text = '';
  const length = r.int(40);
  for (let i = 0; i < length; i++) {
    const [lo, hi] = r.pick(ranges);
    text += String.fromCodePoint(lo + r.int(hi - lo + 1));
  }
  return text;
}

function hostileString(r: Random): string {
  const kind = r.int(10);
  if (kind < 4) return r.pick(ODD_TEXT);
  if (kind < 5) return r.pick(UNSTORABLE_TEXT);
  if (kind < 6) return r.pick(HUGE_TEXT);
  return randomText(r);
}

/** An object whose own keys include the ones a prototype-pollution attack uses. */
function withOwn(entries: Array<[string, unknown]>): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, value] of entries) Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

function hostileValue(r: Random, depth = 0): unknown {
  switch (r.int(depth > 2 ? 4 : 8)) {
    case 0:
      return hostileString(r);
    case 1:
      return r.pick([0, -1, 1.5, 1e308, -1e-308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER]);
    case 2:
      return r.pick([true, false, null]);
    case 3:
      return r.pick(['', 'approve', 'edit', 'coder', 'orchestrator', '1', 'true']);
    case 4:
      return Array.from({ length: r.int(4) }, () => hostileValue(r, depth + 1));
    case 5:
      return withOwn([[r.pick(['__proto__', 'constructor', 'prototype', '$gt', 'path']), hostileValue(r, depth + 1)]]);
    case 6:
      return withOwn([
        ['__proto__', { polluted: 'yes' }],
        ['constructor', { prototype: { polluted: 'yes' } }],
      ]);
    default:
      return Array.from({ length: 10_000 }, (_, i) => i);
  }
}

const MALFORMED_BODIES: Array<string | Buffer> = [
  '{',
  '{"content":}',
  '{"content":"a"',
  "{'content':'a'}",
  '{"content":"a",}',
  'NaN',
  '\uFEFF{"content":"bom"}',
  Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0x7b]),
  Buffer.from('{"content":"\xff\xfe invalid utf-8"}', 'latin1'),
  '{"content":"\\ud800"}',
  '{"content":"a\\u0000b"}',
  '{"title":"a\\u0000"}',
  '123',
  '"just a string"',
  'null',
  '[]',
  '',
  '   ',
  '1e999999',
  '{"content":"a","content":1}',
  `{"content":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
  `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`,
  '{"__proto__":{"polluted":"yes"},"content":"x"}',
  '{"constructor":{"prototype":{"polluted":"yes"}},"title":"x"}',
  '{"content":"x","toolCallId":{"$ne":null}}',
];

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/vnd.api+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  '*/*',
  ';;;',
  undefined,
];

/** Path segments as they go on the wire: percent-encoded where HTTP needs it, raw where it allows. */
const HOSTILE_IDS = [
  '%27%3B%20DROP%20TABLE%20sessions%3B%20--',
  '1%20OR%201%3D1',
  "1'OR'1'='1",
  '../../../etc/passwd',
  '..%2F..%2F..%2Fetc%2Fpasswd',
  '..%5C..%5Cwindows',
  '%2e%2e',
  '%00',
  '%E0%A4%A',
  '%F0%9F%98%80',
  '%252e%252e',
  '00000000-0000-0000-0000-000000000000',
  '3F2B8C1E-9A7D-4E6F-8B5C-1D2E3F4A5B6C',
  'c232ab00-9414-11ec-b3c8-9f6bdeced846',
  '3f2b8c1e-9a7d-4e6f-8b5c-1d2e3f4a5b6',
  '3f2b8c1e9a7d4e6f8b5c1d2e3f4a5b6c',
  '*',
  'null',
  'x'.repeat(5_000),
  '%20',
];

/** As they go on the wire, like HOSTILE_IDS. */
const QUERY_VALUES = [
  '-1',
  '0',
  '1',
  '100',
  '101',
  '1e3',
  'abc',
  '1%3BDROP%20TABLE%20x',
  '',
  '%00',
  '99999999999999999999',
  '1.5',
  '%27%20OR%201%3D1',
  'pending',
  'evil',
];

type FieldKind = 'text' | 'agent' | 'callId' | 'decision' | 'object';
interface Route {
  method: string;
  path: string;
  fields?: Record<string, FieldKind>;
  query?: string[];
}

const ROUTES: Route[] = [
  { method: 'POST', path: '/v1/sessions', fields: { title: 'text', agentType: 'agent' } },
  { method: 'GET', path: '/v1/sessions', query: ['limit', 'cursor'] },
  { method: 'GET', path: '/v1/sessions/:id' },
  { method: 'PATCH', path: '/v1/sessions/:id', fields: { title: 'text' } },
  { method: 'DELETE', path: '/v1/sessions/:id' },
  { method: 'GET', path: '/v1/sessions/:id/messages', query: ['limit', 'after'] },
  { method: 'POST', path: '/v1/sessions/:id/messages', fields: { content: 'text', agentType: 'agent' } },
  { method: 'POST', path: '/v1/sessions/:id/tool-results', fields: { toolCallId: 'callId', output: 'text', error: 'text' } },
  {
    method: 'POST',
    path: '/v1/sessions/:id/approvals/:approvalId',
    fields: { decision: 'decision', arguments: 'object', feedback: 'text' },
  },
  { method: 'GET', path: '/v1/sessions/:id/approvals', query: ['status'] },
  { method: 'POST', path: '/v1/sessions/:id/cancel' },
  { method: 'GET', path: '/v1/sessions/:id/agent' },
  { method: 'PUT', path: '/v1/sessions/:id/agent', fields: { agentType: 'agent', reason: 'text' } },
  { method: 'GET', path: '/v1/agents' },
  { method: 'GET', path: '/health/live', query: ['verbose'] },
  { method: 'GET', path: '/health/ready' },
  { method: 'GET', path: '/metrics', query: ['name[]'] },
  { method: 'GET', path: '/docs-json' },
];

/** Every UTF-8 byte but the unreserved ones as %XX (unlike encodeURIComponent, fine with lone surrogates). */
function percentEncoded(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((b) => (/[\w.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`))
    .join('');
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request exactly as given (raw path, raw bytes, any headers), over node:http. */
function send(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    // Node sends a GET body without framing unless told its length; the server would read it as a next request.
    const framing = body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(body)) };
    const req = httpRequest({ hostname, port, method, path, headers: { ...headers, ...framing }, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path.slice(0, 200)}: no answer in 20 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const STACK_TRACE = /\n\s+at .+:\d+:\d+|\bat (?:async )?[\w.<>]+ \(|node_modules|\/dist\/(?:src|test)\/|\.[jt]s:\d+:\d+/;
const DATABASE_TEXT =
  /QueryFailedError|syntax error at or near|violates \w+ constraint|relation "\w+"|column "\w+"|invalid input syntax for|duplicate key value|invalid byte sequence|unsupported Unicode escape|typeorm|\bpg_\w+/i;

/** What every answer to hostile input must satisfy. `what` names the request so a failure can be replayed. */
function expectSafe(answer: Answer, what: string): void {
  expect({ what, status: answer.status < 500 }).toEqual({ what, status: true });
  expect({ what, stack: STACK_TRACE.test(answer.text) ? answer.text.slice(0, 500) : 'none' }).toEqual({ what, stack: 'none' });
  expect({ what, sql: DATABASE_TEXT.exec(answer.text)?.[0] ?? 'none' }).toEqual({ what, sql: 'none' });
  const type = String(answer.headers['content-type'] ?? '');
  if (answer.status >= 400) {
    expect({ what, type }).toEqual({ what, type: expect.stringMatching(/^application\/json/) });
    // The one error body: {statusCode, code, message, details?}, with a code from the closed list.
    const body = JSON.parse(answer.text) as { statusCode: number; code: string; message: unknown; details?: unknown };
    expect({ what, statusCode: body.statusCode, code: ERROR_CODES.includes(body.code as ErrorCode), message: typeof body.message }).toEqual(
      {
        what,
        statusCode: answer.status,
        code: true,
        message: 'string',
      },
    );
    expect({ what, keys: Object.keys(body).filter((k) => !['statusCode', 'code', 'message', 'details'].includes(k)) }).toEqual({
      what,
      keys: [],
    });
  }
  if (type.startsWith('text/event-stream')) {
    const events = answer.text
      .split('\n')
      .filter((l) => l.startsWith('event: '))
      .map((l) => l.slice(7));
    expect({ what, last: events.at(-1) }).toEqual({ what, last: 'done' });
    expect({ what, internal: answer.text.includes('"internal_error"') }).toEqual({ what, internal: false });
  }
}

describe('hostile input', () => {
  let t: TestApp;

  before(async () => {
    t = await startApp({ API_KEYS: `${KEY}:fuzzer`, RATE_LIMIT_PER_MINUTE: '1000000' });
  });
  after(() => t.close());

  async function createSession(body: Record<string, unknown> = {}): Promise<string> {
    const res = await send(t.baseUrl, 'POST', '/v1/sessions', { ...AUTH, 'Content-Type': 'application/json' }, JSON.stringify(body));
    expect(res.status).toBe(201);
    return (JSON.parse(res.text) as { id: string }).id;
  }

  async function messagesOf(sessionId: string): Promise<Array<{ role: string; content: string; toolCallId?: string }>> {
    const res = await send(t.baseUrl, 'GET', `/v1/sessions/${sessionId}/messages?limit=500`, AUTH);
    return (JSON.parse(res.text) as { items: Array<{ role: string; content: string; toolCallId?: string }> }).items;
  }

  it('stores odd Unicode, quotes and SQL text verbatim, and reads it back identical', async () => {
    const odd = `Ünïcödé 👩‍👩‍👧‍👦 𝕳𝖊𝖑𝖑𝖔 עברית العربية 中文 \u202Eevil\u202C "double" 'single' \`back\` \\ e\u0301 \u200B\uFEFF '; DROP TABLE sessions; -- <b>x</b> %s \${x}`;
    expect(odd.length).toBeLessThanOrEqual(200);
    const sessionsBefore = (await query(t.databaseUrl, `SELECT count(*)::int AS n FROM sessions`))[0].n as number;

    const id = await createSession({ title: odd, agentType: 'coder' });
    const read = async () => JSON.parse((await send(t.baseUrl, 'GET', `/v1/sessions/${id}`, AUTH)).text) as { title: string };
    expect((await read()).title).toBe(odd);
    const renamed = `${odd} (renamed)`;
    expect(
      (
        await send(
          t.baseUrl,
          'PATCH',
          `/v1/sessions/${id}`,
          { ...AUTH, 'Content-Type': 'application/json' },
          JSON.stringify({ title: renamed }),
        )
      ).status,
    ).toBe(200);
    expect((await read()).title).toBe(renamed);

    const content = `${odd}\n\n  indented\ttab\r\nwindows line  `;
    const turn = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content }, { headers: AUTH });
    expect(doneOf(turn).status).toBe('completed');
    expect((await messagesOf(id)).find((m) => m.role === 'user')?.content).toBe(content);

    // A tool's output too, and a rejection's feedback.
    const reading = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'read README.md' }, { headers: AUTH });
    const toolCallId = eventsOf(reading, 'tool_call')[0].data.toolCallId as string;
    const output = `${odd}\n${'{"json": ["inside", null]}'}\n`;
    expect(doneOf(await postStream(`${t.baseUrl}/v1/sessions/${id}/tool-results`, { toolCallId, output }, { headers: AUTH })).status).toBe(
      'completed',
    );
    expect((await messagesOf(id)).find((m) => m.toolCallId === toolCallId)?.content).toBe(output);

    const writing = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'create a file notes.md' }, { headers: AUTH });
    const approvalId = eventsOf(writing, 'approval_required')[0].data.approvalId as string;
    await postStream(`${t.baseUrl}/v1/sessions/${id}/approvals/${approvalId}`, { decision: 'reject', feedback: odd }, { headers: AUTH });
    const [approval] = await query(t.databaseUrl, `SELECT status, feedback FROM approvals WHERE id = $1`, [approvalId]);
    expect(approval).toEqual({ status: 'rejected', feedback: odd });

    const [row] = await query(t.databaseUrl, `SELECT title FROM sessions WHERE id = $1`, [id]);
    expect(row.title).toBe(renamed);
    // The table is still there, with exactly the one session this test made (the SQL in the title never ran).
    expect(await query(t.databaseUrl, `SELECT count(*)::int AS n FROM sessions`)).toEqual([{ n: sessionsBefore + 1 }]);
  });

  it('answers 400 naming the field for text PostgreSQL cannot store (NUL, lone surrogates), never 500', async () => {
    const id = await createSession({ agentType: 'coder' });
    const reading = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'read README.md' }, { headers: AUTH });
    const toolCallId = eventsOf(reading, 'tool_call')[0].data.toolCallId as string;
    const cases: Array<[string, string, Record<string, unknown>, string]> = [
      ['POST', '/v1/sessions', { title: 'a\u0000b' }, 'title'],
      ['PATCH', `/v1/sessions/${id}`, { title: '\u0000' }, 'title'],
      ['POST', `/v1/sessions/${id}/messages`, { content: 'hello\u0000world' }, 'content'],
      ['POST', `/v1/sessions/${id}/messages`, { content: 'broken \uD800 pair' }, 'content'],
      ['POST', `/v1/sessions/${id}/messages`, { content: 'ok', agentType: 'coder\u0000' }, 'agentType'],
      ['POST', `/v1/sessions/${id}/tool-results`, { toolCallId, output: 'out\u0000put' }, 'output'],
      ['POST', `/v1/sessions/${id}/tool-results`, { toolCallId, error: '\u0000' }, 'error'],
      ['POST', `/v1/sessions/${id}/tool-results`, { toolCallId: 'call\u0000', output: 'x' }, 'toolCallId'],
      ['POST', `/v1/sessions/${id}/approvals/${id}`, { decision: 'reject', feedback: 'no\u0000' }, 'feedback'],
      ['POST', `/v1/sessions/${id}/approvals/${id}`, { decision: 'edit', arguments: { path: 'a\u0000.md' } }, 'arguments.path'],
      ['POST', `/v1/sessions/${id}/approvals/${id}`, { decision: 'edit', arguments: { ['k\u0000']: 1 } }, 'arguments'],
      ['PUT', `/v1/sessions/${id}/agent`, { agentType: 'architect', reason: 'because\u0000' }, 'reason'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await send(t.baseUrl, method, path, { ...AUTH, 'Content-Type': 'application/json' }, JSON.stringify(body));
      const what = `${method} ${path} ${field}`;
      expect({ what, status: res.status }).toEqual({ what, status: 400 });
      const answer = JSON.parse(res.text) as { code: string; message: string };
      expect({ what, code: answer.code, names: answer.message.startsWith(field) || answer.message.includes(` ${field} `) }).toEqual({
        what,
        code: 'invalid_input',
        names: true,
      });
    }
    // Nothing was half-written: the tool call still waits for its result, and takes a good one.
    expect((await messagesOf(id)).filter((m) => m.role === 'tool')).toEqual([]);
    const result = await postStream(`${t.baseUrl}/v1/sessions/${id}/tool-results`, { toolCallId, output: 'fine' }, { headers: AUTH });
    expect(doneOf(result).status).toBe('completed');
  });

  it('answers 413 JSON to a body over 1 MB', async () => {
    const id = await createSession();
    const res = await send(
      t.baseUrl,
      'POST',
      `/v1/sessions/${id}/messages`,
      { ...AUTH, 'Content-Type': 'application/json' },
      JSON.stringify({ content: 'x'.repeat(1_100_000) }),
    );
    expect(res.status).toBe(413);
    expectSafe(res, 'POST a 1.1 MB message');
    expect(await messagesOf(id)).toEqual([]);
  });

  it('sets security headers, with a policy Swagger UI works under', async () => {
    const api = await send(t.baseUrl, 'GET', '/v1/agents', AUTH);
    expect(api.headers['x-content-type-options']).toBe('nosniff');
    expect(api.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(api.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(api.headers['x-powered-by']).toBeUndefined();
    const policy = String(api.headers['content-security-policy']);
    expect(policy).toContain("default-src 'self'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toContain('upgrade-insecure-requests');

    // Swagger UI: every script is a same-origin file (script-src 'self' allows it, no inline
    // script needs 'unsafe-inline'), every stylesheet and icon loads.
    const ui = await send(t.baseUrl, 'GET', '/docs', {});
    expect(ui.status).toBe(200);
    expect(ui.headers['content-security-policy']).toBe(policy);
    const scripts = [...ui.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThanOrEqual(3);
    const assets: string[] = [];
    for (const [, attributes, inline] of scripts) {
      expect(inline.trim()).toBe('');
      const src = /src="([^"]+)"/.exec(attributes)?.[1];
      expect(src).toMatch(/^\.\//);
      assets.push(src!);
    }
    assets.push(...[...ui.text.matchAll(/<link[^>]+href="([^"]+)"/g)].map((m) => m[1]));
    for (const asset of assets) {
      const res = await send(t.baseUrl, 'GET', new URL(asset, `${t.baseUrl}/docs`).pathname, {});
      expect({ asset, status: res.status }).toEqual({ asset, status: 200 });
    }
  });

  it(`survives ${CASES_PER_ROUTE} random hostile requests per route (seed ${SEED}): no 5xx, no stack trace, no SQL`, async () => {
    const sessionId = await createSession({ agentType: 'coder' });
    const reading = await postStream(`${t.baseUrl}/v1/sessions/${sessionId}/messages`, { content: 'read README.md' }, { headers: AUTH });
    const approvalSessionId = await createSession({ agentType: 'coder' });
    const writing = await postStream(
      `${t.baseUrl}/v1/sessions/${approvalSessionId}/messages`,
      { content: 'create a file notes.md' },
      { headers: AUTH },
    );
    const live = {
      sessionId,
      approvalSessionId,
      toolCallId: eventsOf(reading, 'tool_call')[0].data.toolCallId as string,
      approvalId: eventsOf(writing, 'approval_required')[0].data.approvalId as string,
    };
    const r = generator(SEED);

    const sessionIdFor = (route: Route): string => {
      if (r.chance(0.4)) {
        // DELETE gets a throwaway session, so the live ones keep reaching the deeper code.
        if (route.method === 'DELETE') return '';
        return r.pick([live.sessionId, live.approvalSessionId]);
      }
      return r.chance(0.8) ? r.pick(HOSTILE_IDS) : percentEncoded(hostileString(r).slice(0, 300));
    };
    const fieldValue = (kind: FieldKind): unknown => {
      if (r.chance(0.5)) return hostileValue(r);
      switch (kind) {
        case 'text':
          return r.chance(0.5) ? r.pick(ODD_TEXT) || 'hello' : `say ${randomText(r).replace(/[\uD800-\uDFFF\u0000]/g, '')}`;
        case 'agent':
          return r.pick(['coder', 'ask', 'architect', 'debug', 'orchestrator', 'universal', 'Coder', 'root']);
        case 'callId':
          return r.chance(0.5) ? live.toolCallId : r.pick(ODD_TEXT);
        case 'decision':
          return r.pick(['approve', 'edit', 'reject', 'APPROVE', 'yes']);
        case 'object':
          return r.pick([{ path: 'notes.md', content: 'x' }, { path: '../../etc/passwd' }, {}, [], 'string']);
      }
    };
    const bodyFor = (route: Route): { body?: string | Buffer; contentType?: string } => {
      const contentType = r.chance(0.75) ? 'application/json' : r.pick(CONTENT_TYPES);
      if (r.chance(0.2)) return { body: r.pick(MALFORMED_BODIES), contentType };
      const entries: Array<[string, unknown]> = [];
      for (const [field, kind] of Object.entries(route.fields ?? {})) if (r.chance(0.8)) entries.push([field, fieldValue(kind)]);
      if (r.chance(0.2))
        entries.push([r.pick(['__proto__', 'constructor', 'prototype', 'owner', 'id', 'sessionId', 'extra']), hostileValue(r)]);
      if (!route.fields && r.chance(0.6)) return {};
      return { body: JSON.stringify(withOwn(entries)), contentType };
    };
    const queryFor = (route: Route): string => {
      const names = [
        ...(route.query ?? []),
        ...(r.chance(0.2) ? [r.pick(['__proto__[polluted]', 'constructor[prototype][polluted]', 'limit[$gt]', 'x'])] : []),
      ];
      const pairs = names
        .filter(() => r.chance(0.7))
        .map((name) => `${encodeURIComponent(name).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${r.pick(QUERY_VALUES)}`);
      if (r.chance(0.1)) pairs.push(pairs[0] ?? 'limit=1');
      return pairs.length ? `?${pairs.join('&')}` : '';
    };
    const authFor = (): Record<string, string> => {
      if (r.chance(0.9)) return AUTH;
      return r.pick<Record<string, string>>([
        {},
        { Authorization: 'Bearer' },
        { Authorization: `Bearer ${KEY} ${KEY}` },
        { Authorization: `bearer ${KEY}` },
        { Authorization: `Basic ${KEY}` },
        { Authorization: `Bearer ${'\u00e9'.repeat(100)}` },
      ]);
    };

    let sent = 0;
    const statuses = new Map<number, number>();
    for (let round = 0; round < CASES_PER_ROUTE; round++) {
      for (const route of ROUTES) {
        let id = route.path.includes(':id') ? sessionIdFor(route) : '';
        if (route.path.includes(':id') && id === '') id = await createSession();
        const approvalId = r.chance(0.5) ? live.approvalId : r.pick(HOSTILE_IDS);
        const path = route.path.replace(':id', id).replace(':approvalId', approvalId) + queryFor(route);
        const { body, contentType } =
          route.method === 'GET' || route.method === 'DELETE' ? (r.chance(0.1) ? bodyFor(route) : {}) : bodyFor(route);
        const headers: Record<string, string> = {
          ...authFor(),
          Accept: r.pick(['application/json', 'text/event-stream', '*/*', 'text/html', 'x/y']),
        };
        if (contentType) headers['Content-Type'] = contentType;
        if (body !== undefined && r.chance(0.03)) headers['Content-Encoding'] = r.pick(['gzip', 'deflate', 'br', 'x-unknown']);
        const what = `seed ${SEED} round ${round}: ${route.method} ${path.slice(0, 200)} ${JSON.stringify(headers)} body ${String(body ?? '').slice(0, 200)}`;
        const answer = await send(t.baseUrl, route.method, path, headers, body);
        expectSafe(answer, what);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        sent++;
      }
    }
    expect(sent).toBe(CASES_PER_ROUTE * ROUTES.length);
    // The run reached past validation too: some requests were served, some refused for many reasons.
    for (const status of [200, 201, 400, 401, 404])
      expect({ status, seen: (statuses.get(status) ?? 0) > 0 }).toEqual({ status, seen: true });
  });

  it('is healthy afterwards: ready, unpolluted, no 5xx ever recorded, and a normal turn still works', async () => {
    expect((await send(t.baseUrl, 'GET', '/health/ready', {})).status).toBe(200);
    const blank = {} as Record<string, unknown>;
    expect(blank.polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');

    const metrics = (await send(t.baseUrl, 'GET', '/metrics', {})).text;
    const serverErrors = metrics.split('\n').filter((l) => l.startsWith('http_request_duration_seconds_count') && /status="5\d\d"/.test(l));
    expect(serverErrors).toEqual([]);

    const tables = await query(
      t.databaseUrl,
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    expect(tables.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(['sessions', 'messages', 'turns', 'agent_switches', 'approvals']),
    );

    const id = await createSession();
    const turn = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'Are you still well?' }, { headers: AUTH });
    expect(doneOf(turn).status).toBe('completed');
    expect((await messagesOf(id)).map((m) => m.role)).toEqual(['user', 'assistant']);
  });
});
