import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionEntity } from '../src/sessions/session.entity.js';
import { NoUnitOfWorkError } from '../src/unit-of-work/transaction-errors.js';
import { TransactionHost } from '../src/unit-of-work/transaction-host.js';
import { startApp, TestApp } from './support/app.js';
import { createSession } from './support/conversation.js';
import { query } from './support/database.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, postStream } from './support/sse.js';

describe('the stream-scoped Unit of Work', () => {
  const stub = new OpenAiStub();
  let t: TestApp;

  before(async () => {
    const url = await stub.start();
    t = await startApp({ LLM_BASE_URL: url, LLM_API_KEY: 'test', LLM_MODEL: 'stub-model', MULTI_AGENT_MODE: 'false', DB_POOL_SIZE: '2' });
  });
  after(async () => {
    await t.close();
    await stub.close();
  });

  it('stores both messages of a streamed turn (the regression test for the lost assistant messages)', async () => {
    stub.reply({ text: 'The answer is forty-two.' });
    const id = await createSession(t.baseUrl);
    const result = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'What is the answer?' });
    expect(result.status).toBe(200);
    expect(result.events[0].event).toBe('turn');
    expect(
      eventsOf(result, 'token')
        .map((e) => e.data.delta)
        .join(''),
    ).toBe('The answer is forty-two.');
    expect(result.events[result.events.length - 1].event).toBe('done');
    expect(doneOf(result).status).toBe('completed');

    const rows = await query(t.databaseUrl, `SELECT role, content, status FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
    expect(rows).toEqual([
      { role: 'user', content: 'What is the answer?', status: 'complete' },
      { role: 'assistant', content: 'The answer is forty-two.', status: 'complete' },
    ]);
    const [turn] = await query(t.databaseUrl, `SELECT status FROM turns WHERE session_id = $1`, [id]);
    expect(turn.status).toBe('completed');
    // `message` events come after their commit, with the stored row.
    const stored = eventsOf(result, 'message').map((e) => e.data.message.role);
    expect(stored).toEqual(['user', 'assistant']);
  });

  it('streams 40 turns at once on a pool of 2: no connection is held while the LLM answers', async () => {
    const streams = 40;
    const ids = await Promise.all(Array.from({ length: streams }, () => createSession(t.baseUrl)));
    const before = stub.requests.length;
    // Every LLM answer stops after its first token until all 40 are open at once. A turn that held one
    // of the 2 pooled connections through its LLM call would keep the others from ever reaching the LLM.
    let release!: () => void;
    const allOpen = new Promise<void>((resolve) => (release = resolve));
    // How many answers were open when the gate opened: all of them, or those reached before giving up.
    let openAtOnce: number | undefined;
    const open = () => {
      openAtOnce ??= stub.requests.length - before;
      release();
    };
    const giveUp = setTimeout(open, 20_000);
    stub.respond(() => {
      if (stub.requests.length - before === streams) open();
      return { text: 'one two three four five', pause: { chunks: 1, until: allOpen } };
    });
    const samples: Array<{ heldInTransaction: number }> = [];
    let streaming = true;
    const sampler = (async () => {
      while (streaming) {
        const [row] = await query(
          t.databaseUrl,
          `SELECT count(*) FILTER (WHERE state = 'idle in transaction' AND now() - state_change > interval '1 second')::int AS "heldInTransaction"
           FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'agent-runtime'`,
        );
        samples.push(row as { heldInTransaction: number });
        await sleep(20);
      }
    })();
    const results = await Promise.all(ids.map((id) => postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'count' })));
    streaming = false;
    clearTimeout(giveUp);
    await sampler;

    expect(openAtOnce).toBe(streams);
    expect(results.map((r) => doneOf(r)?.status)).toEqual(ids.map(() => 'completed'));
    const [count] = await query(t.databaseUrl, `SELECT count(*)::int AS n FROM messages WHERE session_id = ANY($1::uuid[])`, [ids]);
    expect(count.n).toBe(2 * streams);
    expect(Math.max(...samples.map((s) => s.heldInTransaction))).toBe(0);
  });

  it('sends each message event only once its row is committed (a reader on another connection already sees it)', async () => {
    stub.reply({ text: 'Let me look.', toolCalls: [{ name: 'read_file', arguments: { path: 'README.md' } }] });
    const id = await createSession(t.baseUrl);
    const seen: Array<Promise<{ id: string; visible: boolean }>> = [];
    const result = await postStream(
      `${t.baseUrl}/v1/sessions/${id}/messages`,
      { content: 'Read the README' },
      {
        stopWhen: (e) => {
          if (e.event === 'message') {
            const messageId: string = e.data.message.id;
            seen.push(
              query(t.databaseUrl, `SELECT 1 FROM messages WHERE id = $1`, [messageId]).then((r) => ({
                id: messageId,
                visible: r.length === 1,
              })),
            );
          }
          return false;
        },
      },
    );
    expect(doneOf(result).status).toBe('awaiting_tool_result');
    const checks = await Promise.all(seen);
    expect(checks).toHaveLength(2);
    expect(checks.filter((c) => !c.visible)).toEqual([]);
  });

  it('answers error then done{failed} when the LLM stream breaks, with no complete assistant row', async () => {
    stub.reply({ text: 'This answer will break off in the middle of', breakAfter: 3, delayMs: 10 });
    const id = await createSession(t.baseUrl);
    const result = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'Tell me a story' });
    const names = result.events.map((e) => e.event);
    expect(
      eventsOf(result, 'token')
        .map((e) => e.data.delta)
        .join(''),
    ).toBe('This answer will ');
    expect(names.slice(-2)).toEqual(['error', 'done']);
    expect(doneOf(result).status).toBe('failed');
    expect(eventsOf(result, 'error')[0].data).toEqual({ code: expect.any(String), message: expect.any(String) });
    const rows = await query(t.databaseUrl, `SELECT role, status FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
    expect(rows.filter((r) => r.role === 'assistant' && r.status === 'complete')).toEqual([]);
    const [turn] = await query(t.databaseUrl, `SELECT status, error FROM turns WHERE session_id = $1`, [id]);
    expect(turn.status).toBe('failed');
  });

  it('on a client that leaves: aborts the LLM request, keeps the user message, stores the partial answer as interrupted', async () => {
    stub.reply({ text: Array.from({ length: 100 }, (_, i) => `word${i} `), delayMs: 20 });
    const id = await createSession(t.baseUrl);
    const requestsBefore = stub.requests.length;
    const result = await postStream(
      `${t.baseUrl}/v1/sessions/${id}/messages`,
      { content: 'Talk for a while' },
      {
        stopWhen: (_e, events) => events.filter((x) => x.event === 'token').length >= 5,
      },
    );
    expect(eventsOf(result, 'token').length).toBeGreaterThanOrEqual(5);
    await eventually(async () => stub.requests[requestsBefore]?.aborted);

    const rows = await eventually(async () => {
      const r = await query(t.databaseUrl, `SELECT role, content, status FROM messages WHERE session_id = $1 ORDER BY seq`, [id]);
      return r.length === 2 ? r : undefined;
    });
    expect(rows[0]).toEqual({ role: 'user', content: 'Talk for a while', status: 'complete' });
    expect(rows[1].role).toBe('assistant');
    expect(rows[1].status).toBe('interrupted');
    expect(rows[1].content).toMatch(/^word0 word1 word2 word3 word4/);
    const [turn] = await eventually(async () => {
      const r = await query(t.databaseUrl, `SELECT status FROM turns WHERE session_id = $1`, [id]);
      return r[0]?.status === 'interrupted' ? r : undefined;
    });
    expect(turn.status).toBe('interrupted');

    stub.reply({ text: 'Back again.' });
    const next = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'Are you there?' });
    expect(doneOf(next).status).toBe('completed');
  });

  it('keeps concurrent streams in their own Units of Work', async () => {
    stub.reply({ text: 'alpha beta gamma delta', delayMs: 10 });
    const ids = await Promise.all([createSession(t.baseUrl), createSession(t.baseUrl), createSession(t.baseUrl)]);
    await Promise.all(ids.map((id) => postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: `hello from ${id}` })));
    // Every message was written by the turn of its own session.
    const crossed = await query(
      t.databaseUrl,
      `SELECT m.id FROM messages m JOIN turns tu ON tu.id = m.turn_id WHERE m.session_id = ANY($1::uuid[]) AND tu.session_id <> m.session_id`,
      [ids],
    );
    expect(crossed).toEqual([]);

    const host = t.app.get(TransactionHost);
    const seen = await Promise.all(
      ['first', 'second'].map((name) =>
        host.run(name, async () => {
          const uow = host.unitOfWork;
          const names: string[] = [];
          for (let i = 0; i < 5; i++) {
            await sleep(Math.random() * 10);
            names.push(host.unitOfWork.name);
          }
          expect(host.unitOfWork).toBe(uow);
          return names;
        }),
      ),
    );
    expect(seen).toEqual([Array(5).fill('first'), Array(5).fill('second')]);
  });

  it('refuses every write outside a micro-transaction, raw SQL included, and lets reads through', async () => {
    const host = t.app.get(TransactionHost);
    expect(() => host.unitOfWork).toThrow(NoUnitOfWorkError);
    const id = await createSession(t.baseUrl);
    const titleOf = async () => (await query(t.databaseUrl, `SELECT title FROM sessions WHERE id = $1`, [id]))[0].title;
    const before = await titleOf();

    const writes = [
      () => t.dataSource.query(`UPDATE sessions SET title = 'changed' WHERE id = $1`, [id]),
      () => t.dataSource.manager.query(`  -- a comment first\n  update sessions SET title = 'changed' WHERE id = $1`, [id]),
      () => t.dataSource.query(`WITH gone AS (DELETE FROM sessions WHERE id = $1 RETURNING id) SELECT count(*) FROM gone`, [id]),
      () => t.dataSource.query(`INSERT INTO sessions (owner, current_agent) VALUES ('x', 'universal')`),
      () => t.dataSource.query(`SELECT id FROM sessions WHERE id = $1 FOR UPDATE`, [id]),
      () => t.dataSource.manager.insert(SessionEntity, { owner: 'x', currentAgent: 'universal' }),
      () => t.dataSource.createQueryBuilder().update(SessionEntity).set({ title: 'changed' }).where('id = :id', { id }).execute(),
      // A Unit of Work alone is not enough: a write belongs in one of its named micro-transactions.
      () => host.run('guard_test', () => host.tx.query(`UPDATE sessions SET title = 'changed' WHERE id = $1`, [id])),
    ];
    for (const write of writes) await expect(write()).rejects.toThrow(NoUnitOfWorkError);
    expect(await titleOf()).toBe(before);
    const [{ n }] = await query(t.databaseUrl, `SELECT count(*)::int AS n FROM sessions WHERE owner = 'x'`);
    expect(n).toBe(0);

    // Reads need no micro-transaction; a write inside one goes through.
    expect(await t.dataSource.query(`SELECT title FROM sessions WHERE id = $1`, [id])).toEqual([{ title: before }]);
    await host.run('guard_test', () =>
      host.transaction('rename_for_test', () => host.tx.query(`UPDATE sessions SET title = 'changed' WHERE id = $1`, [id])),
    );
    expect(await titleOf()).toBe('changed');
  });

  it('exports the micro-transaction metrics with their operation labels', async () => {
    const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
    for (const operation of ['create_session', 'start_turn', 'save_user_message', 'save_assistant_message', 'finish_turn']) {
      expect(text).toContain(`sse_transaction_duration_seconds_bucket{le="0.01",operation="${operation}"}`);
      expect(text).toContain(`sse_transaction_commits_total{operation="${operation}",status="success"}`);
    }
    expect(text).toContain('# TYPE db_rollbacks_total counter');
  });
});
