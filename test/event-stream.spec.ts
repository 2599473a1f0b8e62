import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { createSession } from './support/conversation.js';
import { OpenAiStub } from './support/openai-stub.js';

describe('the event stream on a quiet turn', () => {
  const stub = new OpenAiStub();
  let t: TestApp;

  before(async () => {
    t = await startApp({
      LLM_BASE_URL: await stub.start(),
      LLM_API_KEY: 'x',
      LLM_MODEL: 'stub',
      MULTI_AGENT_MODE: 'false',
      SSE_PING_SECONDS: '1',
    });
  });
  after(async () => {
    await t.close();
    await stub.close();
  });

  it('sends a `: ping` comment every SSE_PING_SECONDS while the LLM is silent', async () => {
    stub.reply({ text: 'slow words here', delayMs: 1_200 });
    const id = await createSession(t.baseUrl);
    const res = await fetch(`${t.baseUrl}/v1/sessions/${id}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ content: 'take your time' }),
    });
    const raw = await res.text();
    expect(raw.match(/^: ping$/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
    // Comments sit between events, never inside one.
    expect(raw.split('\n\n').filter((block) => block.includes(': ping') && block.includes('event:'))).toEqual([]);
    expect(raw).toMatch(/event: done\ndata: \{"turnId":"[^"]+","status":"completed"/);
  });
});
