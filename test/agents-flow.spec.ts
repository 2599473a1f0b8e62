import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { architectAgent } from '../src/agents/definitions/architect.js';
import { askAgent } from '../src/agents/definitions/ask.js';
import { coderAgent } from '../src/agents/definitions/coder.js';
import { debugAgent } from '../src/agents/definitions/debug.js';
import { startApp, TestApp } from './support/app.js';
import { query } from './support/database.js';
import { OpenAiStub, RecordedRequest, StubReply } from './support/openai-stub.js';
import { doneOf, eventsOf, eventually, postStream, StreamResult } from './support/sse.js';

async function createSession(baseUrl: string, agentType?: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/sessions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(agentType ? { agentType } : {}),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return res.json();
}

function toolNames(request: RecordedRequest): string[] {
  return (request.body.tools ?? []).map((tool) => tool.function.name);
}

/** Tool messages as the stream announced them. */
function toolMessages(result: StreamResult): Array<{ toolCallId?: string; content: string | null }> {
  return eventsOf(result, 'message')
    .map((e) => e.data.message)
    .filter((m) => m.role === 'tool');
}

async function storedMessages(
  t: TestApp,
  sessionId: string,
): Promise<Array<{ id: string; role: string; content: string | null; tool_call_id: string | null; agent: string | null }>> {
  return query(t.databaseUrl, `SELECT id, role, content, tool_call_id, agent FROM messages WHERE session_id = $1 ORDER BY seq`, [
    sessionId,
  ]);
}

