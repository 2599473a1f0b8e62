import { BaseEvent, EventType, HttpAgent, Interrupt, Message, RunFinishedEvent, Tool, verifyEvents } from '@ag-ui/client';
import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { from } from 'rxjs';
import { startApp, TestApp } from './support/app.js';
import { query } from './support/database.js';
import { OpenAiStub, StubReply } from './support/openai-stub.js';

const KEYS = { alice: 'key-alice', bob: 'key-bob' };
const READ = { id: 'call_read', name: 'read_file', arguments: { path: 'README.md' } };
const WRITE = { id: 'call_write', name: 'write_file', arguments: { path: 'notes/plan.txt', content: 'first draft' } };
/** The frontend's tools, as a CopilotKit page would declare them. */
const TOOLS: Tool[] = [
  { name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } },
  { name: 'write_file', description: 'Write a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } },
];

/**
 * The client's own event verification over a recorded stream. The client pins its own rxjs, so the
 * recorded events go in through a cast and come out through a plain subscription.
 */
function verified(events: BaseEvent[]): Promise<BaseEvent[]> {
  const checked = verifyEvents()(from(events) as unknown as Parameters<ReturnType<typeof verifyEvents>>[0]);
  return new Promise((resolve, reject) => {
    const out: BaseEvent[] = [];
    checked.subscribe({ next: (event) => void out.push(event), error: reject, complete: () => resolve(out) });
  });
}

