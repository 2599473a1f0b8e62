import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { ERROR_CODES } from '../src/common/error-codes.js';
import { httpStatusOf } from '../src/errors/http-status.js';
import { STREAM_ERROR_CODES } from '../src/turns/protocol/turn-event.js';
import { startApp, TestApp } from './support/app.js';
import { createSession } from './support/conversation.js';
import { query } from './support/database.js';

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

describe('error bodies', () => {
  let t: TestApp;

  before(async () => {
    t = await startApp({ MULTI_AGENT_MODE: 'false' });
  });
  after(() => t.close());

  async function send(method: string, path: string, body?: string): Promise<Answer> {
    const res = await fetch(`${t.baseUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body,
    });
    return { status: res.status, body: await res.json() };
  }
  const post = (path: string, body: unknown) => send('POST', path, JSON.stringify(body));

  it('lists each field problem in details; a missing field says it is missing, and nothing more', async () => {
    const id = await createSession(t.baseUrl);
    const empty = await post(`/v1/sessions/${id}/messages`, {});
    expect(empty).toEqual({
      status: 400,
      body: {
        statusCode: 400,
        code: 'invalid_input',
        message: 'content is missing',
        details: [{ field: 'content', message: 'content is missing' }],
      },
    });

    const wrong = await post(`/v1/sessions/${id}/messages`, { content: 42, agentType: 'coder', extra: true });
    expect(wrong.status).toBe(400);
    expect(wrong.body.code).toBe('invalid_input');
    expect(wrong.body.details).toEqual([
      { field: 'extra', message: 'extra is not a field of this request' },
      { field: 'content', message: 'content must be a string' },
    ]);
    expect(wrong.body.message).toBe('extra is not a field of this request; content must be a string');

    const blank = await post(`/v1/sessions/${id}/messages`, { content: '   ' });
    expect(blank.body.details).toEqual([{ field: 'content', message: 'content must not be blank' }]);
    // Nothing was stored for any of them.
    expect(await query(t.databaseUrl, `SELECT 1 FROM messages WHERE session_id = $1`, [id])).toEqual([]);
  });

  it('names the field of a bad query parameter and of a nested one', async () => {
    const id = await createSession(t.baseUrl);
    const page = await send('GET', `/v1/sessions/${id}/messages?limit=0`);
    expect(page.body).toMatchObject({
      statusCode: 400,
      code: 'invalid_input',
      details: [{ field: 'limit', message: expect.stringContaining('limit') }],
    });
  });

  it('answers unknown routes, bad JSON, bad ids and unknown agents with their codes', async () => {
    expect(await send('GET', '/v1/nowhere')).toEqual({
      status: 404,
      body: { statusCode: 404, code: 'not_found', message: expect.any(String) },
    });
    expect(await send('POST', '/v1/sessions', '{"title":')).toEqual({
      status: 400,
      body: { statusCode: 400, code: 'invalid_json', message: 'the body is not valid JSON' },
    });
    expect(await send('POST', '/v1/sessions', JSON.stringify({ title: 'x'.repeat(1_100_000) }))).toEqual({
      status: 413,
      body: { statusCode: 413, code: 'payload_too_large', message: 'the body is larger than 1 MB' },
    });
    expect((await send('GET', '/v1/sessions/not-a-uuid')).body).toEqual({
      statusCode: 400,
      code: 'bad_session_id',
      message: 'id must be a UUID',
    });
    const id = await createSession(t.baseUrl);
    expect((await post(`/v1/sessions/${id}/approvals/nope`, { decision: 'approve' })).body).toEqual({
      statusCode: 400,
      code: 'bad_approval_id',
      message: 'approvalId must be a UUID',
    });
    expect((await post('/v1/sessions', { agentType: 'wizard' })).body).toEqual({
      statusCode: 400,
      code: 'unknown_agent',
      message: 'agentType must be one of: universal',
    });
  });

  it('uses one closed list of codes, each with its status, the stream’s codes among them', () => {
    for (const code of ERROR_CODES) expect([code, httpStatusOf(code) >= 400 && httpStatusOf(code) < 600]).toEqual([code, true]);
    expect(httpStatusOf('session_busy')).toBe(409);
    expect(httpStatusOf('llm_timeout')).toBe(504);
    for (const code of STREAM_ERROR_CODES) expect(ERROR_CODES).toContain(code);
  });
});
