import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { createSession } from './support/conversation.js';
import { OpenAiStub } from './support/openai-stub.js';
import { parseMetrics, type Sample } from './support/metrics.js';
import { doneOf, eventsOf, postStream } from './support/sse.js';

function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

describe('metrics an operator needs', () => {
  const stub = new OpenAiStub();
  let t: TestApp;

  before(async () => {
    const url = await stub.start();
    t = await startApp({ LLM_BASE_URL: url, LLM_API_KEY: 'x', LLM_MODEL: 'stub-model', LLM_MAX_RETRIES: '1', LLM_RETRY_BASE_MS: '1' });
  });
  after(async () => {
    await t.close();
    await stub.close();
  });

  it('exports every family with bounded labels after completed, failed, cancelled and approval turns', async () => {
    // Completed, routed by the orchestrator (the classification request has no tools).
    stub.respond((req) => (req.body.tools ? { text: 'Done.' } : { text: '{"agent":"ask","reason":"a question","confidence":0.9}' }));
    const routed = await createSession(t.baseUrl);
    expect(doneOf(await postStream(`${t.baseUrl}/v1/sessions/${routed}/messages`, { content: 'What is a monad?' })).status).toBe(
      'completed',
    );

    // Failed: the LLM answers 500 to the first try and the retry.
    stub.reply({ status: 500 });
    const failing = await createSession(t.baseUrl, { agentType: 'coder' });
    const failed = await postStream(`${t.baseUrl}/v1/sessions/${failing}/messages`, { content: 'hello' });
    expect(doneOf(failed).status).toBe('failed');

    // Cancelled, and a 409 while it runs.
    stub.reply({ text: Array.from({ length: 200 }, (_, i) => `t${i} `), delayMs: 20 });
    const slow = await createSession(t.baseUrl, { agentType: 'coder' });
    let streaming!: () => void;
    const tokenSeen = new Promise<void>((resolve) => (streaming = resolve));
    const running = postStream(
      `${t.baseUrl}/v1/sessions/${slow}/messages`,
      { content: 'talk' },
      {
        stopWhen: (e) => {
          if (e.event === 'token') streaming();
          return false;
        },
      },
    );
    await tokenSeen;
    // While it streams, the gauge counts it: one stream, no labels (nothing per session or turn).
    const during = parseMetrics(await (await fetch(`${t.baseUrl}/metrics`)).text()).filter((s) => s.name === 'sse_streams_active');
    expect(during).toEqual([{ name: 'sse_streams_active', labels: {}, value: 1 }]);
    const busy = await postStream(`${t.baseUrl}/v1/sessions/${slow}/messages`, { content: 'again' });
    expect(busy.status).toBe(409);
    await fetch(`${t.baseUrl}/v1/sessions/${slow}/cancel`, { method: 'POST' });
    expect(doneOf(await running).status).toBe('cancelled');
    // The stream has ended only once its work has, and the gauge is decremented with the work.
    expect(sum(parseMetrics(await (await fetch(`${t.baseUrl}/metrics`)).text()), 'sse_streams_active')).toBe(0);

    // An approval, approved.
    stub.reply({ toolCalls: [{ name: 'write_file', arguments: { path: 'notes.md', content: 'hi' } }] });
    const risky = await createSession(t.baseUrl, { agentType: 'coder' });
    const held = await postStream(`${t.baseUrl}/v1/sessions/${risky}/messages`, { content: 'write notes' });
    expect(doneOf(held).status).toBe('awaiting_approval');
    const approvalId = eventsOf(held, 'approval_required')[0].data.approvalId;
    const approved = await postStream(`${t.baseUrl}/v1/sessions/${risky}/approvals/${approvalId}`, { decision: 'approve' });
    expect(eventsOf(approved, 'tool_call')).toHaveLength(1);

    const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
    const m = parseMetrics(text);
    const llm = { gen_ai_provider_name: 'openai_compatible', gen_ai_request_model: 'stub-model' };

    for (const operation of [
      'create_session',
      'start_turn',
      'save_user_message',
      'switch_agent',
      'save_assistant_message',
      'save_approval',
      'update_approval',
      'request_cancel',
      'finish_turn',
    ]) {
      expect({ operation, count: sum(m, 'sse_transaction_duration_seconds_count', { operation }) > 0 }).toEqual({
        operation,
        count: true,
      });
      expect(sum(m, 'sse_transaction_commits_total', { operation, status: 'success' })).toBeGreaterThan(0);
    }
    expect(text).toContain('# TYPE db_rollbacks_total counter');
    // Every micro-transaction waited for its pooled connection, if only for microseconds.
    expect(sum(m, 'db_pool_wait_seconds_count')).toBeGreaterThanOrEqual(sum(m, 'sse_transaction_commits_total'));
    expect(sum(m, 'db_pool_wait_seconds_sum')).toBeGreaterThan(0);
    expect(sum(m, 'sse_transaction_duration_seconds_sum')).toBeGreaterThan(0);
    expect(sum(m, 'sse_stream_duration_seconds_sum')).toBeGreaterThan(0);
    expect(m.filter((s) => s.name === 'sse_streams_active')).toEqual([{ name: 'sse_streams_active', labels: {}, value: 0 }]);
    for (const outcome of ['completed', 'failed', 'cancelled', 'awaiting_approval', 'awaiting_tool_result']) {
      expect({ outcome, n: sum(m, 'sse_stream_duration_seconds_count', { outcome }) > 0 }).toEqual({ outcome, n: true });
      expect(sum(m, 'turns_total', { status: outcome })).toBeGreaterThan(0);
    }
    expect(sum(m, 'session_busy_rejections_total')).toBe(1);
    expect(sum(m, 'gen_ai_client_operation_duration_seconds_count', llm)).toBeGreaterThanOrEqual(5);
    expect(sum(m, 'gen_ai_client_operation_time_to_first_chunk_seconds_count', llm)).toBeGreaterThanOrEqual(3);
    expect(sum(m, 'gen_ai_client_token_usage_count', { ...llm, gen_ai_token_type: 'input' })).toBeGreaterThan(0);
    expect(sum(m, 'gen_ai_client_token_usage_count', { ...llm, gen_ai_token_type: 'output' })).toBeGreaterThan(0);
    expect(sum(m, 'llm_errors_total', { gen_ai_provider_name: 'openai_compatible', error_type: 'server_error' })).toBe(1);
    expect(sum(m, 'llm_retries_total', { gen_ai_provider_name: 'openai_compatible' })).toBe(1);
    expect(m.find((s) => s.name === 'llm_circuit_state')?.labels).toEqual({ gen_ai_provider_name: 'openai_compatible' });
    expect(sum(m, 'agent_switches_total', { from: 'orchestrator', to: 'ask' })).toBe(1);
    expect(sum(m, 'approvals_requested_total', { tool: 'write_file' })).toBe(1);
    expect(sum(m, 'approvals_decided_total', { decision: 'approved' })).toBe(1);
    expect(sum(m, 'approval_decision_seconds_count')).toBe(1);
    expect(text).toContain('# TYPE approvals_pending gauge');
    expect(
      sum(m, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/sessions/:id/messages', status: '200' }),
    ).toBeGreaterThan(0);
    expect(sum(m, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/sessions/:id/messages', status: '409' })).toBe(1);
    expect(sum(m, 'process_cpu_seconds_total')).toBeGreaterThan(0);

    // Label values are bounded sets: no ids, no user text, no raw URLs.
    const values = m.flatMap((s) => Object.values(s.labels));
    expect(values.filter((v) => /[0-9a-f]{8}-[0-9a-f]{4}-/.test(v))).toEqual([]);
    expect(values.filter((v) => /monad|write notes|talk/.test(v))).toEqual([]);
  });
});
