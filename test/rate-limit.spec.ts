import { expect } from 'expect';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { postStream } from './support/sse.js';

const LIMIT = 5;
const ALICE = 'alice-5c0f9e8d7c6b5a4938271605f4e3d2c1';
const ALICE_SECOND = 'alice-2-0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const BOB = 'bob-1a2b3c4d5e6f708192a3b4c5d6e7f8091';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One request over node:http, from `localAddress` (any 127.x address reaches the test server). */
function send(
  baseUrl: string,
  path: string,
  options: { key?: string; localAddress?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        localAddress: options.localAddress,
        headers: { ...(options.key ? { Authorization: `Bearer ${options.key}` } : {}), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function expectLimited(answer: Answer): void {
  expect(answer.status).toBe(429);
  expect(answer.json).toEqual({
    statusCode: 429,
    code: 'rate_limited',
    message: expect.stringContaining(`more than ${LIMIT} requests a minute`),
  });
  const retryAfter = Number(answer.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
}

describe('rate limits per API key', () => {
  let t: TestApp;

  before(async () => {
    t = await startApp({ API_KEYS: `${ALICE}:alice,${ALICE_SECOND}:alice,${BOB}:bob`, RATE_LIMIT_PER_MINUTE: String(LIMIT) });
  });
  after(() => t.close());

  it('allows RATE_LIMIT_PER_MINUTE requests a minute per key, then answers 429 JSON with Retry-After, on every route', async () => {
    for (let i = 0; i < LIMIT; i++) {
      const ok = await send(t.baseUrl, '/v1/sessions', { key: ALICE });
      expect(ok.status).toBe(200);
      expect(ok.headers['x-ratelimit-limit']).toBe(String(LIMIT));
      expect(ok.headers['x-ratelimit-remaining']).toBe(String(LIMIT - 1 - i));
    }
    expectLimited(await send(t.baseUrl, '/v1/sessions', { key: ALICE }));
    // One budget across routes: the other routes are closed to this key too, a turn included.
    expectLimited(await send(t.baseUrl, '/v1/agents', { key: ALICE }));
    const turn = await postStream(
      `${t.baseUrl}/v1/sessions/3f2b8c1e-9a7d-4e6f-8b5c-1d2e3f4a5b6c/messages`,
      { content: 'hi' },
      {
        headers: { Authorization: `Bearer ${ALICE}` },
      },
    );
    expect(turn.status).toBe(429);
    expect(turn.json.code).toBe('rate_limited');
  });

  it("never spends one key's budget on another: Bob, and Alice's second key, are still served", async () => {
    for (const key of [BOB, ALICE_SECOND]) {
      for (let i = 0; i < LIMIT; i++) expect((await send(t.baseUrl, '/v1/agents', { key })).status).toBe(200);
    }
    expectLimited(await send(t.baseUrl, '/v1/agents', { key: BOB }));
  });

  it('does not limit health checks, and answers 401 (not 429) to a bad key', async () => {
    for (let i = 0; i < LIMIT * 4; i++) {
      expect((await send(t.baseUrl, '/health/live')).status).toBe(200);
      expect((await send(t.baseUrl, '/health/ready', { key: ALICE })).status).toBe(200);
    }
    expect((await send(t.baseUrl, '/v1/agents', { key: 'not-a-key' })).status).toBe(401);
  });
});

describe('rate limits per client address when the service runs open', () => {
  let t: TestApp;

  before(async () => {
    t = await startApp({ RATE_LIMIT_PER_MINUTE: String(LIMIT) });
  });
  after(() => t.close());

  it('limits each address on its own, and a forged X-Forwarded-For buys no new budget', async () => {
    for (let i = 0; i < LIMIT; i++) {
      const forged = { 'X-Forwarded-For': `10.0.0.${i}` };
      expect((await send(t.baseUrl, '/v1/sessions', { localAddress: '127.0.0.2', headers: forged })).status).toBe(200);
    }
    expectLimited(await send(t.baseUrl, '/v1/sessions', { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '10.9.9.9' } }));
    expectLimited(await send(t.baseUrl, '/v1/sessions', { localAddress: '127.0.0.2', key: 'any' }));
    expect((await send(t.baseUrl, '/v1/sessions', { localAddress: '127.0.0.3' })).status).toBe(200);
    expect((await send(t.baseUrl, '/health/ready', { localAddress: '127.0.0.2' })).status).toBe(200);
  });
});
