import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventIdOf } from '../src/turns/event-log/event-ids.js';
import { events } from '../src/turns/protocol/events.js';
import { TurnRecovery } from '../src/turns/turn-recovery.js';
import { startApp, TestApp } from './support/app.js';
import { afterTokens, api, createSession, streamInBackground } from './support/conversation.js';
import { query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, postStream } from './support/sse.js';

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);

describe('conversations: one turn at a time, leases, cancel', () => {
  const stub = new OpenAiStub();
  let env: Record<string, string>;
  let t: TestApp;

  before(async () => {
    // A short lease: the renewal (every second) must keep a longer turn alive, and a dead lease frees the session soon.
    env = { LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub', MULTI_AGENT_MODE: 'false', SESSION_LEASE_SECONDS: '2' };
    t = await startApp(env);
  });
  after(async () => {
    await t.close();
    await stub.close();
  });

  const messagesUrl = (id: string, base = t.baseUrl) => `${base}/v1/sessions/${id}/messages`;

  /** A running turn on a fresh session, past its first tokens. */
  async function runningTurn(base = t.baseUrl) {
    const id = await createSession(base);
    const requestIndex = stub.requests.length;
    const running = streamInBackground(messagesUrl(id, base), { content: 'Talk slowly' }, afterTokens(3));
    await running.reached;
    return { id, running, request: () => stub.requests[requestIndex] };
  }

  describe('one turn at a time', () => {
    it('answers a second message 409 session_busy JSON before any stream, and takes the next one the moment done arrives', async () => {
      stub.reply({ text: words(15), delayMs: 40 });
      const { id, running } = await runningTurn();
      const second = await postStream(messagesUrl(id), { content: 'Me too' });
      expect(second.status).toBe(409);
      expect(second.headers.get('content-type')).toMatch(/^application\/json/);
      expect(second.events).toEqual([]);
      expect(second.json).toMatchObject({ statusCode: 409, code: 'session_busy', message: expect.stringContaining(id) });
      const first = await running.result;
      expect(doneOf(first).status).toBe('completed');
      expect(eventsOf(first, 'message').map((e) => e.data.message.content)).toEqual(['Talk slowly', words(15).join('')]);

      // The refused message left nothing behind.
      const rows = await query(t.databaseUrl, `SELECT content FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
      expect(rows.map((r) => r.content)).not.toContain('Me too');
      expect(await query(t.databaseUrl, `SELECT id FROM turns WHERE session_id = $1`, [id])).toHaveLength(1);

      // The next turn is sent while the previous stream is still open, right on reading its done event.
      stub.reply({ text: 'Quick answer.' });
      for (let i = 0; i < 3; i++) {
        let onDone!: () => void;
        const doneSeen = new Promise<void>((resolve) => (onDone = resolve));
        const current = postStream(
          messagesUrl(id),
          { content: `quick ${i}` },
          {
            stopWhen: (e) => {
              if (e.event === 'done') onDone();
              return false;
            },
          },
        );
        // A refused post (409 JSON, no events) ends without done: it fails below instead of waiting for ever.
        await Promise.race([doneSeen, current]);
        const next = postStream(messagesUrl(id), { content: `right after ${i}` });
        expect(doneOf(await current).status).toBe('completed');
        const answer = await next;
        expect(answer.status).toBe(200);
        expect(doneOf(answer).status).toBe('completed');
      }
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body).toMatchObject({ status: 'idle', messageCount: 2 + 12 });
    });

    it('lets exactly one of many simultaneous messages through', async () => {
      stub.reply({ text: words(5), delayMs: 20 });
      const id = await createSession(t.baseUrl);
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => postStream(messagesUrl(id), { content: `racing ${i}` })));
      expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409, 409, 409, 409, 409]);
      expect(await query(t.databaseUrl, `SELECT id FROM turns WHERE session_id = $1`, [id])).toHaveLength(1);
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body.messageCount).toBe(2);
    });

    it('keeps the lease of a turn longer than SESSION_LEASE_SECONDS by renewing it', async () => {
      stub.reply({ text: words(35), delayMs: 100 });
      const { id, running } = await runningTurn();
      await sleep(2_800);
      const [lease] = await query(t.databaseUrl, `SELECT lease_expires_at > now() AS held FROM sessions WHERE id = $1`, [id]);
      expect(lease.held).toBe(true);
      expect((await postStream(messagesUrl(id), { content: 'now?' })).status).toBe(409);
      expect(doneOf(await running.result).status).toBe('completed');
    });

    it('stops a turn whose lease lapsed (a renewal came too late) instead of reviving it: interrupted, lease_lost, its answer kept once', async () => {
      stub.reply({ text: words(60), delayMs: 50 });
      const { id, running } = await runningTurn();
      // As if the renewals had stalled: the lease is over, and another request or the sweep may take the session.
      await query(t.databaseUrl, `UPDATE sessions SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
      const result = await running.result;
      expect(doneOf(result).status).toBe('interrupted');
      const [turn] = await query(t.databaseUrl, `SELECT status, error FROM turns WHERE session_id = $1`, [id]);
      expect(turn).toEqual({ status: 'interrupted', error: 'lease_lost' });
      await t.app.get(TurnRecovery).sweep();
      const rows = await query(t.databaseUrl, `SELECT role, status FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
      expect(rows).toEqual([
        { role: 'user', status: 'complete' },
        { role: 'assistant', status: 'interrupted' },
      ]);
    });

    it('lets the sweep end a lapsed turn first: the turn stores no second answer and no second done, and its client gets the recorded one', async () => {
      stub.reply({ text: words(60), delayMs: 50 });
      const { id, running } = await runningTurn();
      const storedTokens = async () =>
        (
          await query<{ n: number }>(
            t.databaseUrl,
            `SELECT count(*)::int AS n FROM turn_events e JOIN turns t ON t.id = e.turn_id, jsonb_array_elements(e.events) x
             WHERE t.session_id = $1 AND jsonb_typeof(x) = 'string'`,
            [id],
          )
        )[0].n;
      await eventually(async () => (await storedTokens()) > 0);
      // The sweep runs right after the lapse, before the next renewal (every second) tells the turn.
      await query(t.databaseUrl, `UPDATE sessions SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
      await t.app.get(TurnRecovery).sweep();
      const result = await running.result;
      const done = result.events.at(-1)!;
      expect(done).toMatchObject({ event: 'done', data: { status: 'interrupted' } });
      const rows = await query(t.databaseUrl, `SELECT role, status FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
      expect(rows).toEqual([
        { role: 'user', status: 'complete' },
        { role: 'assistant', status: 'interrupted' },
      ]);
      const stored = await query<{ id: string }>(
        t.databaseUrl,
        `SELECT e.id::text FROM turn_events e JOIN turns t ON t.id = e.turn_id, jsonb_array_elements(e.events) x
         WHERE t.session_id = $1 AND x->>'type' = 'done'`,
        [id],
      );
      expect(stored.map((r) => r.id)).toEqual([String(done.id)]);
    });

    it('takes over the lease of a crashed process once it has expired, and records the dead turn interrupted', async () => {
      const id = await createSession(t.baseUrl);
      const dead = randomUUID();
      await query(
        t.databaseUrl,
        `INSERT INTO turns (id, session_id, kind, agent, status) VALUES ($1, $2, 'message', 'universal', 'running')`,
        [dead, id],
      );
      await query(t.databaseUrl, `UPDATE sessions SET active_turn_id = $1, lease_expires_at = now() - interval '1 second' WHERE id = $2`, [
        dead,
        id,
      ]);
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body.status).toBe('idle');

      stub.reply({ text: 'I am back.' });
      const result = await postStream(messagesUrl(id), { content: 'Anyone there?' });
      expect(result.status).toBe(200);
      expect(doneOf(result).status).toBe('completed');
      const turns = await query(t.databaseUrl, `SELECT id, status, finished_at FROM turns WHERE session_id = $1`, [id]);
      expect(turns.find((r) => r.id === dead)).toMatchObject({ status: 'interrupted', finished_at: expect.any(Date) });
      // Its `done`, stored by `start_turn` in the turn's kept slot, is the protocol constructor's event.
      const stored = await query(t.databaseUrl, `SELECT events FROM turn_events WHERE turn_id = $1`, [dead]);
      expect(stored).toEqual([{ events: [events.done(dead, 'interrupted', { input: 0, output: 0 })] }]);
      expect(turns.find((r) => r.id === doneOf(result).turnId)).toMatchObject({ status: 'completed' });
      const [session] = await query(t.databaseUrl, `SELECT active_turn_id, lease_expires_at FROM sessions WHERE id = $1`, [id]);
      expect(session).toEqual({ active_turn_id: null, lease_expires_at: null });
    });

    it("keeps a dead turn's streamed answer once: recovery does not store it again when the turn had committed it before its event", async () => {
      // Two turns of processes killed mid-answer, as a SIGKILL leaves them: the user's message and the
      // tokens stored as events, no done, the lease expired. The first had also committed its answer,
      // but died before the event behind it (`message`, stored behind the stream) was written.
      const deadTurn = async (answerCommitted: boolean) => {
        const id = await createSession(t.baseUrl);
        const turnId = randomUUID();
        const [{ seq }] = await query(
          t.databaseUrl,
          `INSERT INTO turns (id, session_id, kind, agent, status) VALUES ($1, $2, 'message', 'universal', 'running') RETURNING seq`,
          [turnId, id],
        );
        const [user] = await query(
          t.databaseUrl,
          `INSERT INTO messages (session_id, turn_id, role, content, agent) VALUES ($1, $2, 'user', 'Go on', 'universal') RETURNING id`,
          [id, turnId],
        );
        const stored = [
          { type: 'turn', data: { turnId, sessionId: id, agent: 'universal' } },
          { type: 'message', data: { message: { id: user.id, role: 'user', content: 'Go on' } } },
          'Half ',
          'said',
        ];
        await query(t.databaseUrl, `INSERT INTO turn_events (id, first_id, turn_id, events) VALUES ($1, $2, $3, $4::jsonb)`, [
          eventIdOf(Number(seq), stored.length),
          eventIdOf(Number(seq), 1),
          turnId,
          JSON.stringify(stored),
        ]);
        if (answerCommitted) {
          await query(
            t.databaseUrl,
            `INSERT INTO messages (session_id, turn_id, role, content, agent) VALUES ($1, $2, 'assistant', 'Half said', 'universal')`,
            [id, turnId],
          );
        }
        await query(
          t.databaseUrl,
          `UPDATE sessions SET active_turn_id = $1, lease_expires_at = now() - interval '1 second', message_count = $3 WHERE id = $2`,
          [turnId, id, answerCommitted ? 2 : 1],
        );
        return id;
      };
      const committed = await deadTurn(true);
      const streamedOnly = await deadTurn(false);

      await t.app.get(TurnRecovery).sweep();
      const history = async (id: string) =>
        query(t.databaseUrl, `SELECT role, status, content FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
      expect(await history(committed)).toEqual([
        { role: 'user', status: 'complete', content: 'Go on' },
        { role: 'assistant', status: 'complete', content: 'Half said' },
      ]);
      // Without a stored answer, recovery keeps what was streamed: the same text, interrupted.
      expect(await history(streamedOnly)).toEqual([
        { role: 'user', status: 'complete', content: 'Go on' },
        { role: 'assistant', status: 'interrupted', content: 'Half said' },
      ]);
      for (const id of [committed, streamedOnly]) {
        expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body.messageCount).toBe(2);
      }
    });

    it('refuses turns with 409 while a lease of another process is live, until it expires', async () => {
      const id = await createSession(t.baseUrl);
      const other = randomUUID();
      await query(
        t.databaseUrl,
        `INSERT INTO turns (id, session_id, kind, agent, status) VALUES ($1, $2, 'message', 'universal', 'running')`,
        [other, id],
      );
      const [{ until }] = await query(
        t.databaseUrl,
        `UPDATE sessions SET active_turn_id = $1, lease_expires_at = now() + interval '2 seconds' WHERE id = $2 RETURNING lease_expires_at AS until`,
        [other, id],
      );
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body.status).toBe('busy');
      expect((await postStream(messagesUrl(id), { content: 'blocked' })).json.code).toBe('session_busy');
      stub.reply({ text: 'Free again.' });
      const result = await eventually(async () => {
        const attempt = await postStream(messagesUrl(id), { content: 'and now?' });
        if (attempt.status === 409) return undefined;
        return attempt;
      }, 5_000);
      expect(Date.now()).toBeGreaterThanOrEqual((until as Date).getTime() - 50);
      expect(doneOf(result).status).toBe('completed');
      const [dead] = await query(t.databaseUrl, `SELECT status FROM turns WHERE id = $1`, [other]);
      expect(dead.status).toBe('interrupted');
    });
  });

  describe('cancel', () => {
    it('stops a streaming turn within a second: 202 {cancelled:true}, done{cancelled}, the partial answer kept as interrupted, the LLM request aborted', async () => {
      stub.reply({ text: words(100), delayMs: 50 });
      const { id, running, request } = await runningTurn();
      const cancelledAt = Date.now();
      const cancel = await api(t.baseUrl, 'POST', `/v1/sessions/${id}/cancel`);
      expect(cancel.status).toBe(202);
      expect(cancel.body).toEqual({ cancelled: true });
      const result = await running.result;
      const endedAt = Date.now();
      expect(endedAt - cancelledAt).toBeLessThan(1_000);

      const names = result.events.map((e) => e.event);
      expect(names[names.length - 1]).toBe('done');
      expect(names).not.toContain('error');
      expect(doneOf(result).status).toBe('cancelled');
      const streamed = eventsOf(result, 'token')
        .map((e) => e.data.delta)
        .join('');
      expect(streamed.length).toBeGreaterThan(0);
      const stored = eventsOf(result, 'message').map((e) => e.data.message);
      expect(stored[stored.length - 1]).toMatchObject({ role: 'assistant', status: 'interrupted', content: streamed });

      await eventually(async () => request()?.aborted);
      const history = await api(t.baseUrl, 'GET', `/v1/sessions/${id}/messages`);
      expect(history.body.items.map((m: { role: string; status: string }) => [m.role, m.status])).toEqual([
        ['user', 'complete'],
        ['assistant', 'interrupted'],
      ]);
      expect(history.body.items[1].content).toBe(streamed);
      const [turn] = await query(t.databaseUrl, `SELECT status, cancel_requested_at FROM turns WHERE id = $1`, [doneOf(result).turnId]);
      expect(turn).toMatchObject({ status: 'cancelled', cancel_requested_at: expect.any(Date) });
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).body).toMatchObject({ status: 'idle', messageCount: 2 });

      // Nothing runs now; the session takes the next turn, whose context holds the interrupted answer.
      expect((await api(t.baseUrl, 'POST', `/v1/sessions/${id}/cancel`)).body).toEqual({ cancelled: false });
      stub.reply({ text: 'Continuing.' });
      expect(doneOf(await postStream(messagesUrl(id), { content: 'go on' })).status).toBe('completed');
      const context = stub.agentRequests[stub.agentRequests.length - 1].body.messages;
      expect(context.slice(1).map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    });

    it('answers 202 {cancelled:false} when nothing runs, and 404 for an unknown session', async () => {
      const id = await createSession(t.baseUrl);
      const res = await api(t.baseUrl, 'POST', `/v1/sessions/${id}/cancel`);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ cancelled: false });
      const unknown = await api(t.baseUrl, 'POST', `/v1/sessions/${randomUUID()}/cancel`);
      expect(unknown.status).toBe(404);
    });

    it('cancels before the first token: done{cancelled} and no assistant message', async () => {
      stub.reply({ text: words(5), delayMs: 1_500 });
      const id = await createSession(t.baseUrl);
      const requestIndex = stub.requests.length;
      const running = streamInBackground(messagesUrl(id), { content: 'Think hard' }, (e) => e.event === 'message');
      await running.reached;
      await eventually(async () => stub.requests.length > requestIndex);
      expect((await api(t.baseUrl, 'POST', `/v1/sessions/${id}/cancel`)).body).toEqual({ cancelled: true });
      const result = await running.result;
      expect(doneOf(result).status).toBe('cancelled');
      expect(eventsOf(result, 'token')).toEqual([]);
      await eventually(async () => stub.requests[requestIndex].aborted);
      const rows = await query(t.databaseUrl, `SELECT role FROM messages WHERE session_id = $1`, [id]);
      expect(rows.map((r) => r.role)).toEqual(['user']);
    });
  });

  describe('deleting a session during its turn', () => {
    it('stops the turn within the lease renewal: done{interrupted}, the LLM request aborted, 404 from then on', async () => {
      stub.reply({ text: words(100), delayMs: 50 });
      const { id, running, request } = await runningTurn();
      const deletedAt = Date.now();
      expect((await fetch(`${t.baseUrl}/v1/sessions/${id}`, { method: 'DELETE' })).status).toBe(204);
      const result = await running.result;
      expect(Date.now() - deletedAt).toBeLessThan(2_000);
      expect(doneOf(result).status).toBe('interrupted');
      await eventually(async () => request()?.aborted);
      const [turn] = await query(t.databaseUrl, `SELECT status FROM turns WHERE id = $1`, [doneOf(result).turnId]);
      expect(turn.status).toBe('interrupted');
      expect((await api(t.baseUrl, 'GET', `/v1/sessions/${id}`)).status).toBe(404);
      expect((await postStream(messagesUrl(id), { content: 'hello?' })).status).toBe(404);
    });
  });

  describe('across instances on one database', () => {
    let second: TestApp;
    before(async () => {
      second = await startApp(env, { name: t.databaseName, url: t.databaseUrl });
    });
    after(() => second.close());

    it('refuses a turn on the other instance with 409, and stops the turn when the other instance is asked to cancel', async () => {
      stub.reply({ text: words(100), delayMs: 50 });
      const { id, running, request } = await runningTurn();
      expect((await api(second.baseUrl, 'GET', `/v1/sessions/${id}`)).body.status).toBe('busy');
      const refused = await postStream(messagesUrl(id, second.baseUrl), { content: 'from elsewhere' });
      expect(refused.status).toBe(409);
      expect(refused.json.code).toBe('session_busy');

      const cancelledAt = Date.now();
      const cancel = await api(second.baseUrl, 'POST', `/v1/sessions/${id}/cancel`);
      expect(cancel.status).toBe(202);
      expect(cancel.body).toEqual({ cancelled: true });
      const result = await running.result;
      // The owner reads the request with its lease renewal, once a second.
      expect(Date.now() - cancelledAt).toBeLessThan(2_000);
      expect(doneOf(result).status).toBe('cancelled');
      await eventually(async () => request()?.aborted);
      const rows = await query(t.databaseUrl, `SELECT role, status FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
      expect(rows).toEqual([
        { role: 'user', status: 'complete' },
        { role: 'assistant', status: 'interrupted' },
      ]);

      // The other instance takes the next turn at once.
      stub.reply({ text: 'Hello from the second instance.' });
      const next = await postStream(messagesUrl(id, second.baseUrl), { content: 'still there?' });
      expect(doneOf(next).status).toBe('completed');
    });
  });
});
