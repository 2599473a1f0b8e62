import { BaseEvent, EventType, HttpAgent, Interrupt, Message, RunAgentInput, RunFinishedEvent, Tool, verifyEvents } from '@ag-ui/client';
import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { from, lastValueFrom, toArray } from 'rxjs';
import { DomainError } from '../src/common/domain-error.js';
import { claimOf } from '../src/idempotency/idempotency-keys.js';
import { TurnRunner } from '../src/turns/turn-runner.js';
import { TransactionHost } from '../src/unit-of-work/transaction-host.js';
import { startApp, TestApp } from './support/app.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { OpenAiStub, StubReply } from './support/openai-stub.js';
import { eventually } from './support/sse.js';

const KEY = 'key-alice';
const READ = { id: 'call_read', name: 'read_file', arguments: { path: 'README.md' } };
const LIST = { id: 'call_list', name: 'list_files', arguments: { path: '.' } };
const WRITE = { id: 'call_write', name: 'write_file', arguments: { path: 'notes/plan.txt', content: 'first draft' } };
const TOOLS: Tool[] = ['read_file', 'list_files', 'write_file'].map((name) => ({
  name,
  description: name,
  parameters: { type: 'object' },
}));
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);

/** The client's own event verification over a recorded stream (the client pins its own rxjs, hence the cast). */
function verified(events: BaseEvent[]): Promise<BaseEvent[]> {
  const checked = verifyEvents()(from(events) as unknown as Parameters<ReturnType<typeof verifyEvents>>[0]);
  return new Promise((resolve, reject) => {
    const out: BaseEvent[] = [];
    checked.subscribe({ next: (event) => void out.push(event), error: reject, complete: () => resolve(out) });
  });
}

type Refusal = Error & { status?: number; payload?: { code: string; message: string } };

