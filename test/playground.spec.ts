import { SchedulerRegistry } from '@nestjs/schedule';
import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { ApprovalExpiry, NOT_RUN_EXPIRED } from '../src/approvals/approval-expiry.js';
import { startApp, TestApp } from './support/app.js';
import { launchBrowser, problemsOf, screenshot, TestBrowser, WITHOUT_CHROMIUM } from './support/browser.js';
import { api, createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';
import { OpenAiStub, StubReply } from './support/openai-stub.js';

const ROUTE_TO_ARCHITECT = { text: '{"agent": "architect", "reason": "Design questions go to the architect."}' };

/** A promise the test resolves when the stub may go on. */
function gate(): { until: Promise<void>; open: () => void } {
  let open!: () => void;
  const until = new Promise<void>((resolve) => (open = resolve));
  return { until, open };
}

describe('the playground in a real browser', { skip: WITHOUT_CHROMIUM }, () => {
  const stub = new OpenAiStub();
  let db: { name: string; url: string };
  let env: Record<string, string>;
  let t: TestApp;
  let browser: TestBrowser;
  let page: Page;

  /** Scripts the stub's next replies to the agents (routing calls get `routing`), counted from now. */
  function next(replies: StubReply[], routing: StubReply = ROUTE_TO_ARCHITECT): void {
    const base = stub.agentRequests.length;
    stub.respond((request) => {
      if (!request.body.tools) return routing;
      const index = stub.agentRequests.indexOf(request) - base;
      return replies[Math.min(index, replies.length - 1)];
    });
  }

  const rows = (sql: string, params: unknown[] = []) => query(t.databaseUrl, sql, params);
  const messages = (sessionId: string) =>
    rows(`SELECT role, content, agent, status, tool_call_id, metadata FROM messages WHERE session_id = $1 ORDER BY seq`, [sessionId]);

  async function openSession(id: string): Promise<void> {
    await page.goto(`${t.baseUrl}/#${id}`);
    // Its history shown: the page has left the session open before.
    await page.locator(`#session[data-session-id="${id}"]`).waitFor();
  }

  async function send(text: string): Promise<void> {
    // The page takes a message only once the previous turn's stream has ended.
    await page.locator('#send:not([disabled])').waitFor();
    await page.getByLabel('Message').fill(text);
    await page.getByLabel('Message').press('Enter');
  }

  const done = (nth: number) => page.locator('#transcript .note.done').nth(nth);

  before(async () => {
    env = { LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub-model', LLM_MAX_RETRIES: '0' };
    db = await createTestDatabase();
    t = await startApp(env, db);
    browser = await launchBrowser();
    page = await browser.page();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    if (db) await dropTestDatabase(db.name);
    await stub.close();
  });

  it('is served at / under a CSP of its own: no inline script, HTML only through DOMPurify (Trusted Types)', async () => {
    const response = await page.goto(`${t.baseUrl}/`);
    const csp = response!.headers()['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("require-trusted-types-for 'script'");
    await page.getByText('Start a new session, or pick one from the list.').waitFor();
    expect(await page.locator('script:not([src])').count()).toBe(0);
    // The policy holds: markup assigned as a string is refused.
    const probe = await browser.page();
    await probe.goto(`${t.baseUrl}/`);
    const assignMarkup = `(() => { try { document.body.innerHTML = '<b>injected</b>'; return 'assigned'; } catch (error) { return error.name; } })()`;
    expect(await probe.evaluate(assignMarkup)).toBe('TypeError');
    await probe.close();
    expect(problemsOf(page)).toEqual([]);
  });

  it('lists sessions newest activity first and loads the next page when the list scrolls to its end', async () => {
    for (let i = 1; i <= 23; i++) await createSession(t.baseUrl, { title: `Paged ${String(i).padStart(2, '0')}` });
    const order = (await rows(`SELECT title FROM sessions ORDER BY last_activity_at DESC, id DESC`)).map((r) => r.title);
    await page.goto(`${t.baseUrl}/`);
    const titles = page.locator('#session-list .title');
    await titles.nth(19).waitFor();
    expect(await titles.allTextContents()).toEqual(order.slice(0, 20));
    await page.locator('#session-scroller').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await titles.nth(22).waitFor();
    expect(await titles.allTextContents()).toEqual(order);
  });

  it('starts a session with the chosen agent, renames it and deletes it', async () => {
    await page.goto(`${t.baseUrl}/`);
    await page.getByLabel('Starting agent').selectOption({ label: 'Architect' });
    await page.getByRole('button', { name: 'New session' }).click();
    await page.getByText('Agent: Architect').waitFor();
    const id = new URL(page.url()).hash.slice(1);
    expect(await rows(`SELECT current_agent, title FROM sessions WHERE id = $1`, [id])).toEqual([
      { current_agent: 'architect', title: null },
    ]);
    expect(await page.locator('#session-list .title').first().textContent()).toBe('Untitled session');

    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New title').fill('Design notes');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#session-title', { hasText: 'Design notes' }).waitFor();
    await page.locator(`#session-list [data-session-id="${id}"]`, { hasText: 'Design notes' }).waitFor();
    expect((await rows(`SELECT title FROM sessions WHERE id = $1`, [id]))[0].title).toBe('Design notes');

    await page.getByRole('button', { name: 'Delete' }).click(); // the confirm is accepted
    await page.getByText('Start a new session, or pick one from the list.').waitFor();
    expect(await page.locator(`#session-list [data-session-id="${id}"]`).count()).toBe(0);
    expect((await rows(`SELECT deleted_at FROM sessions WHERE id = $1`, [id]))[0].deleted_at).toBeInstanceOf(Date);
  });

  it('streams the answer word by word as Markdown, with the agent, the hand-over and its reason, folded reasoning and the usage', async () => {
    const held = gate();
    next([
      {
        reasoning: ['Start from ', 'the buckets.'],
        text: ['**Hash** ', 'maps ', 'store ', 'pairs.\n\n', '- one\n', '- two\n'],
        pause: { chunks: 3, until: held.until },
      },
    ]);
    const id = await createSession(t.baseUrl);
    await openSession(id);
    await page.getByText('Agent: Orchestrator').waitFor();
    // Enter sends, Shift+Enter is a new line.
    await page.getByLabel('Message').click();
    await page.keyboard.type('Explain hash maps');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('briefly');
    await page.keyboard.press('Enter');

    const live = page.locator('#transcript .message.live .body');
    await live.filter({ hasText: 'Hash maps store' }).waitFor();
    expect(await live.textContent()).not.toContain('pairs');
    expect(await live.locator('strong').textContent()).toBe('Hash');
    held.open();

    await done(0).filter({ hasText: 'Turn completed' }).waitFor();
    const [turn] = await rows(`SELECT status, prompt_tokens, completion_tokens FROM turns WHERE session_id = $1`, [id]);
    expect(turn.status).toBe('completed');
    const total = turn.prompt_tokens + turn.completion_tokens;
    expect(await done(0).textContent()).toBe(`Turn completed · ${total} tokens (${turn.prompt_tokens} in, ${turn.completion_tokens} out)`);

    expect(await page.locator('#transcript .message.user .body').textContent()).toBe('Explain hash maps\nbriefly');
    expect(await page.locator('#transcript .note.switch').textContent()).toBe(
      'Orchestrator handed over to Architect: Design questions go to the architect.',
    );
    const answer = page.locator('#transcript .message.assistant[data-message-id]');
    expect(await answer.locator('header .who').textContent()).toBe('Architect');
    expect(await answer.locator('.body li').allTextContents()).toEqual(['one', 'two']);
    const reasoning = answer.locator('details.reasoning');
    expect(await reasoning.getAttribute('open')).toBeNull();
    expect(await reasoning.locator('.reasoning-text').textContent()).toBe('Start from the buckets.');
    expect(await page.getByText('Agent: Architect').count()).toBe(1);
    // Newest activity first: the session moved to the top of the list.
    await page.locator(`#session-list li:first-child[data-session-id="${id}"]`).waitFor();
    await screenshot(page, 'chat');

    expect(await messages(id)).toEqual([
      expect.objectContaining({ role: 'user', content: 'Explain hash maps\nbriefly' }),
      expect.objectContaining({
        role: 'assistant',
        content: '**Hash** maps store pairs.\n\n- one\n- two\n',
        agent: 'architect',
        status: 'complete',
        metadata: expect.objectContaining({ reasoning: 'Start from the buckets.' }),
      }),
    ]);
    // Reopened, the history shows the same, the hand-over in its place and the turn's end as live.
    const liveDone = await done(0).textContent();
    await page.reload();
    await answer.locator('.body li').nth(1).waitFor();
    expect(await page.locator('#transcript > li').evaluateAll((items) => items.map((li) => li.className))).toEqual([
      'message user',
      'note switch',
      'message assistant',
      'note done',
    ]);
    expect(await done(0).textContent()).toBe(liveDone);
    expect(problemsOf(page)).toEqual([]);
  });

  it('shows markup and javascript: links in messages as text, never runs them', async () => {
    const attack = '<img src=x onerror=alert(1)>';
    const answer = `Quoted: ${attack} and [a link](javascript:alert(2)) and <script>alert(3)</script>`;
    next([{ text: answer }]);
    const id = await createSession(t.baseUrl, { agentType: 'coder' });
    await openSession(id);
    await send(attack);
    await done(0).waitFor();
    expect(await page.locator('#transcript .message.user .body').textContent()).toBe(attack);
    const body = page.locator('#transcript .message.assistant .body');
    expect(await body.textContent()).toContain(`Quoted: ${attack} and a link and <script>alert(3)</script>`);
    expect(await page.locator('#transcript img, #transcript script, #transcript [onerror]').count()).toBe(0);
    expect(await page.locator('#transcript a[href]').count()).toBe(0);
    expect((await messages(id)).map((m) => m.content)).toEqual([attack, answer]);
    expect(problemsOf(page)).toEqual([]);
  });

  it('gives each parallel tool call a card whose output or error the person sends, and the agent goes on', async () => {
    next([
      {
        text: 'Reading both.',
        toolCalls: [
          { id: 'call_a', name: 'read_file', arguments: { path: 'a.txt' } },
          { id: 'call_b', name: 'list_files', arguments: { path: 'src' } },
        ],
      },
      { text: 'a.txt says alpha; the listing failed.' },
    ]);
    const id = await createSession(t.baseUrl, { agentType: 'coder' });
    await openSession(id);
    await send('Compare a.txt with src');
    await done(0).filter({ hasText: 'Turn waiting for tool results' }).waitFor();
    const read = page.locator('.tool-card[data-tool-call-id="call_a"]');
    const list = page.locator('.tool-card[data-tool-call-id="call_b"]');
    expect(await read.locator('h3').textContent()).toBe('Tool call: read_file');
    expect(JSON.parse((await read.locator('.arguments').textContent())!)).toEqual({ path: 'a.txt' });
    expect(JSON.parse((await list.locator('.arguments').textContent())!)).toEqual({ path: 'src' });
    await screenshot(page, 'tool-cards');

    await read.getByLabel('Output of read_file').fill('alpha');
    await read.getByRole('button', { name: 'Send output' }).click();
    await done(1).filter({ hasText: 'Turn waiting for tool results' }).waitFor();
    expect(await read.locator('.sent').textContent()).toBe('Sent: alpha');

    await list.getByLabel('Output of list_files').fill('permission denied');
    await list.getByRole('button', { name: 'Send as error' }).click();
    await done(2).filter({ hasText: 'Turn completed' }).waitFor();
    await page.locator('#transcript .message.assistant', { hasText: 'a.txt says alpha; the listing failed.' }).waitFor();

    const stored = await messages(id);
    expect(stored.map((m) => [m.role, m.tool_call_id, m.role === 'tool' ? m.content : null])).toEqual([
      ['user', null, null],
      ['assistant', null, null],
      ['tool', 'call_a', 'alpha'],
      ['tool', 'call_b', 'Error: permission denied'],
      ['assistant', null, null],
    ]);
    expect(
      stub.agentRequests
        .at(-1)!
        .body.messages.filter((m) => m.role === 'tool')
        .map((m) => m.content),
    ).toEqual(['alpha', 'Error: permission denied']);
    expect(problemsOf(page)).toEqual([]);
  });

  it('closes a card whose call the service closed when the person moved on', async () => {
    next([{ toolCalls: [{ id: 'call_skip', name: 'read_file', arguments: { path: 'skip.txt' } }] }, { text: 'Something else then.' }]);
    const id = await createSession(t.baseUrl, { agentType: 'coder' });
    await openSession(id);
    await send('Read skip.txt');
    const card = page.locator('.tool-card[data-tool-call-id="call_skip"]');
    await card.getByRole('button', { name: 'Send output' }).waitFor();
    await send('Never mind');
    await done(1).filter({ hasText: 'Turn completed' }).waitFor();
    expect(await card.locator('.sent').textContent()).toMatch(/^Closed: Not run: the user sent a new message/);
    expect(await card.locator('form').count()).toBe(0);
    const [closed] = (await messages(id)).filter((m) => m.role === 'tool');
    expect(closed).toMatchObject({ tool_call_id: 'call_skip', content: expect.stringMatching(/^Not run: the user sent a new message/) });
  });

  describe('approvals', () => {
    let id: string;
    const dialog = () => page.getByRole('dialog');
    const approvals = () =>
      rows(`SELECT status, arguments, approved_arguments, feedback, decided_at FROM approvals WHERE session_id = $1 ORDER BY created_at`, [
        id,
      ]);
    const write = (path: string) => ({
      text: 'Writing it.',
      toolCalls: [{ id: `call_${path.replace(/\W/g, '_')}`, name: 'write_file', arguments: { path, content: 'draft' } }],
    });

    before(async () => {
      id = await createSession(t.baseUrl, { agentType: 'coder' });
      await openSession(id);
    });

    it('shows the tool, its arguments, the reason and the expiry; approve sends the call to a card and the agent goes on', async () => {
      next([write('notes/plan.md'), { text: 'The plan is written.' }]);
      await send('Write the plan');
      await dialog().waitFor();
      expect(await dialog().getByRole('heading').textContent()).toBe('Approve a call to write_file?');
      expect(await dialog().locator('.reason').textContent()).toBe('Writes a file in the workspace.');
      expect(JSON.parse(await dialog().getByLabel('Arguments (JSON').inputValue())).toEqual({ path: 'notes/plan.md', content: 'draft' });
      expect(await dialog().locator('.expiry').textContent()).toMatch(/^Expires in 1[45]:\d\d \(at .+\)\.$/);
      await screenshot(page, 'approval');
      await dialog().getByRole('button', { name: 'Approve', exact: true }).click();
      await dialog().waitFor({ state: 'hidden' });

      const card = page.locator('.tool-card[data-tool-call-id="call_notes_plan_md"]');
      await card.getByLabel('Output of write_file').fill('wrote 5 bytes');
      await card.getByRole('button', { name: 'Send output' }).click();
      await page.locator('#transcript .message.assistant', { hasText: 'The plan is written.' }).waitFor();
      expect(await approvals()).toEqual([
        expect.objectContaining({ status: 'approved', approved_arguments: null, decided_at: expect.any(Date) }),
      ]);
      expect((await messages(id)).filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.content])).toEqual([
        ['call_notes_plan_md', 'wrote 5 bytes'],
      ]);
    });

    it('checks edited arguments as JSON before sending, shows the service’s 400, and runs the call with the edit', async () => {
      next([write('notes/b.md'), { text: 'Written where you said.' }]);
      const requests = stub.requests.length;
      await send('Write b');
      await dialog().waitFor();
      const args = dialog().getByLabel('Arguments (JSON');
      const edit = dialog().getByRole('button', { name: 'Approve edited arguments' });
      await args.fill('{"path": ');
      await edit.click();
      await dialog().getByRole('alert').filter({ hasText: 'The arguments are not valid JSON' }).waitFor();
      await args.fill('["notes/b.md"]');
      await edit.click();
      await dialog().getByRole('alert').filter({ hasText: 'The arguments must be a JSON object' }).waitFor();
      await args.fill('{"path": "../outside.md", "content": "x"}');
      await edit.click();
      await dialog().getByRole('alert').filter({ hasText: 'arguments:' }).waitFor();
      expect((await approvals())[1]).toMatchObject({ status: 'pending', decided_at: null });
      expect(stub.requests.length).toBe(requests + 1);

      await args.fill('{"path": "notes/edited.md", "content": "edited"}');
      await edit.click();
      await dialog().waitFor({ state: 'hidden' });
      const card = page.locator('.tool-card[data-tool-call-id="call_notes_b_md"]');
      expect(JSON.parse((await card.locator('.arguments').textContent())!)).toEqual({ path: 'notes/edited.md', content: 'edited' });
      // After a reload the card comes from the history and the approval: still the edit, not what the LLM asked.
      await page.locator('#send:not([disabled])').waitFor();
      await page.reload();
      expect(JSON.parse((await card.locator('.arguments').textContent())!)).toEqual({ path: 'notes/edited.md', content: 'edited' });
      await card.getByLabel('Output of write_file').fill('ok');
      await card.getByRole('button', { name: 'Send output' }).click();
      await page.locator('#transcript .message.assistant', { hasText: 'Written where you said.' }).waitFor();
      expect((await approvals())[1]).toMatchObject({
        status: 'edited',
        approved_arguments: { path: 'notes/edited.md', content: 'edited' },
      });
    });

    it('rejects with feedback, which the agent hears before it goes on', async () => {
      next([write('notes/c.md'), { text: 'Understood, no file.' }]);
      await send('Write c');
      await dialog().waitFor();
      await dialog().getByLabel('Feedback for the agent').fill('Keep notes out of it');
      await dialog().getByRole('button', { name: 'Reject' }).click();
      await page.locator('#transcript .message.assistant', { hasText: 'Understood, no file.' }).waitFor();
      expect(await page.locator('.approval-card .outcome').last().textContent()).toBe('Rejected: Keep notes out of it');
      expect((await approvals())[2]).toMatchObject({ status: 'rejected', feedback: 'Keep notes out of it' });
      const told = stub.agentRequests.at(-1)!.body.messages.at(-1)!;
      expect(told.role).toBe('tool');
      expect(String(told.content)).toContain('Keep notes out of it');
    });

    it('says so when the service finds the approval expired', async () => {
      next([write('notes/d.md')]);
      await send('Write d');
      await dialog().waitFor();
      // The browser's clock still gives it minutes; the service's says it is over.
      await rows(`UPDATE approvals SET expires_at = now() - interval '1 second' WHERE session_id = $1 AND status = 'pending'`, [id]);
      await dialog().getByRole('button', { name: 'Approve', exact: true }).click();
      await dialog().locator('.expiry', { hasText: 'The service says this approval expired' }).waitFor();
      expect(await dialog().getByRole('button', { name: 'Reject' }).isDisabled()).toBe(true);
      expect((await approvals())[3].status).not.toMatch(/approved|edited|rejected/);
      await dialog().getByRole('button', { name: 'Decide later' }).click();
      expect(problemsOf(page)).toEqual([]);
    });
  });

  it('shows an approval that expired before a reload as a settled card, with no output to ask for', async () => {
    const short = await startApp({ ...env, APPROVAL_TTL_SECONDS: '2' });
    try {
      // Paused, the sweep cannot answer the call with its tool message first: the approval is expired, the call unanswered.
      short.app.get(SchedulerRegistry).deleteInterval('approval-expiry');
      next([{ toolCalls: [{ id: 'call_gone', name: 'write_file', arguments: { path: 'gone.md', content: 'x' } }] }]);
      const id = await createSession(short.baseUrl, { agentType: 'coder' });
      await page.goto(`${short.baseUrl}/#${id}`);
      await send('Write gone.md');
      const dialog = page.getByRole('dialog');
      await dialog.locator('.expiry.expired').waitFor();
      await dialog.getByRole('button', { name: 'Decide later' }).click();
      await page.reload();

      const [approval] = await query(short.databaseUrl, `SELECT id, status FROM approvals WHERE session_id = $1`, [id]);
      expect(approval.status).toBe('pending'); // past its expiry, not closed yet
      const card = page.locator(`.approval-card[data-approval-id="${approval.id}"]`);
      await card.waitFor();
      expect(await card.locator('h3').textContent()).toBe('Not run: write_file');
      expect(await card.locator('.outcome').textContent()).toMatch(
        /^This approval expired at .+: the agent is told the call was not approved in time\.$/,
      );
      expect(await card.getByRole('button').count()).toBe(0);
      expect(await page.locator('#transcript .tool-card, #transcript form').count()).toBe(0);
      expect(await page.locator('#transcript .note.done').allTextContents()).toEqual([
        expect.stringMatching(/^Turn waiting for an approval/),
      ]);

      // Once the sweep has answered the call, the history says it; no card is left.
      expect(await short.app.get(ApprovalExpiry).sweep()).toBe(1);
      await page.reload();
      await page.locator('#transcript .message.tool', { hasText: 'Result of write_file' }).waitFor();
      expect(await page.locator('#transcript .message.tool pre').textContent()).toBe(NOT_RUN_EXPIRED);
      expect(await page.locator('#transcript .card').count()).toBe(0);
      expect(problemsOf(page)).toEqual([]);
    } finally {
      await short.close();
    }
  });

  it('cancels the running turn; the partial answer is kept as interrupted', async () => {
    const held = gate();
    next([{ text: ['Counting ', 'one ', 'two ', 'three'], pause: { chunks: 2, until: held.until } }]);
    const id = await createSession(t.baseUrl, { agentType: 'coder' });
    await openSession(id);
    await send('Count slowly');
    await page.locator('#transcript .message.live', { hasText: 'Counting one' }).waitFor();
    await page.getByRole('button', { name: 'Cancel the turn' }).click();
    await done(0).filter({ hasText: 'Turn cancelled' }).waitFor();
    held.open();
    expect(await page.getByRole('button', { name: 'Cancel the turn' }).isHidden()).toBe(true);
    expect((await rows(`SELECT status FROM turns WHERE session_id = $1`, [id]))[0].status).toBe('cancelled');
    expect((await messages(id)).at(-1)).toMatchObject({ role: 'assistant', content: 'Counting one ', status: 'interrupted' });
    await page.locator('#transcript .message.assistant', { hasText: 'interrupted' }).waitFor();
  });

  it('is usable on a narrow window, every control labelled', async () => {
    await page.setViewportSize({ width: 380, height: 760 });
    await page.reload();
    await page.locator('#transcript .message.assistant').first().waitFor();
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    // Browser code as text: the tests compile without the DOM library.
    const unlabelled = `[
      ...[...document.querySelectorAll('input, select, textarea')].filter((el) => !el.labels.length && !el.getAttribute('aria-label')),
      ...[...document.querySelectorAll('button')].filter((el) => !el.textContent.trim() && !el.getAttribute('aria-label')),
    ].map((el) => el.outerHTML)`;
    expect(await page.evaluate(unlabelled)).toEqual([]);
    await screenshot(page, 'narrow');
    await page.setViewportSize({ width: 1280, height: 860 });
    expect(problemsOf(page)).toEqual([]);
  });

  it('answers 404 at / with PLAYGROUND=false, while the API goes on', async () => {
    const off = await startApp({ ...env, PLAYGROUND: 'false' }, db);
    try {
      for (const path of ['/', '/playground/main.js', '/playground/vendor/marked/marked.esm.js']) {
        expect(await api(off.baseUrl, 'GET', path)).toMatchObject({ status: 404, body: { code: 'not_found' } });
      }
      expect((await api(off.baseUrl, 'GET', '/v1/agents')).status).toBe(200);
    } finally {
      await off.close();
    }
  });
});

