/**
 * The logs of the real service process (`node dist/src/main.js`, as it runs in production): where
 * it listens at start, what a stop interrupted, and no user text anywhere, even when a database
 * error carries the message in its parameters and details.
 */
import { expect } from 'expect';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { afterTokens, createSession, streamInBackground } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { LoggedService } from './support/logged-service.js';
import { doneOf, eventsOf, postStream } from './support/sse.js';

describe('the service logs', () => {
  let db: { name: string; url: string };
  let service: LoggedService;
  let baseUrl: string;
  const stub = new OpenAiStub();
  const secret = `purple-elephant-${randomBytes(6).toString('hex')}`;
  // Not shaped like a key (no `sk-`), so only the configured key's own redaction removes it.
  const apiKey = `logs-key-${randomBytes(8).toString('hex')}`;

  before(async () => {
    db = await createTestDatabase();
    const llm = await stub.start();
    service = new LoggedService({
      DATABASE_URL: db.url,
      PORT: '0',
      LOG_LEVEL: 'debug',
      LLM_BASE_URL: llm,
      LLM_API_KEY: apiKey,
      LLM_MODEL: 'stub',
    });
  });
  after(async () => {
    if (service.child.exitCode === null) service.child.kill('SIGKILL');
    await stub.close();
    await dropTestDatabase(db.name);
  });

  it('say at start where the service listens, its API docs and the playground', async () => {
    const started = await service.line((l) => typeof l.url === 'string');
    baseUrl = started.url as string;
    expect(started).toMatchObject({ msg: `listening on ${baseUrl}`, docs: `${baseUrl}/docs`, playground: `${baseUrl}/` });
    expect(baseUrl).toMatch(/^http:\/\/[\w.[\]:]+:\d+$/);
    expect((await fetch(`${baseUrl}/docs`)).status).toBe(200);
    expect((await fetch(`${baseUrl}/`)).headers.get('content-type')).toBe('text/html; charset=utf-8');
  });

  it('never hold the text of a message whose turn failed on a database error that carries it', async () => {
    // A database that refuses the user's message, quoting it in the error's detail.
    await query(
      db.url,
      `CREATE FUNCTION reject_user_messages() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.role = 'user' THEN RAISE EXCEPTION 'message refused' USING DETAIL = 'content: ' || NEW.content; END IF;
         RETURN NEW;
       END $$;
       CREATE TRIGGER reject_user_messages BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION reject_user_messages();`,
    );
    const session = await createSession(baseUrl);
    const result = await postStream(`${baseUrl}/v1/sessions/${session}/messages`, { content: `My plan is ${secret}.` });
    expect(doneOf(result).status).toBe('failed');
    expect(eventsOf(result, 'error')[0].data.code).toBe('internal_error');

    const failed = await service.line((l) => l.msg === 'turn failed');
    // The error is still described: its type, the database's message and code.
    expect(failed.err).toMatchObject({ type: 'QueryFailedError', message: 'message refused', code: 'P0001' });
    expect(service.output).not.toContain(secret);
    await query(db.url, 'DROP TRIGGER reject_user_messages ON messages');
  });

  it("give a provider's refusal in its own words, without the API key it quotes or the user's text", async () => {
    stub.reply({ status: 401, errorMessage: `Incorrect API key provided: ${apiKey}. You can find your API key in your account.` });
    const session = await createSession(baseUrl, { agentType: 'ask' });
    const result = await postStream(`${baseUrl}/v1/sessions/${session}/messages`, { content: `Keep ${secret} to yourself.` });
    expect(eventsOf(result, 'error')[0].data.code).toBe('llm_auth_failed');

    const refused = await service.line((l) => l.msg === 'LLM provider call failed');
    // 40: pino's warn.
    expect(refused).toMatchObject({ level: 40, status: 401, code: 'llm_auth_failed' });
    expect(refused.providerMessage).toContain('Incorrect API key provided: [redacted].');
    expect(refused.providerMessage).not.toContain(apiKey);
    expect(service.output).not.toContain(apiKey);
    expect(service.output).not.toContain(secret);
  });

  it('say when a stop begins, which turns it interrupted, and when it ends', async () => {
    // An answer that takes a while, so that the stop finds the turn running.
    stub.respond(() => ({ text: Array.from({ length: 200 }, (_, i) => `word${i} `), delayMs: 20 }));
    const session = await createSession(baseUrl, { agentType: 'ask' });
    const { reached, result: streaming } = streamInBackground(
      `${baseUrl}/v1/sessions/${session}/messages`,
      { content: `Tell me about ${secret}.` },
      afterTokens(1),
    );
    await reached;
    const running = await query<{ id: string }>(db.url, "SELECT id FROM turns WHERE status = 'running'");
    service.child.kill('SIGTERM');
    expect(doneOf(await streaming).status).toBe('interrupted');
    // 'close': the process exited and its output is all read.
    const [code] = (await once(service.child, 'close')) as [number | null];
    expect(service.lines.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SIGTERM' });
    expect(service.lines.find((l) => l.msg === 'stopping: interrupting running turns')).toMatchObject({
      count: 1,
      turns: [{ turnId: running[0].id, sessionId: session }],
    });
    expect(service.lines.find((l) => l.msg === 'running turns interrupted and recorded')).toMatchObject({ recorded: 1, cut: 0 });
    expect(service.lines.find((l) => l.msg === 'stopped')).toMatchObject({ signal: 'SIGTERM', durationMs: expect.any(Number) });
    expect(code === 0 || code === null).toBe(true);
    expect(service.output).not.toContain(secret);
  });
});