describe('agents and tools over a real turn', () => {
  const stub = new OpenAiStub();
  let llmUrl: string;
  let t: TestApp;

  /** Scripts the stub's next replies, counted from now (the last one repeats). */
  function next(...replies: StubReply[]): void {
    const base = stub.requests.length;
    stub.respond((_req, index) => replies[Math.min(index - base, replies.length - 1)]);
  }

  function turn(sessionId: string, content: string, extra: Record<string, unknown> = {}): Promise<StreamResult> {
    return postStream(`${t.baseUrl}/v1/sessions/${sessionId}/messages`, { content, ...extra });
  }

  function toolResult(sessionId: string, toolCallId: string, output: string): Promise<StreamResult> {
    return postStream(`${t.baseUrl}/v1/sessions/${sessionId}/tool-results`, { toolCallId, output });
  }

  before(async () => {
    llmUrl = await stub.start();
    t = await startApp({ LLM_BASE_URL: llmUrl, LLM_API_KEY: 'x', LLM_MODEL: 'stub-model', LLM_MAX_RETRIES: '1', LLM_RETRY_BASE_MS: '1' });
  });
  after(async () => {
    await t.close();
    await stub.close();
  });

  it('offers each agent its own tools, and the switch_mode targets other than itself', async () => {
    next({ text: 'Fine.' });
    const offered: Record<string, string[]> = {};
    for (const agent of [coderAgent, architectAgent, askAgent, debugAgent]) {
      const id = await createSession(t.baseUrl, agent.type);
      const before = stub.requests.length;
      const result = await turn(id, 'Hello');
      expect(doneOf(result).status).toBe('completed');
      const requests = stub.requests.slice(before);
      expect(requests).toHaveLength(1); // no routing call for a specialist
      offered[agent.type] = toolNames(requests[0]);
      const switchMode = requests[0].body.tools!.find((tool) => tool.function.name === 'switch_mode') as unknown as {
        function: { parameters: { properties: { agent: { enum: string[] } } } };
      };
      expect(switchMode.function.parameters.properties.agent.enum).not.toContain(agent.type);
    }
    expect(offered).toEqual({
      coder: [
        'read_file',
        'write_file',
        'list_files',
        'create_directory',
        'execute_command',
        'search_in_code',
        'switch_mode',
        'attempt_completion',
        'ask_followup_question',
      ],
      architect: ['read_file', 'list_files', 'search_in_code', 'write_file', 'switch_mode', 'attempt_completion', 'ask_followup_question'],
      ask: ['read_file', 'list_files', 'search_in_code', 'switch_mode', 'attempt_completion', 'ask_followup_question'],
      debug: ['read_file', 'list_files', 'search_in_code', 'execute_command', 'switch_mode', 'attempt_completion', 'ask_followup_question'],
    });
  });

  const refusals: Array<{ agent: string; call: StubReply['toolCalls']; reason: RegExp }> = [
    {
      agent: 'ask',
      call: [{ id: 'call_forbidden', name: 'write_file', arguments: { path: 'a.md', content: 'x' } }],
      reason: /^Refused: The Ask agent may not use "write_file"\. Available tools: read_file, /,
    },
    {
      agent: 'architect',
      call: [{ id: 'call_forbidden', name: 'write_file', arguments: { path: 'src/a.ts', content: 'x' } }],
      reason: /may only use it on paths matching \*\*\/\*\.md, and "src\/a\.ts" does not/,
    },
    {
      agent: 'coder',
      call: [{ id: 'call_forbidden', name: 'read_file', arguments: { file: 'a.ts' } }],
      reason: /Invalid arguments for "read_file": missing required argument "path"; unknown argument "file"/,
    },
    {
      agent: 'coder',
      call: [{ id: 'call_forbidden', name: 'read_file', arguments: '{"path": "a.ts"' }],
      reason: /The arguments of "read_file" are not valid JSON/,
    },
    {
      agent: 'coder',
      call: [{ id: 'call_forbidden', name: 'read_file', arguments: { path: '../../etc/passwd' } }],
      reason: /leads outside the workspace/,
    },
  ];
  for (const { agent, call, reason } of refusals) {
    it(`refuses ${call![0].name} ${JSON.stringify(call![0].arguments)} from ${agent}: a tool message tells the LLM why, and it is asked again`, async () => {
      next({ text: 'Let me try.', toolCalls: call }, { text: 'Understood, I will not do that.' });
      const id = await createSession(t.baseUrl, agent);
      const before = stub.requests.length;
      const result = await turn(id, 'Do it');
      expect(eventsOf(result, 'tool_call')).toEqual([]);
      expect(eventsOf(result, 'approval_required')).toEqual([]);
      expect(toolMessages(result)).toEqual([
        expect.objectContaining({ toolCallId: 'call_forbidden', content: expect.stringMatching(reason) }),
      ]);
      expect(doneOf(result).status).toBe('completed');
      const requests = stub.requests.slice(before);
      expect(requests).toHaveLength(2);
      const refusal = requests[1].body.messages.at(-1)!;
      expect(refusal).toMatchObject({ role: 'tool', tool_call_id: 'call_forbidden', content: expect.stringMatching(reason) });
      expect((await storedMessages(t, id)).map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    });
  }

  it('bounds the steps of a turn: an agent that keeps making refused calls ends with error{step_limit} and done{failed}', async () => {
    const limited = await startApp({ LLM_BASE_URL: llmUrl, LLM_API_KEY: 'x', LLM_MODEL: 'stub-model', MAX_STEPS_PER_TURN: '3' });
    try {
      next({ toolCalls: [{ name: 'write_file', arguments: { path: 'a.md', content: 'x' } }] });
      const id = await createSession(limited.baseUrl, 'ask');
      const before = stub.requests.length;
      const result = await postStream(`${limited.baseUrl}/v1/sessions/${id}/messages`, { content: 'Write a.md' });
      expect(result.events.map((e) => e.event).slice(-2)).toEqual(['error', 'done']);
      expect(eventsOf(result, 'error')[0].data).toEqual({ code: 'step_limit', message: expect.stringContaining('3 steps') });
      expect(doneOf(result).status).toBe('failed');
      expect(stub.requests.length - before).toBe(3);
      expect(eventsOf(result, 'tool_call')).toEqual([]);
      const [row] = await query(limited.databaseUrl, `SELECT status FROM turns WHERE session_id = $1`, [id]);
      expect(row.status).toBe('failed');
      // Each step's answer and refusal were kept: the history stays valid for the next turn.
      next({ text: 'Sorry about that.' });
      const again = await postStream(`${limited.baseUrl}/v1/sessions/${id}/messages`, { content: 'Stop' });
      expect(doneOf(again).status).toBe('completed');
    } finally {
      await limited.close();
    }
  });

  it('hands parallel calls to the client and goes on only when every call has its result', async () => {
    next({
      text: 'Reading both.',
      toolCalls: [
        { id: 'call_a', name: 'read_file', arguments: { path: 'a.txt' } },
        { id: 'call_b', name: 'read_file', arguments: { path: 'b.txt' } },
      ],
    });
    const id = await createSession(t.baseUrl, 'coder');
    const first = await turn(id, 'Compare a.txt and b.txt');
    expect(eventsOf(first, 'tool_call').map((e) => e.data)).toEqual([
      { toolCallId: 'call_a', name: 'read_file', arguments: { path: 'a.txt' } },
      { toolCallId: 'call_b', name: 'read_file', arguments: { path: 'b.txt' } },
    ]);
    expect(doneOf(first).status).toBe('awaiting_tool_result');

    const before = stub.requests.length;
    const partial = await toolResult(id, 'call_a', 'alpha');
    expect(partial.events.map((e) => e.event)).toEqual(['turn', 'message', 'done']);
    expect(doneOf(partial).status).toBe('awaiting_tool_result');
    expect(stub.requests.length).toBe(before);

    const twice = await toolResult(id, 'call_a', 'alpha again');
    expect(twice.status).toBe(409);
    expect(twice.json.code).toBe('tool_result_exists');
    const unknown = await toolResult(id, 'call_nope', 'x');
    expect(unknown.status).toBe(404);
    expect(unknown.json.code).toBe('tool_call_not_found');
    expect(stub.requests.length).toBe(before);

    next({ text: 'a.txt says alpha, b.txt says beta.' });
    const last = await toolResult(id, 'call_b', 'beta');
    expect(doneOf(last).status).toBe('completed');
    expect(stub.requests.length).toBe(before + 1);
    const sent = stub.requests.at(-1)!.body.messages.filter((m) => m.role === 'tool');
    expect(sent.map((m) => [m.tool_call_id, m.content])).toEqual([
      ['call_a', 'alpha'],
      ['call_b', 'beta'],
    ]);
    expect((await storedMessages(t, id)).map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'tool', 'assistant']);
  });

  it('closes calls still waiting for a result when the user sends a new message, right after the answered ones', async () => {
    next({
      toolCalls: [
        { id: 'call_x', name: 'read_file', arguments: { path: 'x.txt' } },
        { id: 'call_y', name: 'read_file', arguments: { path: 'y.txt' } },
      ],
    });
    const id = await createSession(t.baseUrl, 'coder');
    expect(doneOf(await turn(id, 'Read x.txt and y.txt')).status).toBe('awaiting_tool_result');
    expect(doneOf(await toolResult(id, 'call_x', 'ex')).status).toBe('awaiting_tool_result');

    next({ text: 'Sure, something else then.' });
    const moved = await turn(id, 'Never mind, do something else');
    expect(doneOf(moved).status).toBe('completed'); // the stub answers 400 to a history OpenAI would refuse
    expect(toolMessages(moved)).toEqual([
      expect.objectContaining({ toolCallId: 'call_y', content: expect.stringMatching(/^Not run: the user sent a new message/) }),
    ]);
    const rows = await storedMessages(t, id);
    expect(rows.map((m) => [m.role, m.tool_call_id])).toEqual([
      ['user', null],
      ['assistant', null],
      ['tool', 'call_x'],
      ['tool', 'call_y'],
      ['user', null],
      ['assistant', null],
    ]);
    const late = await toolResult(id, 'call_y', 'too late');
    expect(late.status).toBe(409);
  });

  it('routes a new session by the JSON classification, and the chosen agent answers in the same stream', async () => {
    stub.respond((req) =>
      req.body.tools ? { text: 'Here is the plan.' } : { text: '{"agent":"architect","reason":"It is a design task.","confidence":0.9}' },
    );
    const id = await createSession(t.baseUrl);
    const before = stub.requests.length;
    const result = await turn(id, 'Plan the new billing module');
    expect(result.events.map((e) => e.event)).toEqual([
      'turn',
      'message',
      'agent_switched',
      'token',
      'token',
      'token',
      'token',
      'message',
      'done',
    ]);
    expect(eventsOf(result, 'turn')[0].data.agent).toBe('orchestrator');
    expect(eventsOf(result, 'agent_switched')[0].data).toEqual({ from: 'orchestrator', to: 'architect', reason: 'It is a design task.' });
    const requests = stub.requests.slice(before);
    expect(requests.map((r) => r.body.tools === undefined)).toEqual([true, false]);
    expect(requests[0].body.messages.at(-1)).toEqual({ role: 'user', content: 'Plan the new billing module' });
    expect(toolNames(requests[1])).toEqual(architectAgent.tools);
    expect(eventsOf(result, 'message').at(-1)!.data.message).toMatchObject({
      role: 'assistant',
      agent: 'architect',
      content: 'Here is the plan.',
    });
    const agent = await getJson(`${t.baseUrl}/v1/sessions/${id}/agent`);
    expect(agent).toEqual({
      current: 'architect',
      switchCount: 1,
      history: [{ from: 'orchestrator', to: 'architect', reason: 'It is a design task.', at: expect.any(String) }],
    });
  });

  it('falls back to keyword rules when the classification is not JSON', async () => {
    stub.respond((req) => (req.body.tools ? { text: 'Let me look at the stack trace.' } : { text: 'I would say the debugger, probably.' }));
    const id = await createSession(t.baseUrl);
    const result = await turn(id, 'The login page crashes with an exception');
    const switched = eventsOf(result, 'agent_switched')[0].data;
    expect(switched).toMatchObject({ from: 'orchestrator', to: 'debug' });
    expect(switched.reason).toMatch(/\(keyword rules\)$/);
    expect(doneOf(result).status).toBe('completed');
    expect(toolNames(stub.requests.at(-1)!)).toEqual(debugAgent.tools);
  });

  it('lets a specialist hand over with switch_mode: the new agent continues the turn, and no message is rewritten', async () => {
    next({ text: 'Hello.' });
    const id = await createSession(t.baseUrl, 'coder');
    await turn(id, 'Hi');
    const earlier = await storedMessages(t, id);

    next(
      { toolCalls: [{ id: 'call_switch', name: 'switch_mode', arguments: { agent: 'debug', reason: 'The cause is unknown.' } }] },
      { text: 'Investigating the failure.' },
    );
    const before = stub.requests.length;
    const result = await turn(id, 'Fix the failing test');
    expect(eventsOf(result, 'agent_switched').map((e) => e.data)).toEqual([
      { from: 'coder', to: 'debug', reason: 'The cause is unknown.' },
    ]);
    expect(doneOf(result).status).toBe('completed');
    const requests = stub.requests.slice(before);
    expect(requests.map(toolNames)).toEqual([coderAgent.tools, debugAgent.tools]);
    const rows = await storedMessages(t, id);
    expect(rows.slice(0, earlier.length)).toEqual(earlier);
    expect(rows.slice(earlier.length).map((m) => [m.role, m.agent, m.content])).toEqual([
      ['user', 'coder', 'Fix the failing test'],
      ['assistant', 'coder', null],
      ['tool', 'coder', 'Switched to the debug agent.'],
      ['assistant', 'debug', 'Investigating the failure.'],
    ]);
  });

  it('bounds the switches of one turn', async () => {
    // Two agents that keep handing the work to each other, until they are told to carry on.
    stub.respond((req) => {
      const last = req.body.messages.at(-1)!;
      if (last.role === 'tool' && String(last.content).startsWith('Refused: no more agent switches'))
        return { text: 'Fine, I will do it myself.' };
      const to = toolNames(req).includes('write_file') && toolNames(req).includes('create_directory') ? 'architect' : 'coder';
      return { toolCalls: [{ name: 'switch_mode', arguments: { agent: to, reason: 'Not my job.' } }] };
    });
    const id = await createSession(t.baseUrl, 'coder');
    const result = await turn(id, 'Do the thing');
    expect(eventsOf(result, 'agent_switched').map((e) => `${e.data.from}>${e.data.to}`)).toEqual([
      'coder>architect',
      'architect>coder',
      'coder>architect',
    ]);
    expect(toolMessages(result).at(-1)!.content).toMatch(/^Refused: no more agent switches in this turn \(at most 3\)/);
    expect(doneOf(result).status).toBe('completed');
    const agent = await getJson(`${t.baseUrl}/v1/sessions/${id}/agent`);
    expect(agent.current).toBe('architect');
    expect(agent.switchCount).toBe(3);
  });

  it('switches by hand with PUT .../agent, refused while a turn runs, keeping every message', async () => {
    next({ text: 'Done.' });
    const id = await createSession(t.baseUrl, 'coder');
    await turn(id, 'Hi');
    const earlier = await storedMessages(t, id);
    const put = (body: unknown) =>
      fetch(`${t.baseUrl}/v1/sessions/${id}/agent`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });

    const switched = await put({ agentType: 'ask', reason: 'Only questions from now on.' });
    expect(switched.status).toBe(200);
    expect(await switched.json()).toEqual({
      current: 'ask',
      switchCount: 1,
      history: [{ from: 'coder', to: 'ask', reason: 'Only questions from now on.', at: expect.any(String) }],
    });
    expect((await put({ agentType: 'wizard' })).status).toBe(400);
    expect(await storedMessages(t, id)).toEqual(earlier);

    next({ text: Array.from({ length: 40 }, (_, i) => `w${i} `), delayMs: 20 });
    const running = turn(id, 'Explain the code');
    await eventually(async () => {
      const session = await getJson(`${t.baseUrl}/v1/sessions/${id}`);
      return session.status === 'busy';
    });
    const busy = await put({ agentType: 'coder' });
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { code: string }).code).toBe('session_busy');
    const finished = await running;
    expect(eventsOf(finished, 'turn')[0].data.agent).toBe('ask');
    expect(doneOf(finished).status).toBe('completed');
    expect(toolNames(stub.requests.at(-1)!)).toEqual(askAgent.tools);

    const agent = await getJson(`${t.baseUrl}/v1/sessions/${id}/agent`);
    expect(agent.current).toBe('ask');
    expect(agent.switchCount).toBe(1);
  });

  it('ends the turn with attempt_completion: its result is the last assistant message', async () => {
    next({
      text: 'Wrapping up.',
      toolCalls: [{ id: 'call_done', name: 'attempt_completion', arguments: { result: 'Renamed the function in 3 files.' } }],
    });
    const id = await createSession(t.baseUrl, 'coder');
    const before = stub.requests.length;
    const result = await turn(id, 'Rename foo to bar');
    expect(doneOf(result).status).toBe('completed');
    expect(stub.requests.length - before).toBe(1);
    const last = eventsOf(result, 'message').at(-1)!.data.message;
    expect(last).toMatchObject({ role: 'assistant', content: 'Renamed the function in 3 files.', agent: 'coder' });
    const rows = await storedMessages(t, id);
    expect(rows.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(rows[2].content).toMatch(/^Completion accepted/);

    next({ text: 'You are welcome.' });
    expect(doneOf(await turn(id, 'Thanks')).status).toBe('completed');
  });

  it('ends the turn with ask_followup_question: the question and its suggestions', async () => {
    next({
      toolCalls: [
        { name: 'ask_followup_question', arguments: { question: 'Which database should it use?', suggestions: ['PostgreSQL', 'SQLite'] } },
      ],
    });
    const id = await createSession(t.baseUrl, 'architect');
    const result = await turn(id, 'Design the storage layer');
    expect(doneOf(result).status).toBe('completed');
    const last = eventsOf(result, 'message').at(-1)!.data.message;
    expect(last).toMatchObject({
      role: 'assistant',
      content: 'Which database should it use?',
      metadata: { suggestions: ['PostgreSQL', 'SQLite'] },
    });
    const page = await getJson(`${t.baseUrl}/v1/sessions/${id}/messages`);
    expect(page.items.at(-1)).toMatchObject({
      role: 'assistant',
      content: 'Which database should it use?',
      metadata: { suggestions: ['PostgreSQL', 'SQLite'] },
    });

    next({ text: 'PostgreSQL it is.' });
    const answer = await turn(id, 'PostgreSQL');
    expect(doneOf(answer).status).toBe('completed');
    expect(stub.requests.at(-1)!.body.messages.slice(-2)).toEqual([
      { role: 'assistant', content: 'Which database should it use?' },
      { role: 'user', content: 'PostgreSQL' },
    ]);
  });
});

