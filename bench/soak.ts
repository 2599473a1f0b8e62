/**
 * `npm run bench -- --soak MINUTES`: many users for minutes against one service, with the faults of
 * production mixed in — clients that leave mid-answer, cancels, approvals, LLM connections cut
 * mid-stream, LLM 500s, and the database stalled now and then by a lock (a cancel then lands before
 * the LLM call). Fails loudly on what a soak exists to catch: the process exiting, a turn left
 * `running`, a lease left held, an event after `done`, a completed turn without its answer, healthy
 * turns failing for others' faults, or the live heap / descriptors / database connections not back to baseline.
 */
import { createParser } from 'eventsource-parser';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import pg from 'pg';
import type { NodeChild } from './processes.js';
import { writeReportSection } from './report-section.js';

export interface SoakOptions {
  baseUrl: string;
  databaseUrl: string;
  service: NodeChild;
  minutes: number;
  users: number;
  poolSize: number;
  /** Where the service writes a heap snapshot on SIGUSR2 (`--heapsnapshot-signal`, `--diagnostic-dir`). */
  heapDir: string;
  progress: (message: string) => void;
}

type Action = 'plain' | 'leave' | 'cancel' | 'approval' | 'cut' | 'fail';
/** Per 100 actions: 15 of them make the LLM fail (cut or 500), as in the incident this soak reproduces. */
const WEIGHTS: Array<[Action, number]> = [
  ['plain', 55],
  ['leave', 8],
  ['cancel', 8],
  ['approval', 14],
  ['cut', 7.5],
  ['fail', 7.5],
];
const DIRECTIVES: Record<Action, string> = {
  plain: 'tokens=20 pace=20',
  leave: 'tokens=40 pace=20',
  cancel: 'tokens=40 pace=20',
  approval: 'tokens=5 pace=20 tool=write_file',
  cut: 'tokens=20 pace=20 cut=5',
  fail: 'status=500',
};
const LOCK_EVERY_MS = 15_000;
const LOCK_HOLD_MS = 1_500;
const SETTLE_MS = 30_000;

interface Stream {
  status: number;
  events: Array<{ event: string; data: Record<string, unknown> }>;
}

