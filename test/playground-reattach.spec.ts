/**
 * The playground joins a running turn again after a reload or a dropped connection, through the
 * durable turns' stream route (`GET /v1/sessions/:id/stream`, `Last-Event-ID`, `onDisconnect`).
 */
import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { startApp, TestApp } from './support/app.js';
import { launchBrowser, problemsOf, TestBrowser, WITHOUT_CHROMIUM } from './support/browser.js';
import { createSession } from './support/conversation.js';
import { query } from './support/database.js';
import { OpenAiStub, StubReply } from './support/openai-stub.js';
import { addressOf, TcpProxy } from './support/tcp-proxy.js';

const WORDS = ['Durable ', 'turns ', 'keep ', 'going ', 'after ', 'the ', 'page ', 'leaves.'];
const ANSWER = WORDS.join('');

describe('the playground re-attaching to a running turn', { skip: WITHOUT_CHROMIUM }, () => {
  const stub = new OpenAiStub();
  let t: TestApp;
  let browser: TestBrowser;
  let page: Page;

  function held(): { reply: StubReply; open: () => void } {
    let open!: () => void;
    const until = new Promise<void>((resolve) => (open = resolve));
    return { reply: { text: WORDS, pause: { chunks: 3, until } }, open };
  }

  const liveText = () => page.locator('#transcript .message.live .body');
  const answers = () => page.locator('#transcript .message.assistant[data-message-id] .body');

  async function assertWholeOnce(sessionId: string): Promise<void> {
    await page.locator('#transcript .note.done', { hasText: 'Turn completed' }).waitFor();
    expect((await answers().allTextContents()).map((text) => text.trim())).toEqual([ANSWER.trim()]);
    expect((await page.locator('#transcript').textContent())!.split('Durable').length - 1).toBe(1);
    const stored = await query(t.databaseUrl, `SELECT role, content, status FROM messages WHERE session_id = $1 ORDER BY seq`, [sessionId]);
    expect(stored).toEqual([
      { role: 'user', content: 'Tell me about durable turns', status: 'complete' },
      { role: 'assistant', content: ANSWER, status: 'complete' },
    ]);
    const turns = await query(t.databaseUrl, `SELECT status FROM turns WHERE session_id = $1`, [sessionId]);
    expect(turns).toEqual([{ status: 'completed' }]);
    // One LLM call, never aborted: the turn ran on while the page was away.
    expect(stub.agentRequests.map((r) => r.aborted)).toEqual([false]);
    expect(problemsOf(page)).toEqual([]);
  }

  before(async () => {
    t = await startApp({ LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub-model', LLM_MAX_RETRIES: '0' });
    browser = await launchBrowser();
    page = await browser.page();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    await stub.close();
  });

  it('joins the running turn after a reload: the answer is whole and not doubled', async () => {
    stub.requests.length = 0;
    const gate = held();
    stub.reply(gate.reply);
    const id = await createSession(t.baseUrl, { agentType: 'coder' });
    await page.goto(`${t.baseUrl}/#${id}`);
    await page.getByLabel('Message').fill('Tell me about durable turns');
    await page.getByLabel('Message').press('Enter');
    await liveText().filter({ hasText: 'Durable turns keep' }).waitFor();

    await page.reload();
    // Joined from the turn's first event: the words streamed before the reload come back once.
    await liveText().filter({ hasText: 'Durable turns keep' }).waitFor();
    gate.open();
    await assertWholeOnce(id);

    // Reloaded after its end, the history closes the turn with the line the stream drew, once.
    const live = await page.locator('#transcript .note.done').allTextContents();
    await page.reload();
    await answers().first().waitFor();
    expect(await page.locator('#transcript .note.done').allTextContents()).toEqual(live);
  });

  it('resumes a dropped stream with Last-Event-ID and gets exactly the missing events', async () => {
    stub.requests.length = 0;
    const gate = held();
    stub.reply(gate.reply);
    const proxy = new TcpProxy(addressOf(t.baseUrl));
    const proxyUrl = await proxy.start();
    const resumedWith: string[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/stream')) resumedWith.push(request.headers()['last-event-id'] ?? '');
    });
    try {
      const id = await createSession(t.baseUrl, { agentType: 'coder' });
      await page.goto(`${proxyUrl}/#${id}`);
      await page.getByLabel('Message').fill('Tell me about durable turns');
      await page.getByLabel('Message').press('Enter');
      await liveText().filter({ hasText: 'Durable turns keep' }).waitFor();

      proxy.cut();
      gate.open();
      await assertWholeOnce(id);
      expect(resumedWith).toHaveLength(1);
      expect(resumedWith[0]).toMatch(/^\d+$/);
    } finally {
      await proxy.close();
    }
  });
});