describe('the scripted model (no LLM configured)', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  async function firstTurn(content: string, agentType?: string): Promise<StreamResult> {
    const id = await createSession(t.baseUrl, agentType);
    return postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content });
  }

  it('asks the client to read a file', async () => {
    const result = await firstTurn('read README.md', 'coder');
    expect(eventsOf(result, 'tool_call').map((e) => e.data)).toEqual([
      { toolCallId: expect.any(String), name: 'read_file', arguments: { path: 'README.md' } },
    ]);
    expect(doneOf(result).status).toBe('awaiting_tool_result');
  });

  it('holds writing a file and running a command for approval', async () => {
    const write = await firstTurn('create a file notes.md', 'coder');
    expect(eventsOf(write, 'approval_required').map((e) => e.data)).toEqual([
      expect.objectContaining({
        name: 'write_file',
        arguments: expect.objectContaining({ path: 'notes.md' }),
        reason: 'Writes a file in the workspace.',
      }),
    ]);
    expect(doneOf(write).status).toBe('awaiting_approval');
    const run = await firstTurn('run npm test', 'coder');
    expect(eventsOf(run, 'approval_required').map((e) => e.data)).toEqual([
      expect.objectContaining({ name: 'execute_command', arguments: { command: 'npm test' } }),
    ]);
    expect(eventsOf(run, 'tool_call')).toEqual([]);
  });

  it('routes by keywords from the orchestrator, then continues after the tool result', async () => {
    const id = await createSession(t.baseUrl);
    const result = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'read package.json' });
    expect(eventsOf(result, 'agent_switched')[0].data).toMatchObject({ from: 'orchestrator', to: 'coder' });
    const [call] = eventsOf(result, 'tool_call');
    expect(call.data).toMatchObject({ name: 'read_file', arguments: { path: 'package.json' } });
    const after = await postStream(`${t.baseUrl}/v1/sessions/${id}/tool-results`, {
      toolCallId: call.data.toolCallId,
      output: '{"name":"demo"}',
    });
    expect(doneOf(after).status).toBe('completed');
    expect(eventsOf(after, 'message').at(-1)!.data.message.content).toMatch(/^The tool answered/);
  });
});