/** A small deterministic PRNG (mulberry32): the same run mixes the same actions. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runSoak(options: SoakOptions): Promise<{ markdown: string; problems: string[] }> {
  const { baseUrl, databaseUrl, service, progress } = options;
  const problems: string[] = [];
  const outcomes = new Map<string, number>();
  const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  const db = new pg.Pool({ connectionString: databaseUrl, max: 3, application_name: 'soak' });
  const sql = async (text: string, params: unknown[] = []) => (await db.query(text, params)).rows;
  let exited = false;
  service.process.once('exit', (code, signal) => {
    exited = true;
    problems.push(`the service exited during the soak (code ${code}, signal ${signal}):\n${service.logTail(15)}`);
  });

  /** One streamed request; `leaveAfter` tokens, the client goes away; `onToken` hears each token. */
  async function stream(path: string, body: unknown, leaveAfter?: number, onToken?: (n: number) => void): Promise<Stream> {
    const controller = new AbortController();
    const result: Stream = { status: 0, events: [] };
    let tokens = 0;
    let done = false;
    const parser = createParser({
      onEvent: (message) => {
        const event = { event: message.event ?? 'message', data: JSON.parse(message.data) as Record<string, unknown> };
        if (done) problems.push(`event \`${event.event}\` after done (turn ${result.events[0]?.data.turnId})`);
        if (event.event === 'done') done = true;
        if (event.event === 'token') {
          tokens++;
          onToken?.(tokens);
        }
        result.events.push(event);
        if (leaveAfter !== undefined && tokens >= leaveAfter) controller.abort();
      },
    });
    try {
      const res = await fetch(`${baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      result.status = res.status;
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (controller.signal.aborted) break;
      }
    } catch (error) {
      if (!controller.signal.aborted) count(`client error: ${(error as Error).message}`);
    }
    if (result.status === 200 && !done && !controller.signal.aborted && !exited) problems.push(`a stream ended without done (${path})`);
    return result;
  }

  const doneOf = (s: Stream) => s.events.find((e) => e.event === 'done')?.data.status as string | undefined;
  const post = (path: string, body: unknown) =>
    fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  async function act(action: Action, sessionId: string): Promise<void> {
    const path = `/v1/sessions/${sessionId}`;
    const content = `Soak ${action}. [bench ${DIRECTIVES[action]}]`;
    let cancelled: Promise<Response> | undefined;
    const first = await stream(
      `${path}/messages`,
      { content },
      action === 'leave' ? 3 : undefined,
      action === 'cancel' ? (n) => void (n === 3 && (cancelled = post(`${path}/cancel`, {}))) : undefined,
    );
    // A cancel that came too late (the answer had ended) says so: `{cancelled: false}`.
    const accepted = cancelled && ((await (await cancelled).json()) as { cancelled: boolean }).cancelled;
    if (first.status !== 200) return void count(`${action}: HTTP ${first.status}`);
    const label = action === 'cancel' ? `cancel (${accepted ? 'accepted' : 'too late'})` : action;
    if (action !== 'approval') return void count(`${label}: ${doneOf(first) ?? 'left'}`);
    const approval = first.events.find((e) => e.event === 'approval_required')?.data;
    if (!approval) return void count(`approval: ${doneOf(first)} without approval_required`);
    const decided = await stream(`${path}/approvals/${approval.approvalId}`, { decision: 'approve' });
    const call = decided.events.find((e) => e.event === 'tool_call')?.data;
    if (!call) return void count(`approval: decision ${doneOf(decided) ?? decided.status}`);
    const answered = await stream(`${path}/tool-results`, { toolCallId: call.toolCallId, output: 'written' });
    count(`approval: ${doneOf(answered) ?? `HTTP ${answered.status}`}`);
  }

  async function user(index: number, endAt: number): Promise<void> {
    const next = random(index + 1);
    const created = await post('/v1/sessions', {});
    const { id } = (await created.json()) as { id: string };
    while (Date.now() < endAt && !exited) {
      let roll = next() * 100;
      const action = WEIGHTS.find(([, weight]) => (roll -= weight) < 0)?.[0] ?? 'plain';
      await act(action, id);
      await new Promise((resolve) => setTimeout(resolve, 200 + next() * 800));
    }
  }

  /** Every LOCK_EVERY_MS the messages table is locked for a moment, as a slow database would. */
  async function stallDatabase(endAt: number): Promise<number> {
    let stalls = 0;
    while (Date.now() + LOCK_EVERY_MS < endAt && !exited) {
      await new Promise((resolve) => setTimeout(resolve, LOCK_EVERY_MS));
      const client = await db.connect();
      try {
        await client.query('BEGIN');
        await client.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
        await new Promise((resolve) => setTimeout(resolve, LOCK_HOLD_MS));
        await client.query('COMMIT');
        stalls++;
      } finally {
        client.release();
      }
    }
    return stalls;
  }

  const scrape = async () => (await fetch(`${baseUrl}/metrics`)).text();
  // Once more on a failure: after a heap snapshot has blocked the service for seconds, its
  // keep-alive timer closes the idle connection just as this request reuses it.
  const metrics = () => scrape().catch(scrape);
  const metric = (text: string, name: string, labels = '') =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name) && l.includes(labels))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);

  const pid = service.process.pid!;
  /** The heap used right after a full collection (the one a heap snapshot starts with). */
  const liveHeapBytes = async () => {
    mkdirSync(options.heapDir, { recursive: true });
    const before = readdirSync(options.heapDir).length;
    service.process.kill('SIGUSR2');
    while (readdirSync(options.heapDir).length === before && !exited) await new Promise((resolve) => setTimeout(resolve, 100));
    // The snapshot is written on the main thread: this answer comes once it is complete.
    const heap = metric(await metrics(), 'nodejs_heap_size_used_bytes');
    rmSync(options.heapDir, { recursive: true, force: true });
    return heap;
  };
  const figures = async () => {
    const [{ n }] = await sql(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name <> 'soak'`,
    );
    return {
      rssMiB: service.rssBytes() / 2 ** 20,
      fds: readdirSync(`/proc/${pid}/fd`).length,
      dbConnections: Number(n),
    };
  };
  // Baseline after a warm-up, so that first-use allocations (pool, JIT, caches) are in it.
  await Promise.all(Array.from({ length: 10 }, (_, i) => user(1000 + i, Date.now() + 3_000)));
  const baseline = { ...(await figures()), heapMiB: (await liveHeapBytes()) / 2 ** 20 };
  const started = Date.now();
  const endAt = started + options.minutes * 60_000;
  progress(`soak: ${options.users} users for ${options.minutes} min; baseline ${JSON.stringify(roundAll(baseline))}`);
  const ticker = setInterval(
    () => progress(`soak: ${((Date.now() - started) / 1000).toFixed(0)} s, ${[...outcomes.values()].reduce((a, b) => a + b, 0)} actions`),
    60_000,
  );
  const [stalls] = await Promise.all([stallDatabase(endAt), ...Array.from({ length: options.users }, (_, i) => user(i, endAt))]);
  clearInterval(ticker);
  const loadS = (Date.now() - started) / 1000;

  // After the load: nothing may stay running or held, and the process must shrink back.
  let after = { ...(await figures()), heapMiB: 0 };
  let running: Array<{ id: string }> = [];
  let held: Array<{ id: string }> = [];
  const settleUntil = Date.now() + SETTLE_MS;
  // The live heap, not RSS: V8 keeps pages it grew into long after the objects on them are gone.
  const heapLimit = baseline.heapMiB * 1.5 + 32;
  const back = () => after.fds <= baseline.fds + 10 && after.dbConnections <= options.poolSize;
  while (!exited) {
    running = await sql(`SELECT id FROM turns WHERE status = 'running'`);
    held = await sql(`SELECT id FROM sessions WHERE active_turn_id IS NOT NULL`);
    after = { ...(await figures()), heapMiB: 0 };
    if ((running.length === 0 && held.length === 0 && back()) || Date.now() > settleUntil) break;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  if (!exited) after.heapMiB = (await liveHeapBytes()) / 2 ** 20;
  if (running.length) problems.push(`${running.length} turns left running, e.g. ${running[0].id}`);
  if (held.length) problems.push(`${held.length} leases left held, e.g. session ${held[0].id}`);
  const unanswered = await sql(
    `SELECT t.id FROM turns t WHERE t.status = 'completed'
       AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.turn_id = t.id AND m.role = 'assistant' AND m.status = 'complete')`,
  );
  if (unanswered.length) problems.push(`${unanswered.length} completed turns without their answer, e.g. ${unanswered[0].id}`);
  if (after.heapMiB > heapLimit)
    problems.push(`heap used ${after.heapMiB.toFixed(0)} MiB after the load, baseline ${baseline.heapMiB.toFixed(0)} MiB`);
  if (after.fds > baseline.fds + 10) problems.push(`${after.fds} open descriptors after the load, baseline ${baseline.fds}`);
  if (after.dbConnections > options.poolSize)
    problems.push(`${after.dbConnections} database connections after the load (pool ${options.poolSize})`);
  const text = exited ? '' : await metrics();
  if (!exited && metric(text, 'process_unhandled_errors_total') > 0) problems.push('process_unhandled_errors_total is not 0');
  if (!exited && metric(text, 'sse_streams_active') > 0)
    problems.push(`sse_streams_active is ${metric(text, 'sse_streams_active')} after the load`);
  const plain = [...outcomes].filter(([k]) => k.startsWith('plain:'));
  const plainCompleted = outcomes.get('plain: completed') ?? 0;
  const plainTotal = plain.reduce((n, [, v]) => n + v, 0);
  if (plainTotal && plainCompleted / plainTotal < 0.95) problems.push(`only ${plainCompleted}/${plainTotal} healthy turns completed`);
  const statuses = await sql(`SELECT status, count(*)::int AS n FROM turns GROUP BY status ORDER BY status`);
  await db.end();

  const rows = [...outcomes].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `| ${k} | ${v} |`);
  const markdown = [
    `${options.users} users for ${loadS.toFixed(0)} s, ${[...outcomes.values()].reduce((a, b) => a + b, 0)} actions, the messages table locked ${stalls} times for ${LOCK_HOLD_MS} ms.`,
    '',
    '| action: outcome | count |',
    '| --- | --- |',
    ...rows,
    '',
    `Turns recorded: ${statuses.map((r) => `${r.n} ${r.status}`).join(', ')}.`,
    '',
    '| after the load | baseline | after |',
    '| --- | --- | --- |',
    `| heap used (MiB; at most 1.5 × baseline + 32 allowed) | ${baseline.heapMiB.toFixed(0)} | ${after.heapMiB.toFixed(0)} |`,
    `| RSS (MiB; not judged: V8 keeps pages it grew into) | ${baseline.rssMiB.toFixed(0)} | ${after.rssMiB.toFixed(0)} |`,
    `| open descriptors | ${baseline.fds} | ${after.fds} |`,
    `| database connections | ${baseline.dbConnections} | ${after.dbConnections} |`,
    `| turns left running / leases held / completed without answer | 0 / 0 / 0 | ${running.length} / ${held.length} / ${unanswered.length} |`,
    '',
    `LLM: ${metric(text, 'llm_errors_total')} failed calls (${metric(text, 'llm_errors_total', 'error_type="circuit_open"')} refused by an open breaker), ${metric(text, 'llm_retries_total')} retries; breaker samples ${metric(text, 'llm_circuit_samples_total', 'outcome="failure"')} failures / ${metric(text, 'llm_circuit_samples_total', 'outcome="success"')} successes; unhandled errors ${metric(text, 'process_unhandled_errors_total')}.`,
    '',
    problems.length ? `**Problems:**\n\n${problems.map((p) => `- ${p}`).join('\n')}` : '**No problems found.**',
  ].join('\n');
  return { markdown, problems };
}

function roundAll(figures: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v)]));
}

/** Writes the soak's figures between their markers in BENCHMARKS.md (a section of their own at the end the first time). */
export function writeSoakReport(path: string, heading: string, markdown: string): void {
  writeReportSection(path, 'soak', 'Soak', heading, markdown);
}
