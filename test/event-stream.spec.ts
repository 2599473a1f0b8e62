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
    expect(raw.startsWith('retry: 3000\n')).toBe(true);
    expect(raw.match(/^: ping$/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
    // A ping is never a block of its own (fetch-event-source would hand it over as an empty message): a line of the next block.
    expect(
      raw
        .split('\n\n')
        .slice(0, -1)
        .filter((block) => /^(: ping\n?)+$/.test(block)),
    ).toEqual([]);
    expect(raw).toMatch(/event: done\ndata: \{"turnId":"[^"]+","status":"completed"/);
  });
});
