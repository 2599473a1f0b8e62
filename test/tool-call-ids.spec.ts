import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { createSession } from './support/conversation.js';
import { OpenAiStub } from './support/openai-stub.js';
import { doneOf, eventsOf, postStream } from './support/sse.js';

describe('tool call ids and edited approvals', () => {
  const stub = new OpenAiStub();
  let t: TestApp;

  before(async () => {
    t = await startApp({ LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub' });
  });
  after(async () => {
    await t.close();
    await stub.close();
  });

  it('keeps tool call ids unique in a session when the LLM reuses them (call_0 in every answer)', async () => {
    const id = await createSession(t.baseUrl, { agentType: 'coder' });
    const ids: string[] = [];
    for (const path of ['a.txt', 'b.txt']) {
      stub.respond((req) =>
        req.body.messages.at(-1)?.role === 'tool'
          ? { text: 'Read it.' }
          : { toolCalls: [{ id: 'call_0', name: 'read_file', arguments: { path } }] },
      );
      const asked = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: `read ${path}` });
      expect(doneOf(asked).status).toBe('awaiting_tool_result');
      const [call] = eventsOf(asked, 'tool_call');
      expect(call.data.arguments).toEqual({ path });
      ids.push(call.data.toolCallId);
      const answered = await postStream(`${t.baseUrl}/v1/sessions/${id}/tool-results`, {
        toolCallId: call.data.toolCallId,
        output: `contents of ${path}`,
      });
      expect(doneOf(answered).status).toBe('completed');
    }
    expect(ids[0]).toBe('call_0');
    expect(ids[1]).not.toBe('call_0');
    // The stub refuses histories OpenAI would refuse; the last request carried both calls with their own results.
    const tools = stub.requests
      .at(-1)!
      .body.messages.filter((m) => m.role === 'tool')
      .map((m) => m.tool_call_id);
    expect(tools).toEqual(ids);
  });

  it('refuses edited arguments outside what the calling agent may do', async () => {
    const id = await createSession(t.baseUrl, { agentType: 'architect' });
    stub.reply({ toolCalls: [{ name: 'write_file', arguments: { path: 'docs/plan.md', content: '# Plan' } }] });
    const held = await postStream(`${t.baseUrl}/v1/sessions/${id}/messages`, { content: 'write the plan' });
    const [approval] = eventsOf(held, 'approval_required');
    expect(approval.data.name).toBe('write_file');

    const refused = await postStream(`${t.baseUrl}/v1/sessions/${id}/approvals/${approval.data.approvalId}`, {
      decision: 'edit',
      arguments: { path: 'src/main.ts', content: 'code' },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.message).toMatch(/arguments/);

    const edited = await postStream(`${t.baseUrl}/v1/sessions/${id}/approvals/${approval.data.approvalId}`, {
      decision: 'edit',
      arguments: { path: 'docs/plan-v2.md', content: '# Plan v2' },
    });
    expect(eventsOf(edited, 'tool_call')[0].data.arguments).toEqual({ path: 'docs/plan-v2.md', content: '# Plan v2' });
  });
});
