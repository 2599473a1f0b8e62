import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { ApprovalExpiry, NOT_RUN_EXPIRED } from '../src/approvals/approval-expiry.js';
import type { ApprovalEntity } from '../src/approvals/approval.entity.js';
import { ApprovalsService } from '../src/approvals/approvals.service.js';
import { DomainError } from '../src/common/domain-error.js';
import { TransactionHost } from '../src/unit-of-work/transaction-host.js';
import { startApp, TestApp } from './support/app.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { OpenAiStub, StubReply } from './support/openai-stub.js';
import { doneOf, eventsOf, postStream, StreamResult } from './support/sse.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

async function metrics(baseUrl: string): Promise<Sample[]> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return text.split('\n').flatMap((line) => {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) return [];
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v]));
    return [{ name: match[1], labels, value: Number(match[3]) }];
  });
}

function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

const WRITE = { id: 'call_write', name: 'write_file', arguments: { path: 'notes/plan.txt', content: 'first draft' } };
const READ = { id: 'call_read', name: 'read_file', arguments: { path: 'README.md' } };

describe('approvals of risky tool calls', () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let env: Record<string, string>;
  let t: TestApp;

  /** Scripts the stub's next replies, counted from now (the last one repeats). */
  function next(...replies: StubReply[]): void {
    const base = stub.requests.length;
    stub.respond((_req, index) => replies[Math.min(index - base, replies.length - 1)]);
  }

  async function createSession(): Promise<string> {
    const res = await fetch(`${t.baseUrl}/v1/sessions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"agentType":"coder"}',
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function approvals(sessionId: string, status?: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${t.baseUrl}/v1/sessions/${sessionId}/approvals${status ? `?status=${status}` : ''}`);
    return { status: res.status, body: await res.json() };
  }

  function decide(sessionId: string, approvalId: string, body: Record<string, unknown>): Promise<StreamResult> {
    return postStream(`${t.baseUrl}/v1/sessions/${sessionId}/approvals/${approvalId}`, body);
  }

  function toolResult(sessionId: string, toolCallId: string, output: string): Promise<StreamResult> {
    return postStream(`${t.baseUrl}/v1/sessions/${sessionId}/tool-results`, { toolCallId, output });
  }

  /** A coder session whose latest answer holds `calls`; returns the session and the `approval_required` events. */
  async function held(calls: StubReply['toolCalls'] = [WRITE]): Promise<{ id: string; result: StreamResult; approvalId: string }> {
    next({ text: 'On it.', toolCalls: calls });
    const id = await createSession();
    const result = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'Write the plan' });
    expect(doneOf(result).status).toBe('awaiting_approval');
    return { id, result, approvalId: eventsOf(result, 'approval_required')[0].data.approvalId };
  }

  async function rows(
    sessionId: string,
  ): Promise<Array<{ role: string; content: string | null; tool_call_id: string | null; tool_calls: unknown }>> {
    return query(t.databaseUrl, `SELECT role, content, tool_call_id, tool_calls FROM messages WHERE session_id = $1 ORDER BY seq`, [
      sessionId,
    ]);
  }

  before(async () => {
    env = { LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub-model', LLM_MAX_RETRIES: '1', LLM_RETRY_BASE_MS: '1' };
    db = await createTestDatabase();
    t = await startApp(env, db);
  });
  after(async () => {
    await t.close();
    await dropTestDatabase(db.name);
    await stub.close();
  });

  it('splits one answer by the policy: the read goes to the client, the write waits, and the pending approval is listed', async () => {
    const { id, result, approvalId } = await held([READ, WRITE]);
    expect(eventsOf(result, 'tool_call').map((e) => e.data)).toEqual([
      { toolCallId: 'call_read', name: 'read_file', arguments: { path: 'README.md' } },
    ]);
    const [required] = eventsOf(result, 'approval_required');
    expect(required.data).toEqual({
      approvalId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      toolCallId: 'call_write',
      name: 'write_file',
      arguments: WRITE.arguments,
      reason: 'Writes a file in the workspace.',
      expiresAt: expect.any(String),
    });
    const ttl = Date.parse(required.data.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(890_000);
    expect(ttl).toBeLessThanOrEqual(900_000);

    const pending = await approvals(id, 'pending');
    expect(pending.status).toBe(200);
    expect(pending.body.items).toEqual([
      {
        id: approvalId,
        toolCallId: 'call_write',
        toolName: 'write_file',
        arguments: WRITE.arguments,
        status: 'pending',
        reason: 'Writes a file in the workspace.',
        createdAt: expect.any(String),
        expiresAt: required.data.expiresAt,
      },
    ]);
    expect((await approvals(id, 'approved')).body.items).toEqual([]);
    expect((await approvals(id, 'maybe')).status).toBe(400);
    expect((await approvals('5b0f4b43-8a0e-4c51-9b7e-3d1c3f7e9a10')).status).toBe(404);

    // The read's result alone does not wake the LLM: the write still waits for a person.
    const before = stub.requests.length;
    const read = await toolResult(id, 'call_read', '# Readme');
    expect(doneOf(read).status).toBe('awaiting_approval');
    expect(stub.requests.length).toBe(before);
    const early = await toolResult(id, 'call_write', 'written');
    expect(early.status).toBe(409);
    expect(early.json.code).toBe('awaiting_approval');

    // Approved: the call goes to the client as the LLM asked it; its result continues the LLM.
    const approved = await decide(id, approvalId, { decision: 'approve' });
    expect(approved.status).toBe(200);
    expect(eventsOf(approved, 'tool_call').map((e) => e.data)).toEqual([
      { toolCallId: 'call_write', name: 'write_file', arguments: WRITE.arguments },
    ]);
    expect(doneOf(approved).status).toBe('awaiting_tool_result');
    expect(stub.requests.length).toBe(before);
    next({ text: 'The plan is written.' });
    const done = await toolResult(id, 'call_write', 'wrote 11 bytes');
    expect(doneOf(done).status).toBe('completed');
    expect(
      stub.requests
        .at(-1)!
        .body.messages.slice(-2)
        .map((m) => [m.role, m.tool_call_id, m.content]),
    ).toEqual([
      ['tool', 'call_read', '# Readme'],
      ['tool', 'call_write', 'wrote 11 bytes'],
    ]);
    const [approval] = (await approvals(id)).body.items;
    expect(approval).toMatchObject({ status: 'approved', decidedAt: expect.any(String) });
    expect(approval.approvedArguments).toBeUndefined();
  });

  it('documents the listing in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${t.baseUrl}/docs-json`)).json()) as {
      paths: Record<
        string,
        Record<
          string,
          {
            tags: string[];
            parameters: Array<{ name: string; in: string }>;
            responses: Record<string, { content?: Record<string, { schema: { $ref: string } }> }>;
          }
        >
      >;
    };
    const operation = doc.paths['/v1/sessions/{id}/approvals'].get;
    expect(operation.tags).toEqual(['approvals']);
    expect(operation.parameters.map((p) => `${p.in}:${p.name}`).sort()).toEqual(['path:id', 'query:status']);
    expect(operation.responses['200'].content!['application/json'].schema.$ref).toBe('#/components/schemas/ApprovalList');
    expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['400', '404']));
  });

  it('keeps pending approvals across a restart of the service', async () => {
    const { id, approvalId } = await held();
    await t.close();
    t = await startApp(env, db);
    const pending = await approvals(id, 'pending');
    expect(pending.body.items.map((a: { id: string }) => a.id)).toEqual([approvalId]);
    const approved = await decide(id, approvalId, { decision: 'approve' });
    expect(eventsOf(approved, 'tool_call')).toHaveLength(1);
  });

  it('runs an edited call with the edited arguments, keeping what the LLM asked in the history', async () => {
    const { id, approvalId } = await held();
    const invalid = await decide(id, approvalId, { decision: 'edit', arguments: { path: 'notes/plan.txt', content: 7 } });
    expect(invalid.status).toBe(400);
    expect(invalid.json.message).toMatch(/content/);
    const outside = await decide(id, approvalId, { decision: 'edit', arguments: { path: '../secret.txt', content: 'x' } });
    expect(outside.status).toBe(400);
    const missing = await decide(id, approvalId, { decision: 'edit' });
    expect(missing.status).toBe(400);
    expect((await approvals(id, 'pending')).body.items).toHaveLength(1);

    const edited = { path: 'notes/plan.md', content: 'second draft' };
    const result = await decide(id, approvalId, { decision: 'edit', arguments: edited });
    expect(eventsOf(result, 'tool_call').map((e) => e.data)).toEqual([{ toolCallId: 'call_write', name: 'write_file', arguments: edited }]);
    expect(doneOf(result).status).toBe('awaiting_tool_result');
    const [approval] = (await approvals(id)).body.items;
    expect(approval).toMatchObject({ status: 'edited', arguments: WRITE.arguments, approvedArguments: edited });
    const assistant = (await rows(id)).find((r) => r.role === 'assistant')!;
    expect(assistant.tool_calls).toEqual([
      { id: 'call_write', type: 'function', function: { name: 'write_file', arguments: JSON.stringify(WRITE.arguments) } },
    ]);

    next({ text: 'Saved as Markdown.' });
    const done = await toolResult(id, 'call_write', 'wrote notes/plan.md');
    expect(doneOf(done).status).toBe('completed');
  });

  it('tells the agent about a rejection with the feedback, and the agent continues in the same stream', async () => {
    const { id, approvalId } = await held();
    next({ text: 'Understood, I will leave the notes alone.' });
    const before = stub.requests.length;
    const result = await decide(id, approvalId, { decision: 'reject', feedback: 'Do not touch the notes folder' });
    expect(result.status).toBe(200);
    expect(eventsOf(result, 'tool_call')).toEqual([]);
    const messages = eventsOf(result, 'message').map((e) => e.data.message);
    expect(messages.map((m) => [m.role, m.content])).toEqual([
      ['tool', 'rejected by the user: Do not touch the notes folder'],
      ['assistant', 'Understood, I will leave the notes alone.'],
    ]);
    expect(doneOf(result).status).toBe('completed');
    expect(stub.requests.length).toBe(before + 1);
    expect(stub.requests.at(-1)!.body.messages.at(-1)).toEqual({
      role: 'tool',
      tool_call_id: 'call_write',
      content: 'rejected by the user: Do not touch the notes folder',
    });
    expect((await approvals(id)).body.items[0]).toMatchObject({ status: 'rejected', feedback: 'Do not touch the notes folder' });

    const again = await decide(id, approvalId, { decision: 'approve' });
    expect(again.status).toBe(409);
    expect(again.json.code).toBe('approval_decided');
    expect(stub.requests.length).toBe(before + 1);
  });

  it('lets exactly one of two concurrent decisions win', async () => {
    const { id, approvalId } = await held();
    next({ text: 'Fine.' });
    const results = await Promise.all([
      decide(id, approvalId, { decision: 'approve' }),
      decide(id, approvalId, { decision: 'reject', feedback: 'no' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    // The loser is refused by the lease (its turn could not start) or by the decision itself.
    expect(['session_busy', 'approval_decided']).toContain(results.find((r) => r.status === 409)!.json.code);
    const winner = results.find((r) => r.status === 200)!;
    expect(['awaiting_tool_result', 'completed']).toContain(doneOf(winner).status);
    const [approval] = (await approvals(id)).body.items;
    expect(['approved', 'rejected']).toContain(approval.status);
    const [{ n }] = await query(
      t.databaseUrl,
      `SELECT count(*)::int AS n FROM turns WHERE session_id = $1 AND kind = 'approval' AND status <> 'failed'`,
      [id],
    );
    expect(n).toBe(1);
  });

  it('lets exactly one of two decisions win when both got past the lease, in concurrent micro-transactions', async () => {
    const { id, approvalId } = await held();
    const host = t.app.get(TransactionHost);
    const service = t.app.get(ApprovalsService);
    const approval = await service.get(id, approvalId);
    // Both transactions hold a connection and are past any read before either decides.
    let arrive!: () => void;
    let arrived = 0;
    const bothIn = new Promise<void>((resolve) => (arrive = resolve));
    const decideAfterBarrier = (decision: 'approve' | 'reject') =>
      host.run('approval_race', () =>
        host.transaction('update_approval', async () => {
          await host.tx.query('SELECT 1');
          if (++arrived === 2) arrive();
          await bothIn;
          return service.decide(approval, decision, { feedback: decision === 'reject' ? 'no' : undefined });
        }),
      );
    const outcomes = await Promise.allSettled([decideAfterBarrier('approve'), decideAfterBarrier('reject')]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const loser = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!;
    expect((loser.reason as DomainError).code).toBe('approval_decided');
    const winner = outcomes.find((o): o is PromiseFulfilledResult<ApprovalEntity> => o.status === 'fulfilled')!;
    const [row] = await query(t.databaseUrl, `SELECT status FROM approvals WHERE id = $1`, [approvalId]);
    expect(row.status).toBe(winner.value.status);
  });

  it('answers 410 to a decision on an expired approval', async () => {
    const { id, approvalId } = await held();
    await query(t.databaseUrl, `UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = $1`, [approvalId]);
    const late = await decide(id, approvalId, { decision: 'approve' });
    expect(late.status).toBe(410);
    expect(late.json.code).toBe('approval_expired');
    expect((await approvals(id)).body.items[0].status).toBe('expired');
    expect((await approvals(id, 'pending')).body.items).toEqual([]);
  });

  it('expires approvals nobody decided on: the sweep stores a tool message so the next turn has a valid history', async () => {
    const { id, approvalId } = await held();
    const expiry = t.app.get(ApprovalExpiry);
    await expiry.sweep(); // expired approvals of earlier tests
    await query(t.databaseUrl, `UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = $1`, [approvalId]);

    // While a turn holds the session the sweep leaves it alone: that turn sees the expiry itself.
    await query(
      t.databaseUrl,
      `UPDATE sessions SET active_turn_id = (SELECT id FROM turns WHERE session_id = $1 LIMIT 1), lease_expires_at = now() + interval '1 minute' WHERE id = $1`,
      [id],
    );
    expect(await expiry.sweep()).toBe(0);
    await query(t.databaseUrl, `UPDATE sessions SET active_turn_id = NULL, lease_expires_at = NULL WHERE id = $1`, [id]);

    expect(await expiry.sweep()).toBe(1);
    const [row] = await query(t.databaseUrl, `SELECT status, decided_at FROM approvals WHERE id = $1`, [approvalId]);
    expect(row.status).toBe('expired');
    expect(row.decided_at).not.toBeNull();
    expect((await rows(id)).map((r) => [r.role, r.tool_call_id, r.content])).toEqual([
      ['user', null, 'Write the plan'],
      ['assistant', null, 'On it.'],
      ['tool', 'call_write', NOT_RUN_EXPIRED],
    ]);
    // The history names the held turn's end; the sweep's message belongs to no turn.
    const history = (await (await fetch(`${t.baseUrl}/v1/sessions/${id}/messages`)).json()) as {
      items: Array<{ turn: { status: string } | null }>;
    };
    expect(history.items.map((m) => m.turn?.status ?? null)).toEqual(['awaiting_approval', 'awaiting_approval', null]);
    expect(await expiry.sweep()).toBe(0);

    next({ text: 'The approval expired; shall I try again?' });
    const nextTurn = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'What happened?' });
    expect(doneOf(nextTurn).status).toBe('completed'); // the stub answers 400 to a history OpenAI would refuse
    expect(stub.requests.at(-1)!.body.messages.slice(-2)).toEqual([
      { role: 'tool', tool_call_id: 'call_write', content: NOT_RUN_EXPIRED },
      { role: 'user', content: 'What happened?' },
    ]);
  });

  it('closes an expired approval of the same answer when the other call’s result arrives, then continues the LLM', async () => {
    const { id, approvalId } = await held([READ, WRITE]);
    await query(t.databaseUrl, `UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = $1`, [approvalId]);
    const expiredCall = await toolResult(id, 'call_write', 'written anyway');
    expect(expiredCall.status).toBe(410);

    next({ text: 'README read; the write was not approved in time.' });
    const result = await toolResult(id, 'call_read', '# Readme');
    expect(eventsOf(result, 'message').map((e) => [e.data.message.role, e.data.message.toolCallId, e.data.message.content])).toEqual([
      ['tool', 'call_write', NOT_RUN_EXPIRED],
      ['tool', 'call_read', '# Readme'],
      ['assistant', undefined, 'README read; the write was not approved in time.'],
    ]);
    expect(doneOf(result).status).toBe('completed');
    expect((await approvals(id)).body.items[0].status).toBe('expired');
  });

  it('closes an expired approval of the same answer when another is decided, then continues the LLM', async () => {
    const command = { id: 'call_command', name: 'execute_command', arguments: { command: 'npm test' } };
    const { id, result, approvalId } = await held([WRITE, command]);
    const commandApproval = eventsOf(result, 'approval_required')[1].data;
    expect(commandApproval).toMatchObject({ toolCallId: 'call_command', reason: "Runs a command on the user's machine." });
    await query(t.databaseUrl, `UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = $1`, [commandApproval.approvalId]);

    next({ text: 'Neither ran; tell me how to go on.' });
    const rejected = await decide(id, approvalId, { decision: 'reject', feedback: 'not now' });
    expect(eventsOf(rejected, 'message').map((e) => [e.data.message.role, e.data.message.toolCallId, e.data.message.content])).toEqual([
      ['tool', 'call_command', NOT_RUN_EXPIRED],
      ['tool', 'call_write', 'rejected by the user: not now'],
      ['assistant', undefined, 'Neither ran; tell me how to go on.'],
    ]);
    expect(doneOf(rejected).status).toBe('completed');
    expect((await approvals(id)).body.items.map((a: { status: string }) => a.status)).toEqual(['rejected', 'expired']);
  });

  it('closes pending approvals when the user moves on with a new message', async () => {
    const { id } = await held([READ, WRITE]);
    expect(doneOf(await toolResult(id, 'call_read', '# Readme')).status).toBe('awaiting_approval');
    next({ text: 'Forgetting the plan.' });
    const moved = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'Forget it' });
    expect(doneOf(moved).status).toBe('completed');
    expect((await rows(id)).map((r) => [r.role, r.tool_call_id])).toEqual([
      ['user', null],
      ['assistant', null],
      ['tool', 'call_read'],
      ['tool', 'call_write'],
      ['user', null],
      ['assistant', null],
    ]);
    expect((await approvals(id)).body.items[0].status).toBe('expired');
  });

  it('exports the approval metrics', async () => {
    await t.app.get(ApprovalExpiry).sweep(); // expired approvals of earlier tests
    const before = await metrics(t.baseUrl);
    const approved = await held();
    await decide(approved.id, approved.approvalId, { decision: 'approve' });
    const edited = await held();
    await decide(edited.id, edited.approvalId, { decision: 'edit', arguments: { path: 'a.md', content: 'x' } });
    const rejected = await held();
    next({ text: 'OK.' });
    await decide(rejected.id, rejected.approvalId, { decision: 'reject' });
    const expired = await held();
    const waiting = await held();
    await query(t.databaseUrl, `UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.approvalId]);
    await t.app.get(ApprovalExpiry).sweep();
    const after = await metrics(t.baseUrl);

    const delta = (name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels);
    expect(delta('approvals_requested_total', { tool: 'write_file' })).toBe(5);
    expect(delta('approvals_decided_total', { decision: 'approved' })).toBe(1);
    expect(delta('approvals_decided_total', { decision: 'edited' })).toBe(1);
    expect(delta('approvals_decided_total', { decision: 'rejected' })).toBe(1);
    expect(delta('approvals_decided_total', { decision: 'expired' })).toBe(1);
    expect(delta('approval_decision_seconds_count')).toBe(3);
    const [{ n }] = await query(t.databaseUrl, `SELECT count(*)::int AS n FROM approvals WHERE status = 'pending'`);
    expect(n).toBeGreaterThanOrEqual(1); // `waiting`, at least
    expect(sum(after, 'approvals_pending')).toBe(n);
    expect((await approvals(waiting.id, 'pending')).body.items).toHaveLength(1);
  });
});
