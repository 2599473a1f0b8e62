import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Browser specs skip only when Debian's chromium is missing (`.ci/run` installs it). */
export const WITHOUT_CHROMIUM = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (apt-get install chromium): browser specs skipped`;

export interface TestBrowser {
  context: BrowserContext;
  /** A new tab, watched for problems. */
  page(): Promise<Page>;
  close(): Promise<void>;
}

const seen = new WeakMap<Page, string[]>();

/** What must never happen on a page, seen so far: uncaught errors, CSP or Trusted Types violations, alerts. */
export function problemsOf(page: Page): string[] {
  return seen.get(page) ?? [];
}

/** Debian's chromium, headless, on a fresh profile, driven by playwright-core. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'playground-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 860 },
  });
  const watch = (page: Page) => {
    const problems: string[] = [];
    seen.set(page, problems);
    page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy|Trusted ?Type|TrustedHTML|Refused to/i.test(message.text())) problems.push(`console: ${message.text()}`);
    });
    page.on('dialog', (dialog) => {
      // The page asks before deleting a session; anything else (an alert from a message) is a failure.
      if (dialog.type() === 'confirm') return void dialog.accept();
      problems.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
  };
  context.on('page', watch);
  for (const page of context.pages()) watch(page);
  context.setDefaultTimeout(10_000);
  return {
    context,
    page: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot for the README when `PLAYGROUND_SCREENSHOTS` names a folder (e.g. docs/playground). */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.PLAYGROUND_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}
