import { expect } from 'expect';
import { describe, it } from 'node:test';
import { AgentCatalog } from '../../src/agents/agent-catalog.js';
import { ToolCallCheck } from '../../src/agents/tool-call-check.js';
import { ApprovalPolicy } from '../../src/approvals/approval-policy.js';
import { loadSettings } from '../../src/config/load-settings.js';
import type { StoredToolCall } from '../../src/messages/message.entity.js';
import { decideToolCalls, type CallJudges } from '../../src/turns/steps/decide-tool-calls.js';

const settings = loadSettings({});
const toolCheck = new ToolCallCheck(new AgentCatalog(settings));
const policy = new ApprovalPolicy(settings);

/** The judges the runner uses, for an agent. */
const judgesFor = (agent: string): CallJudges => ({
  check: (call) => toolCheck.check(agent, { id: call.id, name: call.function.name, arguments: call.function.arguments }),
  approval: (name, args) => policy.evaluate(name, args),
});

let ids = 0;
const call = (name: string, args: unknown): StoredToolCall => ({
  id: `call_${++ids}`,
  type: 'function',
  function: { name, arguments: typeof args === 'string' ? args : JSON.stringify(args) },
});
const limits = { switchesLeft: 3, maxSwitches: 3 };

describe('deciding the fate of tool calls', () => {
  it('hands a read to the client and lets the turn wait for its result', () => {
    const read = call('read_file', { path: 'README.md' });
    const plan = decideToolCalls([read], judgesFor('coder'), limits);
    expect(plan).toEqual({ replies: [], held: [], toClient: [{ call: read, args: { path: 'README.md' } }], next: 'awaiting_tool_result' });
  });

  it('holds a write for approval, with the policy’s reason; a held call outranks one handed out', () => {
    const write = call('write_file', { path: 'a.ts', content: 'x' });
    const read = call('read_file', { path: 'a.ts' });
    const plan = decideToolCalls([write, read], judgesFor('coder'), limits);
    expect(plan.held).toEqual([{ call: write, args: { path: 'a.ts', content: 'x' }, reason: expect.any(String) }]);
    expect(plan.toClient.map((c) => c.call.id)).toEqual([read.id]);
    expect(plan.next).toBe('awaiting_approval');
  });

  it('refuses a tool the agent lacks, bad JSON and a path outside its restrictions, telling the LLM why', () => {
    const command = call('execute_command', { command: 'ls' });
    const broken = call('read_file', '{"path":');
    const code = call('write_file', { path: 'src/a.ts', content: 'x' });
    const plan = decideToolCalls([command, broken, code], judgesFor('architect'), limits);
    expect(plan.replies.map((r) => r.toolCallId)).toEqual([command.id, broken.id, code.id]);
    for (const reply of plan.replies) expect(reply.content).toMatch(/^Refused: /);
    expect(plan.replies[1].content).toMatch(/not valid JSON/);
    expect(plan.replies[2].content).toMatch(/\*\.md/);
    // Every call has its answer: the LLM goes on and corrects itself.
    expect(plan.next).toBe('continue');
  });

  it('runs attempt_completion here and ends the turn with its result', () => {
    const done = call('attempt_completion', { result: 'All tests pass.' });
    const plan = decideToolCalls([done], judgesFor('coder'), limits);
    expect(plan.replies).toEqual([{ toolCallId: done.id, content: 'Completion accepted; the result was shown to the user.' }]);
    expect(plan.final).toEqual({ content: 'All tests pass.' });
    expect(plan.next).toBe('completed');
  });

  it('keeps a follow-up question’s suggestions as the final message’s metadata', () => {
    const ask = call('ask_followup_question', { question: 'Which file?', suggestions: ['a.ts', 'b.ts'] });
    const plan = decideToolCalls([ask], judgesFor('coder'), limits);
    expect(plan.final).toEqual({ content: 'Which file?', metadata: { suggestions: ['a.ts', 'b.ts'] } });
  });

  it('does not end the turn on a completion while a client call of the same answer waits', () => {
    const read = call('read_file', { path: 'a.ts' });
    const plan = decideToolCalls([read, call('attempt_completion', { result: 'done' })], judgesFor('coder'), limits);
    expect(plan.next).toBe('awaiting_tool_result');
  });

  it('hands over once per answer, and not at all once the turn used its switches', () => {
    const first = call('switch_mode', { agent: 'architect', reason: 'design first' });
    const second = call('switch_mode', { agent: 'debug', reason: 'then debug' });
    const plan = decideToolCalls([first, second], judgesFor('coder'), limits);
    expect(plan.handOver).toEqual({ to: 'architect', reason: 'design first' });
    expect(plan.replies.map((r) => r.content)).toEqual([
      'Switched to the architect agent.',
      expect.stringMatching(/^Refused: no more agent switches/),
    ]);
    expect(plan.next).toBe('continue');

    const spent = decideToolCalls([call('switch_mode', { agent: 'architect', reason: 'x' })], judgesFor('coder'), {
      switchesLeft: 0,
      maxSwitches: 3,
    });
    expect(spent.handOver).toBeUndefined();
    expect(spent.replies[0].content).toMatch(/at most 3/);
  });
});