describe('AG-UI runs are turns: idempotent by runId, onDisconnect, cancel, one turn per run', () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let t: TestApp;
  /** A second instance on the same database. */
  let other: TestApp;

  before(async () => {
    db = await createTestDatabase();
    const env = { LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub', API_KEYS: `${KEY}:alice` };
    t = await startApp(env, db);
    other = await startApp(env, db);
  });
  after(async () => {
    await other.close();
    await t.close();
    await stub.close();
    await dropTestDatabase(db.name);
  });

  /** Scripts the stub's next agent replies, counted from now (the last one repeats). */
  function next(...replies: StubReply[]): void {
    const base = stub.agentRequests.length;
    stub.respond(() => replies[Math.min(stub.agentRequests.length - 1 - base, replies.length - 1)]);
  }

  /** A coder thread's client, holding `messages` as a page would after a reload. */
  function agent(threadId: string, messages: Message[] = [], app = t): HttpAgent {
    return new HttpAgent({
      url: `${app.baseUrl}/v1/ag-ui/agents/coder`,
      threadId,
      initialMessages: structuredClone(messages),
      headers: { Authorization: `Bearer ${KEY}` },
    });
  }

  async function run(client: HttpAgent, parameters: Parameters<HttpAgent['runAgent']>[0] = {}): Promise<BaseEvent[]> {
    const events: BaseEvent[] = [];
    await client.runAgent({ tools: TOOLS, ...parameters }, { onEvent: ({ event }) => void events.push(event) });
    expect(await verified(events)).toHaveLength(events.length);
    return events;
  }

  const finished = (events: BaseEvent[]) => events.find((e) => e.type === EventType.RUN_FINISHED) as RunFinishedEvent;

  async function counts(sessionId: string) {
    const [row] = await query(
      db.url,
      `SELECT (SELECT count(*)::int FROM turns WHERE session_id = $1) AS turns,
              (SELECT count(*)::int FROM messages WHERE session_id = $1 AND role = 'user') AS users,
              (SELECT count(*)::int FROM messages WHERE session_id = $1 AND role = 'assistant') AS answers`,
      [sessionId],
    );
    return row;
  }

  const turns = (sessionId: string) =>
    query(db.url, `SELECT kind, status FROM turns WHERE session_id = $1 ORDER BY seq`, [sessionId]) as Promise<
      Array<{ kind: string; status: string }>
    >;

  /** A raw POST, for what the client cannot send (another Accept, an Idempotency-Key); the SSE frames parsed. */
  async function post(body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${t.baseUrl}/v1/ag-ui/agents/coder`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}`, ...headers },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const events = type.startsWith('text/event-stream')
      ? text
          .split('\n\n')
          .filter((frame) => frame.startsWith('data: '))
          .map((frame) => JSON.parse(frame.slice(6)) as BaseEvent)
      : [];
    return { status: res.status, type, events, json: type.startsWith('application/json') ? JSON.parse(text) : undefined };
  }

  const input = (threadId: string, content: string, runId: string = randomUUID()): RunAgentInput => ({
    threadId,
    runId,
    messages: [{ id: randomUUID(), role: 'user', content }],
    tools: [],
    context: [],
    state: {},
    forwardedProps: {},
  });

  it('the same run posted again starts nothing and stores nothing: it answers the first run’s events, on either instance', async () => {
    next({ text: 'Only once.', usage: { prompt: 7, completion: 2 } });
    const threadId = randomUUID();
    const runId = randomUUID();
    const said: Message[] = [{ id: randomUUID(), role: 'user', content: 'Say it once' }];
    const asked = stub.agentRequests.length;
    const first = await run(agent(threadId, said), { runId });
    const again = await run(agent(threadId, said), { runId });
    const elsewhere = await run(agent(threadId, said, other), { runId });
    expect(again).toEqual(first);
    expect(elsewhere).toEqual(first);
    expect(finished(first)).toMatchObject({ runId, outcome: { type: 'success' }, usage: [{ inputTokens: 7, outputTokens: 2 }] });
    expect(stub.agentRequests.length).toBe(asked + 1);
    expect(await counts(threadId)).toEqual({ turns: 1, users: 1, answers: 1 });
    const [turn] = await query(db.url, `SELECT id FROM turns WHERE session_id = $1`, [threadId]);
    expect(await query(db.url, `SELECT owner, session_id, turn_id FROM idempotency_keys WHERE key = $1`, [runId])).toEqual([
      { owner: 'alice', session_id: threadId, turn_id: turn.id },
    ]);
  });

  it('the same run posted concurrently, to both instances, starts one turn; each client gets the whole run', async () => {
    next({ text: words(20), delayMs: 10 });
    const threadId = randomUUID();
    const runId = randomUUID();
    const said: Message[] = [{ id: randomUUID(), role: 'user', content: 'All at once' }];
    const runs = await Promise.all([t, other, t, other].map((app) => run(agent(threadId, said, app), { runId })));
    for (const events of runs) expect(events).toEqual(runs[0]);
    const streamed = runs[0].filter((e) => e.type === EventType.TEXT_MESSAGE_CONTENT) as Array<BaseEvent & { delta: string }>;
    expect(streamed.map((e) => e.delta).join('')).toBe(words(20).join(''));
    expect(await counts(threadId)).toEqual({ turns: 1, users: 1, answers: 1 });
  });

  it('the same runId with another body is a 422 idempotency_key_reused, and nothing is stored', async () => {
    next({ text: 'Fine.' });
    const threadId = randomUUID();
    const runId = randomUUID();
    await run(agent(threadId, [{ id: randomUUID(), role: 'user', content: 'One thing' }]), { runId });
    const refused = await agent(threadId, [{ id: randomUUID(), role: 'user', content: 'Another thing' }])
      .runAgent({ runId, tools: TOOLS })
      .then(
        () => undefined,
        (error: Refusal) => error,
      );
    expect(refused).toMatchObject({ status: 422, payload: { code: 'idempotency_key_reused' } });
    expect(await counts(threadId)).toEqual({ turns: 1, users: 1, answers: 1 });
  });

  it('a run refused because the same run got in first meanwhile (its message is stored now) is answered as that run’s repeat', async () => {
    next({ text: 'First in.' });
    const body = input(randomUUID(), 'Race me');
    const claim = claimOf(body.runId, 'POST /v1/ag-ui/agents/coder', body);
    let first!: Awaited<ReturnType<typeof post>>;
    const events$ = await t.app.get(TransactionHost).run('race', () =>
      t.app.get(TurnRunner).start(
        'alice',
        body.threadId,
        async () => {
          // Between this request's key check and its read of the history, the same run comes in and ends.
          first = await post(body);
          throw new DomainError('nothing_to_run', 'nothing new in the input');
        },
        { idempotency: claim },
      ),
    );
    const replayed = await lastValueFrom(events$.pipe(toArray()));
    const [turn] = await query(db.url, `SELECT id FROM turns WHERE session_id = $1`, [body.threadId]);
    expect(replayed.at(-1)).toMatchObject({ type: 'done', data: { turnId: turn.id, status: 'completed' } });
    expect(finished(first.events).outcome).toEqual({ type: 'success' });
    expect(await counts(body.threadId)).toEqual({ turns: 1, users: 1, answers: 1 });
  });

  it('an Idempotency-Key, when sent, is the key instead of the runId; a runId that cannot be a key is a 400 without one', async () => {
    next({ text: 'Keyed.' });
    const threadId = randomUUID();
    const key = randomUUID();
    const body = input(threadId, 'With a key', 'run 1');
    const first = await post(body, { 'Idempotency-Key': key });
    const again = await post(body, { 'Idempotency-Key': key });
    expect(first).toMatchObject({ status: 200, type: 'text/event-stream' });
    expect(again.events).toEqual(first.events);
    expect(await query(db.url, `SELECT key FROM idempotency_keys WHERE session_id = $1`, [threadId])).toEqual([{ key }]);
    expect(await counts(threadId)).toEqual({ turns: 1, users: 1, answers: 1 });

    const unkeyed = await post(input(randomUUID(), 'No key', 'run 1'));
    expect({ status: unkeyed.status, code: unkeyed.json.code, field: unkeyed.json.details?.[0]?.field }).toEqual({
      status: 400,
      code: 'invalid_input',
      field: 'runId',
    });
    const badKey = await post(input(randomUUID(), 'Bad key'), { 'Idempotency-Key': 'has space' });
    expect({ status: badKey.status, code: badKey.json.code }).toEqual({ status: 400, code: 'bad_idempotency_key' });
  });

  it('onDisconnect continue: the client aborts mid-stream, the LLM request goes on, the answer is stored completed and the run replays it', async () => {
    const text = words(40);
    next({ text, delayMs: 10 });
    const threadId = randomUUID();
    const runId = randomUUID();
    const said: Message[] = [{ id: randomUUID(), role: 'user', content: 'Take your time' }];
    const client = agent(threadId, said);
    const parameters = { runId, tools: TOOLS, forwardedProps: { onDisconnect: 'continue' } };
    await client.runAgent(parameters, { onTextMessageContentEvent: () => client.abortRun() }).catch(() => undefined);
    const request = stub.agentRequests.at(-1)!;
    await eventually(async () => (await turns(threadId))[0]?.status !== 'running', 10_000);

    expect(await turns(threadId)).toEqual([{ kind: 'message', status: 'completed' }]);
    expect(request.aborted).toBe(false);
    const [answer] = await query(db.url, `SELECT content, status FROM messages WHERE session_id = $1 AND role = 'assistant'`, [threadId]);
    expect(answer).toEqual({ content: text.join(''), status: 'complete' });
    // The client comes back with the same run: it gets the whole of it, from the stored events.
    const replayed = await run(agent(threadId, said), parameters);
    expect(finished(replayed).outcome).toEqual({ type: 'success' });
    const streamed = replayed.filter((e) => e.type === EventType.TEXT_MESSAGE_CONTENT) as Array<BaseEvent & { delta: string }>;
    expect(streamed.map((e) => e.delta).join('')).toBe(text.join(''));
    expect(await counts(threadId)).toEqual({ turns: 1, users: 1, answers: 1 });
  });

  it('onDisconnect cancel is the default: the client aborts and the turn is interrupted; another value is a 400 naming the field', async () => {
    next({ text: words(400), delayMs: 10 });
    const threadId = randomUUID();
    const client = agent(threadId, [{ id: randomUUID(), role: 'user', content: 'Go' }]);
    await client.runAgent({ tools: TOOLS }, { onTextMessageContentEvent: () => client.abortRun() }).catch(() => undefined);
    const request = stub.agentRequests.at(-1)!;
    await eventually(async () => (await turns(threadId))[0]?.status !== 'running', 10_000);
    expect(await turns(threadId)).toEqual([{ kind: 'message', status: 'interrupted' }]);
    await eventually(async () => request.aborted);

    const refusedThread = randomUUID();
    const refused = await agent(refusedThread, [{ id: randomUUID(), role: 'user', content: 'Go' }])
      .runAgent({ forwardedProps: { onDisconnect: 'later' } })
      .then(
        () => undefined,
        (error: Refusal) => error,
      );
    expect(refused).toMatchObject({ status: 400, payload: { code: 'invalid_input' } });
    expect(refused!.payload!.message.startsWith('forwardedProps.onDisconnect:')).toBe(true);
    expect(await turns(refusedThread)).toEqual([]);
  });

  it('several tool results are one turn: the native cancel route stops it, and the run finishes cancelled', async () => {
    next({ toolCalls: [READ, LIST] }, { text: words(1000), delayMs: 10 });
    const threadId = randomUUID();
    const client = agent(threadId, [{ id: randomUUID(), role: 'user', content: 'Look around' }]);
    expect(finished(await run(client)).outcome).toEqual({ type: 'success', pendingToolCallIds: ['call_read', 'call_list'] });
    client.addMessages([
      { id: randomUUID(), role: 'tool', toolCallId: 'call_read', content: '# Hello' },
      { id: randomUUID(), role: 'tool', toolCallId: 'call_list', content: 'README.md' },
    ]);
    let reached!: () => void;
    const streaming = new Promise<void>((resolve) => (reached = resolve));
    const events: BaseEvent[] = [];
    const running = client.runAgent(
      { tools: TOOLS },
      { onEvent: ({ event }) => void events.push(event), onTextMessageContentEvent: () => reached() },
    );
    await streaming;
    const res = await fetch(`${other.baseUrl}/v1/sessions/${threadId}/cancel`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}` },
    });
    expect(await res.json()).toEqual({ cancelled: true });
    await running;
    expect(await verified(events)).toHaveLength(events.length);
    expect(events.filter((e) => e.type === EventType.RUN_STARTED)).toHaveLength(1);
    expect(finished(events).outcome).toEqual({ type: 'cancelled' });
    expect(await turns(threadId)).toEqual([
      { kind: 'message', status: 'awaiting_tool_result' },
      { kind: 'tool_result', status: 'cancelled' },
    ]);
    const tools = await query(db.url, `SELECT tool_call_id FROM messages WHERE session_id = $1 AND role = 'tool' ORDER BY seq`, [threadId]);
    expect(tools.map((r) => r.tool_call_id)).toEqual(['call_read', 'call_list']);
  });

  it('a tool result and a resume entry in one run are one turn: the result stored, the call approved and sent, no LLM step between', async () => {
    next({ text: 'Reading and writing.', toolCalls: [READ, WRITE] }, { text: 'All done.' });
    const threadId = randomUUID();
    const client = agent(threadId, [{ id: randomUUID(), role: 'user', content: 'Read, then write the plan' }]);
    const held = finished(await run(client));
    const [interrupt] = (held.outcome as { type: 'interrupt'; interrupts: Interrupt[] }).interrupts;
    expect(interrupt).toMatchObject({ toolCallId: 'call_write' });
    const asked = stub.agentRequests.length;

    client.addMessage({ id: randomUUID(), role: 'tool', toolCallId: 'call_read', content: '# Hello' });
    const answered = await run(client, { resume: [{ interruptId: interrupt.id, status: 'resolved', payload: { decision: 'approve' } }] });
    expect(finished(answered).outcome).toEqual({ type: 'success', pendingToolCallIds: ['call_write'] });
    expect(stub.agentRequests.length).toBe(asked);
    client.addMessage({ id: randomUUID(), role: 'tool', toolCallId: 'call_write', content: 'written' });
    expect(finished(await run(client)).outcome).toEqual({ type: 'success' });
    expect(await turns(threadId)).toEqual([
      { kind: 'message', status: 'awaiting_approval' },
      { kind: 'answers', status: 'awaiting_tool_result' },
      { kind: 'tool_result', status: 'completed' },
    ]);
    const [approval] = await query(db.url, `SELECT status FROM approvals WHERE id = $1`, [interrupt.id]);
    expect(approval.status).toBe('approved');
  });

  it('answers the format Accept prefers: SSE on a tie, protobuf when it ranks higher, 406 when it takes neither', async () => {
    next({ text: 'Formats.' });
    const threadId = randomUUID();
    const sse = await post(input(threadId, 'Hi'), { Accept: '*/*' });
    expect({ status: sse.status, type: sse.type }).toEqual({ status: 200, type: 'text/event-stream' });
    const proto = await post(input(threadId, 'Again'), { Accept: 'text/event-stream;q=0.5, application/vnd.ag-ui.event+proto' });
    expect({ status: proto.status, type: proto.type }).toEqual({ status: 200, type: 'application/vnd.ag-ui.event+proto' });

    const elsewhere = randomUUID();
    const refused = await post(input(elsewhere, 'Hi'), { Accept: 'text/html' });
    expect({ status: refused.status, code: refused.json.code }).toEqual({ status: 406, code: 'not_acceptable' });
    expect(await query(db.url, `SELECT 1 FROM sessions WHERE id = $1`, [elsewhere])).toEqual([]);
  });
});