/** Polls `check` until it returns a value: for a state the service reaches after the client has gone. */
async function waitFor<T>(check: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Run {
  events: BaseEvent[];
  finished: RunFinishedEvent;
}

describe('AG-UI endpoint, driven by the official @ag-ui/client HttpAgent', () => {
  const stub = new OpenAiStub();
  let t: TestApp;

  /** Scripts the stub's next agent replies, counted from now (the last one repeats); routing asks get a JSON classification. */
  function next(...replies: StubReply[]): void {
    const base = stub.agentRequests.length;
    stub.respond((req) => {
      if (!req.body.tools) return { text: '{"agent":"coder","reason":"code work","confidence":0.9}' };
      const index = stub.agentRequests.length - 1 - base;
      return replies[Math.min(index, replies.length - 1)];
    });
  }

  function agent(options: { key?: string; path?: string; threadId?: string } = {}): HttpAgent {
    return new HttpAgent({
      url: `${t.baseUrl}/v1/ag-ui${options.path ?? '/agents/coder'}`,
      threadId: options.threadId ?? randomUUID(),
      headers: { Authorization: `Bearer ${options.key ?? KEYS.alice}` },
    });
  }

  /** Runs the agent, keeps every event it received, and checks the stream with the client's own verifier. */
  async function run(client: HttpAgent, parameters: Parameters<HttpAgent['runAgent']>[0] = {}): Promise<Run> {
    const events: BaseEvent[] = [];
    await client.runAgent({ tools: TOOLS, ...parameters }, { onEvent: ({ event }) => void events.push(event) });
    expect(await verified(events)).toHaveLength(events.length);
    const finished = events.find((e) => e.type === EventType.RUN_FINISHED) as RunFinishedEvent | undefined;
    expect(finished).toBeDefined();
    return { events, finished: finished! };
  }

  const types = (events: BaseEvent[]) => events.map((e) => e.type);
  const ofType = <T extends BaseEvent>(events: BaseEvent[], type: EventType) => events.filter((e) => e.type === type) as T[];

  function say(client: HttpAgent, content: string): void {
    client.addMessage({ id: randomUUID(), role: 'user', content });
  }

  async function rows(sessionId: string): Promise<Array<{ role: string; content: string | null; tool_call_id: string | null }>> {
    return query(t.databaseUrl, `SELECT role, content, tool_call_id FROM messages WHERE session_id = $1 ORDER BY seq`, [sessionId]);
  }

  async function post(path: string, body: unknown, key = KEYS.alice): Promise<{ status: number; body: { code: string; message: string } }> {
    const res = await fetch(`${t.baseUrl}/v1/ag-ui${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { code: string; message: string } };
  }

  before(async () => {
    t = await startApp({
      LLM_BASE_URL: await stub.start(),
      LLM_API_KEY: 'x',
      LLM_MODEL: 'stub-model',
      LLM_MAX_RETRIES: '1',
      LLM_RETRY_BASE_MS: '1',
      API_KEYS: `${KEYS.alice}:alice,${KEYS.bob}:bob`,
    });
  });
  after(async () => {
    await t.close();
    await stub.close();
  });

  it('streams a text run in protocol order, stores it in the thread’s session, and matches re-sent messages instead of storing them twice', async () => {
    next({ text: 'Hello there, I can help.', usage: { prompt: 12, completion: 5 } });
    const client = agent();
    say(client, 'Hi');
    const first = await run(client);
    expect(types(first.events)).toEqual([
      EventType.RUN_STARTED,
      EventType.STEP_STARTED,
      EventType.TEXT_MESSAGE_START,
      ...Array(5).fill(EventType.TEXT_MESSAGE_CONTENT),
      EventType.TEXT_MESSAGE_END,
      EventType.MESSAGES_SNAPSHOT,
      EventType.STEP_FINISHED,
      EventType.RUN_FINISHED,
    ]);
    expect(first.finished).toMatchObject({
      threadId: client.threadId,
      outcome: { type: 'success' },
      usage: [{ inputTokens: 12, outputTokens: 5, totalTokens: 17 }],
    });
    expect(await rows(client.threadId)).toEqual([
      { role: 'user', content: 'Hi', tool_call_id: null },
      { role: 'assistant', content: 'Hello there, I can help.', tool_call_id: null },
    ]);
    // The snapshot gave the client the stored ids; the next input re-sends both messages and adds one.
    const stored = await query<{ id: string }>(t.databaseUrl, `SELECT id FROM messages WHERE session_id = $1 ORDER BY seq`, [
      client.threadId,
    ]);
    expect(client.messages.map((m) => m.id)).toEqual(stored.map((r) => r.id));

    next({ text: 'Sure.' });
    say(client, 'And now?');
    await run(client);
    expect((await rows(client.threadId)).map((r) => r.content)).toEqual(['Hi', 'Hello there, I can help.', 'And now?', 'Sure.']);
    const [session] = await query(t.databaseUrl, `SELECT owner, current_agent FROM sessions WHERE id = $1`, [client.threadId]);
    expect(session).toEqual({ owner: 'alice', current_agent: 'coder' });
  });

  it('reports routing as steps: the orchestrator’s step, a CUSTOM agent_switched, then the specialist’s', async () => {
    next({ text: 'Done.' });
    const client = agent({ path: '' });
    say(client, 'Fix the failing build');
    const { events } = await run(client);
    expect(ofType<BaseEvent & { stepName: string }>(events, EventType.STEP_STARTED).map((e) => e.stepName)).toEqual([
      'orchestrator',
      'coder',
    ]);
    expect(ofType<BaseEvent & { name: string; value: unknown }>(events, EventType.CUSTOM)).toMatchObject([
      { name: 'agent_switched', value: { from: 'orchestrator', to: 'coder', reason: 'code work' } },
    ]);
  });

  it('a non-UUID threadId names a thread of its own per key', async () => {
    next({ text: 'One.' });
    const mine = agent({ threadId: 'ck-thread-1' });
    say(mine, 'Hello');
    const { events } = await run(mine);
    const started = events[0] as BaseEvent & { threadId: string; metadata: { sessionId: string } };
    expect(started.threadId).toBe('ck-thread-1');
    const sessionId = started.metadata.sessionId;
    expect((await rows(sessionId)).map((r) => r.content)).toEqual(['Hello', 'One.']);

    const theirs = agent({ threadId: 'ck-thread-1', key: KEYS.bob });
    say(theirs, 'Hello');
    const other = await run(theirs);
    expect((other.events[0] as BaseEvent & { metadata: { sessionId: string } }).metadata.sessionId).not.toBe(sessionId);
  });

  it('hands a frontend tool call to the client as TOOL_CALL_*, finishes awaiting it, and goes on with the tool message', async () => {
    next({ text: 'Let me look.', toolCalls: [READ] }, { text: 'The README says hello.' });
    const client = agent();
    say(client, 'What is in the README?');
    const first = await run(client);
    const [start] = ofType<BaseEvent & { toolCallId: string; toolCallName: string }>(first.events, EventType.TOOL_CALL_START);
    expect(start).toMatchObject({ toolCallId: 'call_read', toolCallName: 'read_file' });
    const [args] = ofType<BaseEvent & { delta: string }>(first.events, EventType.TOOL_CALL_ARGS);
    expect(JSON.parse(args.delta)).toEqual(READ.arguments);
    expect(first.finished.outcome).toEqual({ type: 'success', pendingToolCallIds: ['call_read'] });
    // The LLM was offered the agent's tools, restricted to those the client declared plus the runtime's own.
    const offered = stub.agentRequests[stub.agentRequests.length - 1].body.tools!.map((tool) => tool.function.name);
    expect(offered).toEqual(expect.arrayContaining(['read_file', 'write_file', 'attempt_completion']));
    expect(offered).not.toContain('execute_command');

    client.addMessage({ id: randomUUID(), role: 'tool', toolCallId: 'call_read', content: '# Hello' });
    const second = await run(client);
    expect(second.finished.outcome).toEqual({ type: 'success' });
    expect(await rows(client.threadId)).toEqual([
      { role: 'user', content: 'What is in the README?', tool_call_id: null },
      { role: 'assistant', content: 'Let me look.', tool_call_id: null },
      { role: 'tool', content: '# Hello', tool_call_id: 'call_read' },
      { role: 'assistant', content: 'The README says hello.', tool_call_id: null },
    ]);
    const sent = stub.agentRequests[stub.agentRequests.length - 1].body.messages;
    expect(sent.filter((m) => m.role === 'tool')).toEqual([expect.objectContaining({ tool_call_id: 'call_read', content: '# Hello' })]);
  });

  it('takes several tool results of one input as one run and one turn: each is stored, and the agent goes on once', async () => {
    const LIST = { id: 'call_list', name: 'list_files', arguments: { path: '.' } };
    next({ toolCalls: [READ, LIST] }, { text: 'Both seen.' });
    const client = agent();
    const tools = [...TOOLS, { name: 'list_files', description: 'List files', parameters: { type: 'object' } }];
    say(client, 'Look around');
    const first = await run(client, { tools });
    expect(first.finished.outcome).toEqual({ type: 'success', pendingToolCallIds: ['call_read', 'call_list'] });
    const asked = stub.agentRequests.length;
    client.addMessages([
      { id: randomUUID(), role: 'tool', toolCallId: 'call_read', content: '# Hello' },
      { id: randomUUID(), role: 'tool', toolCallId: 'call_list', content: 'README.md' },
    ]);
    const second = await run(client, { tools });
    expect(ofType(second.events, EventType.RUN_STARTED)).toHaveLength(1);
    expect(second.finished.outcome).toEqual({ type: 'success' });
    expect(stub.agentRequests.length).toBe(asked + 1);
    expect((await rows(client.threadId)).map((r) => [r.role, r.tool_call_id ?? r.content])).toEqual([
      ['user', 'Look around'],
      ['assistant', null],
      ['tool', 'call_read'],
      ['tool', 'call_list'],
      ['assistant', 'Both seen.'],
    ]);
    const turns = await query(t.databaseUrl, `SELECT kind, status FROM turns WHERE session_id = $1 ORDER BY started_at`, [client.threadId]);
    expect(turns).toEqual([
      { kind: 'message', status: 'awaiting_tool_result' },
      { kind: 'tool_result', status: 'completed' },
    ]);
  });

  it('refuses a call to an agent tool the client did not declare: the LLM hears why, the client never sees it', async () => {
    const RUN = { id: 'call_run', name: 'execute_command', arguments: { command: 'ls' } };
    next({ toolCalls: [RUN] }, { text: 'I cannot run commands here.' });
    const client = agent();
    say(client, 'Run ls');
    const { events, finished } = await run(client);
    expect(ofType(events, EventType.TOOL_CALL_START)).toEqual([]);
    expect(finished.outcome).toEqual({ type: 'success' });
    expect((await rows(client.threadId))[2]).toEqual({
      role: 'tool',
      content: 'Refused: "execute_command" is not a tool this client can run.',
      tool_call_id: 'call_run',
    });
  });

  /** A coder thread whose latest answer holds a write for approval. */
  async function interrupted(): Promise<{ client: HttpAgent; interrupt: Interrupt }> {
    next({ text: 'On it.', toolCalls: [WRITE] });
    const client = agent();
    say(client, 'Write the plan');
    const { events, finished } = await run(client);
    expect(ofType(events, EventType.TOOL_CALL_START)).toEqual([]);
    expect(finished.outcome?.type).toBe('interrupt');
    const [interrupt] = (finished.outcome as { interrupts: Interrupt[] }).interrupts;
    const [approval] = await query(t.databaseUrl, `SELECT id, status FROM approvals WHERE session_id = $1`, [client.threadId]);
    expect(interrupt).toEqual({
      id: approval.id,
      reason: 'Writes a file in the workspace.',
      message: 'write_file needs your approval',
      toolCallId: 'call_write',
      expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      responseSchema: expect.objectContaining({ required: ['decision'] }),
      metadata: { toolName: 'write_file', arguments: WRITE.arguments },
    });
    expect(client.pendingInterrupts.map((i) => i.id)).toEqual([approval.id]);
    // The held call is not in the client's copy until it is approved: a frontend must not run it.
    expect(client.messages.flatMap((m: Message) => (m.role === 'assistant' ? (m.toolCalls ?? []) : []))).toEqual([]);
    return { client, interrupt };
  }

  it('ends the run with an interrupt for a held call; resume approve sends the call to the client', async () => {
    const { client, interrupt } = await interrupted();
    const { events, finished } = await run(client, {
      resume: [{ interruptId: interrupt.id, status: 'resolved', payload: { decision: 'approve' } }],
    });
    const [args] = ofType<BaseEvent & { toolCallId: string; delta: string }>(events, EventType.TOOL_CALL_ARGS);
    expect(args.toolCallId).toBe('call_write');
    expect(JSON.parse(args.delta)).toEqual(WRITE.arguments);
    expect(finished.outcome).toEqual({ type: 'success', pendingToolCallIds: ['call_write'] });
    const [approval] = await query(t.databaseUrl, `SELECT status FROM approvals WHERE id = $1`, [interrupt.id]);
    expect(approval.status).toBe('approved');
  });

  it('resume edit sends the edited arguments; resume cancelled rejects and the agent goes on', async () => {
    const edited = { path: 'notes/plan.md', content: 'second draft' };
    const { client, interrupt } = await interrupted();
    const edit = await run(client, {
      resume: [{ interruptId: interrupt.id, status: 'resolved', payload: { decision: 'edit', arguments: edited } }],
    });
    const [args] = ofType<BaseEvent & { delta: string }>(edit.events, EventType.TOOL_CALL_ARGS);
    expect(JSON.parse(args.delta)).toEqual(edited);
    const [approval] = await query(t.databaseUrl, `SELECT status, approved_arguments FROM approvals WHERE id = $1`, [interrupt.id]);
    expect(approval).toEqual({ status: 'edited', approved_arguments: edited });
    // The client's copy of the call carries what it must run: the edited arguments.
    const call = client.messages
      .flatMap((m: Message) => (m.role === 'assistant' ? (m.toolCalls ?? []) : []))
      .find((c) => c.id === 'call_write');
    expect(JSON.parse(call!.function.arguments)).toEqual(edited);

    const other = await interrupted();
    next({ text: 'Understood, I will not write it.' });
    const reject = await run(other.client, { resume: [{ interruptId: other.interrupt.id, status: 'cancelled' }] });
    expect(reject.finished.outcome).toEqual({ type: 'success' });
    expect(await rows(other.client.threadId)).toEqual([
      { role: 'user', content: 'Write the plan', tool_call_id: null },
      { role: 'assistant', content: 'On it.', tool_call_id: null },
      { role: 'tool', content: 'rejected by the user: cancelled by the user', tool_call_id: 'call_write' },
      { role: 'assistant', content: 'Understood, I will not write it.', tool_call_id: null },
    ]);
  });

  it('resume reject carries the feedback to the agent', async () => {
    const { client, interrupt } = await interrupted();
    next({ text: 'Fine.' });
    await run(client, {
      resume: [{ interruptId: interrupt.id, status: 'resolved', payload: { decision: 'reject', feedback: 'not now' } }],
    });
    expect((await rows(client.threadId))[2]).toEqual({
      role: 'tool',
      content: 'rejected by the user: not now',
      tool_call_id: 'call_write',
    });
  });

  it('a run on a busy thread is refused with 409 session_busy and leaves the running turn alone', async () => {
    const story = Array.from({ length: 40 }, (_, i) => `word${i} `).join('');
    next({ text: story, delayMs: 50 });
    const client = agent();
    say(client, 'Tell me a story');
    let reached!: () => void;
    const streaming = new Promise<void>((resolve) => (reached = resolve));
    const firstRun = client.runAgent({ tools: TOOLS }, { onTextMessageContentEvent: () => reached() });
    await streaming;
    const second = agent({ threadId: client.threadId });
    say(second, 'Another one');
    const refused = await second.runAgent({ tools: TOOLS }).then(
      () => undefined,
      (error: Error & { status?: number; payload?: { code: string } }) => error,
    );
    expect(refused).toMatchObject({ status: 409, payload: { code: 'session_busy' } });
    await firstRun;
    expect((await rows(client.threadId)).map((r) => r.content)).toEqual(['Tell me a story', story]);
  });

  it('the native cancel route stops an AG-UI run, which finishes with the cancelled outcome', async () => {
    next({ text: Array.from({ length: 40 }, (_, i) => `w${i} `).join(''), delayMs: 50 });
    const client = agent();
    say(client, 'Talk for a while');
    let reached!: () => void;
    const streaming = new Promise<void>((resolve) => (reached = resolve));
    const events: BaseEvent[] = [];
    const running = client.runAgent(
      { tools: TOOLS },
      {
        onEvent: ({ event }) => void events.push(event),
        onTextMessageContentEvent: () => reached(),
      },
    );
    await streaming;
    const res = await fetch(`${t.baseUrl}/v1/sessions/${client.threadId}/cancel`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEYS.alice}` },
    });
    expect(await res.json()).toEqual({ cancelled: true });
    await running;
    expect(await verified(events)).toHaveLength(events.length);
    expect((events[events.length - 1] as RunFinishedEvent).outcome).toEqual({ type: 'cancelled' });
    const [turn] = await query(t.databaseUrl, `SELECT status FROM turns WHERE session_id = $1`, [client.threadId]);
    expect(turn.status).toBe('cancelled');
  });

  it('a client that aborts mid-run leaves the turn interrupted, with the text so far stored', async () => {
    next({ text: Array.from({ length: 40 }, (_, i) => `w${i} `).join(''), delayMs: 50 });
    const client = agent();
    say(client, 'Talk for a while');
    const running = client.runAgent({ tools: TOOLS }, { onTextMessageContentEvent: () => client.abortRun() });
    await running.catch(() => undefined);
    const turn = await waitFor(async () => {
      const [row] = await query(t.databaseUrl, `SELECT status FROM turns WHERE session_id = $1`, [client.threadId]);
      return row?.status !== 'running' ? row : undefined;
    });
    expect(turn.status).toBe('interrupted');
    const [answer] = await query(t.databaseUrl, `SELECT status, content FROM messages WHERE session_id = $1 AND role = 'assistant'`, [
      client.threadId,
    ]);
    expect(answer.status).toBe('interrupted');
    expect(answer.content).toMatch(/^w0 /);
  });

  it('is described in the OpenAPI document', async () => {
    const res = await fetch(`${t.baseUrl}/docs-json`, { headers: { Authorization: `Bearer ${KEYS.alice}` } });
    const doc = (await res.json()) as {
      paths: Record<string, { post?: { requestBody?: unknown; tags?: string[]; responses?: Record<string, unknown> } }>;
      components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
    };
    for (const path of ['/v1/ag-ui', '/v1/ag-ui/agents/{agentType}']) {
      expect(doc.paths[path]?.post).toMatchObject({
        tags: ['ag-ui'],
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/RunAgentInputDoc' } } } },
      });
      expect(Object.keys(doc.paths[path]!.post!.responses!)).toEqual(expect.arrayContaining(['406', '422']));
    }
    expect(doc.components.schemas.ForwardedPropsDoc.properties?.onDisconnect?.enum).toEqual(['cancel', 'continue']);
  });

  it('answers length-prefixed protobuf to a client that accepts it, and the client reads it', async () => {
    next({ text: 'Compact hello.' });
    let contentType: string | null = null;
    const client = new HttpAgent({
      url: `${t.baseUrl}/v1/ag-ui/agents/coder`,
      threadId: randomUUID(),
      headers: { Authorization: `Bearer ${KEYS.alice}` },
      fetch: async (url, init) => {
        const headers = { ...(init.headers as Record<string, string>), Accept: 'application/vnd.ag-ui.event+proto' };
        const res = await fetch(url, { ...init, headers });
        contentType = res.headers.get('content-type');
        return res;
      },
    });
    say(client, 'Hi');
    const { events } = await run(client);
    expect(contentType).toBe('application/vnd.ag-ui.event+proto');
    expect(
      ofType<BaseEvent & { delta: string }>(events, EventType.TEXT_MESSAGE_CONTENT)
        .map((e) => e.delta)
        .join(''),
    ).toBe('Compact hello.');
  });

  it('a thread of another key is not found', async () => {
    next({ text: 'Mine.' });
    const client = agent();
    say(client, 'Hello');
    await run(client);
    const intruder = agent({ threadId: client.threadId, key: KEYS.bob });
    say(intruder, 'Let me in');
    const error = await intruder.runAgent({}).then(
      () => undefined,
      (e: Error & { status?: number; payload?: { code: string } }) => e,
    );
    expect(error).toMatchObject({ status: 404, payload: { code: 'session_not_found' } });
    expect(await rows(client.threadId)).toHaveLength(2);
  });

  it('malformed RunAgentInput is a 400 that names the field, and nothing is stored', async () => {
    const threadId = randomUUID();
    const cases: Array<[unknown, string]> = [
      [{ runId: 'r', messages: [] }, 'threadId'],
      [{ threadId, runId: 'r', messages: [{ id: 'm', role: 'wizard', content: 'x' }] }, 'messages[0]'],
      [{ threadId, runId: 'r', messages: [{ id: 'm', role: 'user', content: 'x' }], tools: [{ description: 'no name' }] }, 'tools[0].name'],
      [{ threadId, runId: 'r', messages: [{ id: 'm', role: 'user', content: 'x'.repeat(100_001) }] }, 'messages[0].content'],
      [
        { threadId, runId: 'r', messages: [], resume: [{ interruptId: randomUUID(), status: 'resolved', payload: { decision: 'maybe' } }] },
        'resume[0].payload.decision',
      ],
      [{ threadId, runId: 'r', messages: [], resume: [{ interruptId: 'nope', status: 'cancelled' }] }, 'resume[0].interruptId'],
    ];
    for (const [body, field] of cases) {
      const res = await post('', body);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'invalid_input' });
      expect(res.body.message.startsWith(`${field}`)).toBe(true);
    }
    // Hostile shapes: never a 5xx, and the field is named.
    const nul = await post('', { threadId, runId: 'r', messages: [{ id: 'm', role: 'user', content: 'a\u0000b' }] });
    expect({ status: nul.status, named: nul.body.message.includes('messages.0.content') }).toEqual({ status: 400, named: true });
    for (const body of [[], 'text', null, { threadId: 42, runId: 'r', messages: [] }]) {
      const odd = await post('', body);
      expect(odd.status).toBe(400);
    }
    const res = await post('/agents/wizard', { threadId, runId: 'r', messages: [{ id: 'm', role: 'user', content: 'x' }] });
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'unknown_agent' });
    const nothing = await post('', { threadId, runId: 'r', messages: [] });
    expect({ status: nothing.status, code: nothing.body.code }).toEqual({ status: 400, code: 'nothing_to_run' });
    expect(await query(t.databaseUrl, `SELECT 1 FROM messages WHERE session_id = $1`, [threadId])).toEqual([]);
  });

  it('an LLM failure ends the run with RUN_ERROR carrying the runtime’s code', async () => {
    next({ status: 500 });
    const client = agent();
    say(client, 'Hello');
    const events: BaseEvent[] = [];
    await client.runAgent({ tools: TOOLS }, { onEvent: ({ event }) => void events.push(event) }).catch(() => undefined);
    expect(await verified(events)).toHaveLength(events.length);
    const last = events[events.length - 1] as BaseEvent & { code: string };
    expect(last.type).toBe(EventType.RUN_ERROR);
    expect(last.code).toMatch(/^llm_/);
  });
});