describe('the playground with API_KEYS', { skip: WITHOUT_CHROMIUM }, () => {
  const KEY = 'playground-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c1e';
  const stub = new OpenAiStub();
  let t: TestApp;
  let browser: TestBrowser;
  let page: Page;
  const notice = () => page.locator('#notice');

  before(async () => {
    const llm = { LLM_BASE_URL: await stub.start(), LLM_API_KEY: 'x', LLM_MODEL: 'stub-model', LLM_MAX_RETRIES: '0' };
    t = await startApp({ ...llm, API_KEYS: `${KEY}:alice`, RATE_LIMIT_PER_MINUTE: '40', APPROVAL_TTL_SECONDS: '3' });
    browser = await launchBrowser();
    page = await browser.page();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    await stub.close();
  });

  it('asks for the key, says what a 401 means, and keeps the key for this tab only', async () => {
    await page.goto(`${t.baseUrl}/`);
    await page.getByLabel('API key').waitFor();
    expect(await notice().textContent()).toBe('The service needs a valid API key: enter it in the key field above.');
    await page.getByLabel('API key').fill('not-the-key');
    await page.getByRole('button', { name: 'Use key' }).click();
    await notice().filter({ hasText: 'needs a valid API key' }).waitFor();

    await page.getByLabel('API key').fill(KEY);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.getByText('No sessions yet.').waitFor();
    expect(await notice().isHidden()).toBe(true);
    expect(await page.evaluate(`[sessionStorage.getItem('playground.apiKey'), localStorage.length]`)).toEqual([KEY, 0]);
    await page.reload();
    await page.getByText('No sessions yet.').waitFor();

    const other = await browser.page();
    await other.goto(`${t.baseUrl}/`);
    await other.locator('#notice', { hasText: 'needs a valid API key' }).waitFor();
    await other.close();
  });

  it('shows the expiry running out: an expired approval says so and can no longer be decided', async () => {
    stub.reply({ toolCalls: [{ id: 'call_late', name: 'write_file', arguments: { path: 'late.md', content: 'x' } }] });
    await page.getByLabel('Starting agent').selectOption({ label: 'Coder' });
    await page.getByRole('button', { name: 'New session' }).click();
    await page.getByText('Agent: Coder').waitFor();
    await page.getByLabel('Message').fill('Write late.md');
    await page.getByLabel('Message').press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.locator('.expiry', { hasText: /^Expires in 0:0[0-3]/ }).waitFor();
    await dialog
      .locator('.expiry', { hasText: /^This approval expired at .+: the agent is told the call was not approved in time\.$/ })
      .waitFor();
    expect(await dialog.getByRole('button', { name: 'Approve', exact: true }).isDisabled()).toBe(true);
    const id = new URL(page.url()).hash.slice(1);
    const [approval] = await query(t.databaseUrl, `SELECT status, decided_at FROM approvals WHERE session_id = $1`, [id]);
    expect(['pending', 'expired']).toContain(approval.status);
    await dialog.getByRole('button', { name: 'Decide later' }).click();
  });

  it('says what a 429 means, with the wait', async () => {
    const sessions = async () => (await query(t.databaseUrl, `SELECT count(*)::int AS n FROM sessions`))[0].n as number;
    const before = await sessions();
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${t.baseUrl}/v1/agents`, { headers: { Authorization: `Bearer ${KEY}` } });
      if (res.status === 429) break;
    }
    await page.getByRole('button', { name: 'New session' }).click();
    await notice()
      .filter({ hasText: /^Too many requests for this key: more than 40 requests a minute; retry after \d+ s\.$/ })
      .waitFor();
    expect(await sessions()).toBe(before);
    expect(problemsOf(page)).toEqual([]);
  });
});
