/**
 * `npm run bench -- --soak MINUTES`: many users for minutes against one service, with the faults of
 * production mixed in — clients that leave mid-answer, cancels, approvals, LLM connections cut
 * mid-stream, LLM 500s, and the database stalled now and then by a lock (a cancel then lands before
 * the LLM call). Fails loudly on what a soak exists to catch: the process exiting, a turn left
 * `running`, a lease left held, an event after `done`, a completed turn without its answer, healthy
 * turns failing for others' faults, an accepted cancel ignored, or the live heap / descriptors / active
 * handles and resources / external memory / database connections not back to baseline, or RSS over
 * its ceiling without having given half of its growth back (docs/decisions/0018-soak-memory-and-handles.md:
 * RSS is judged by a ceiling, not by a return to baseline).
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
/** Handles, resources and descriptors allowed above the baseline after the load (keep-alive sockets closing late). */
const HANDLE_SLACK = 10;
/** RSS growth allowed over the baseline, both read after a full collection and a heap snapshot (docs/decisions/0018). */
const RSS_GROWTH_MIB = 512;
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
    // A cancel that came too late (the turn had ended) says so: `{cancelled: false}`.
    const accepted = cancelled && ((await (await cancelled).json()) as { cancelled: boolean }).cancelled;
    if (first.status !== 200) return void count(`${action}: HTTP ${first.status}`);
    let label: string = action;
    if (action === 'cancel') label = `cancel (${accepted ? await acceptedCancel(first) : 'too late'})`;
    if (action !== 'approval') return void count(`${label}: ${doneOf(first) ?? 'left'}`);
    const approval = first.events.find((e) => e.event === 'approval_required')?.data;
    if (!approval) return void count(`approval: ${doneOf(first)} without approval_required`);
    const decided = await stream(`${path}/approvals/${approval.approvalId}`, { decision: 'approve' });
    const call = decided.events.find((e) => e.event === 'tool_call')?.data;
    if (!call) return void count(`approval: decision ${doneOf(decided) ?? decided.status}`);
    const answered = await stream(`${path}/tool-results`, { toolCallId: call.toolCallId, output: 'written' });
    count(`approval: ${doneOf(answered) ?? `HTTP ${answered.status}`}`);
  }

  /**
   * An accepted cancel whose turn still completed: it is accepted while the turn's row is `running`,
   * and the turn's last check for a stop comes after its answer's commit, before its end is
   * recorded. A cancel in that window came too late to stop anything (the answer was stored whole);
   * one that was requested before the answer's commit began was ignored — a bug.
   */
  async function acceptedCancel(s: Stream): Promise<string> {
    if (doneOf(s) !== 'completed') return 'accepted';
    const turnId = s.events.find((e) => e.event === 'turn')?.data.turnId;
    const [row] = await sql(
      `SELECT t.cancel_requested_at >= max(m.created_at) AS after_answer FROM turns t
         JOIN messages m ON m.turn_id = t.id AND m.role = 'assistant' AND m.status = 'complete'
        WHERE t.id = $1 GROUP BY t.id, t.cancel_requested_at`,
      [turnId],
    );
    if (row?.after_answer) return 'accepted after the answer was stored: too late';
    problems.push(`a cancel accepted before its answer was stored was ignored: turn ${turnId} completed`);
    return 'accepted and ignored';
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
  /** The heap used, the external memory and RSS right after a full collection (the one a heap snapshot starts with). */
  const liveMemory = async () => {
    mkdirSync(options.heapDir, { recursive: true });
    const before = readdirSync(options.heapDir).length;
    service.process.kill('SIGUSR2');
    while (readdirSync(options.heapDir).length === before && !exited) await new Promise((resolve) => setTimeout(resolve, 100));
    // The snapshot is written on the main thread: this answer comes once it is complete.
    const text = await metrics();
    rmSync(options.heapDir, { recursive: true, force: true });
    // RSS now too: the snapshot's own memory, which the allocator keeps, is in every reading alike.
    return {
      heapMiB: metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
      externalMiB: metric(text, 'nodejs_external_memory_bytes') / 2 ** 20,
      rssMiB: rssMiB(),
    };
  };
  const rssMiB = () => service.rssBytes() / 2 ** 20;
  const figures = async () => {
    const [{ n }] = await sql(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name <> 'soak'`,
    );
    const text = await metrics();
    return {
      fds: readdirSync(`/proc/${pid}/fd`).length,
      // prom-client's default metrics: libuv handles (sockets, servers, …) and all active resources, timers included.
      handles: metric(text, 'nodejs_active_handles_total'),
      resources: metric(text, 'nodejs_active_resources_total'),
      dbConnections: Number(n),
    };
  };
  /** Active resources by type (`Timeout 3, TCPSocketWrap 12`), to name what stayed. */
  const resourceTypes = async () =>
    (await metrics())
      .split('\n')
      .map((l) => /^nodejs_active_resources\{type="([^"]+)"\} (\S+)/.exec(l))
      .filter((m) => m !== null)
      .map((m) => `${m[1]} ${m[2]}`)
      .join(', ');
  // Baseline after a warm-up, so that first-use allocations (pool, JIT, caches) are in it.
  await Promise.all(Array.from({ length: 10 }, (_, i) => user(1000 + i, Date.now() + 3_000)));
  const baseline = { ...(await figures()), ...(await liveMemory()) };
  const baselineResources = await resourceTypes();
  let peakRssMiB = baseline.rssMiB;
  const sampler = setInterval(() => {
    if (!exited) peakRssMiB = Math.max(peakRssMiB, rssMiB());
  }, 1_000);
  const started = Date.now();
  const endAt = started + options.minutes * 60_000;
  progress(`soak: ${options.users} users for ${options.minutes} min; baseline ${JSON.stringify(roundAll(baseline))}`);
  const ticker = setInterval(
    () => progress(`soak: ${((Date.now() - started) / 1000).toFixed(0)} s, ${[...outcomes.values()].reduce((a, b) => a + b, 0)} actions`),
    60_000,
  );
  const [stalls] = await Promise.all([stallDatabase(endAt), ...Array.from({ length: options.users }, (_, i) => user(i, endAt))]);
  clearInterval(ticker);
  clearInterval(sampler);
  const loadS = (Date.now() - started) / 1000;

  // After the load: nothing may stay running or held, and the process must shrink back.
  const unread = { heapMiB: 0, externalMiB: 0, rssMiB: 0 };
  let after = { ...(await figures()), ...unread };
  let running: Array<{ id: string }> = [];
  let held: Array<{ id: string }> = [];
  const settleUntil = Date.now() + SETTLE_MS;
  // The live heap, not RSS: V8 keeps pages it grew into long after the objects on them are gone.
  const heapLimit = baseline.heapMiB * 1.5 + 32;
  const back = () =>
    after.fds <= baseline.fds + HANDLE_SLACK &&
    after.handles <= baseline.handles + HANDLE_SLACK &&
    after.resources <= baseline.resources + HANDLE_SLACK &&
    after.dbConnections <= options.poolSize;
  while (!exited) {
    running = await sql(`SELECT id FROM turns WHERE status = 'running'`);
    held = await sql(`SELECT id FROM sessions WHERE active_turn_id IS NOT NULL`);
    after = { ...(await figures()), ...unread };
    if ((running.length === 0 && held.length === 0 && back()) || Date.now() > settleUntil) break;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  if (!exited) after = { ...after, ...(await liveMemory()) };
  const externalLimit = baseline.externalMiB * 1.5 + 32;
  // RSS passes under its ceiling, or when it gave back at least half of what it grew by during the load.
  const rssCeiling = baseline.rssMiB + RSS_GROWTH_MIB;
  const rssGaveBack = peakRssMiB > baseline.rssMiB ? (peakRssMiB - after.rssMiB) / (peakRssMiB - baseline.rssMiB) : 1;
  if (running.length) problems.push(`${running.length} turns left running, e.g. ${running[0].id}`);
  if (held.length) problems.push(`${held.length} leases left held, e.g. session ${held[0].id}`);
  const unanswered = await sql(
    `SELECT t.id FROM turns t WHERE t.status = 'completed'
       AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.turn_id = t.id AND m.role = 'assistant' AND m.status = 'complete')`,
  );
  if (unanswered.length) problems.push(`${unanswered.length} completed turns without their answer, e.g. ${unanswered[0].id}`);
  if (after.heapMiB > heapLimit)
    problems.push(`heap used ${after.heapMiB.toFixed(0)} MiB after the load, baseline ${baseline.heapMiB.toFixed(0)} MiB`);
  if (after.externalMiB > externalLimit)
    problems.push(`external memory ${after.externalMiB.toFixed(0)} MiB after the load, baseline ${baseline.externalMiB.toFixed(0)} MiB`);
  if (after.rssMiB > rssCeiling && rssGaveBack < 0.5)
    problems.push(
      `RSS ${after.rssMiB.toFixed(0)} MiB after the load and a full collection: over baseline + ${RSS_GROWTH_MIB} (${rssCeiling.toFixed(0)} MiB), and ${Math.round(rssGaveBack * 100)}% of its growth given back (baseline ${baseline.rssMiB.toFixed(0)}, peak ${peakRssMiB.toFixed(0)})`,
    );
  if (after.fds > baseline.fds + HANDLE_SLACK) problems.push(`${after.fds} open descriptors after the load, baseline ${baseline.fds}`);
  if (!exited && (after.handles > baseline.handles + HANDLE_SLACK || after.resources > baseline.resources + HANDLE_SLACK))
    problems.push(
      `${after.handles} active handles and ${after.resources} active resources after the load, baseline ${baseline.handles} and ${baseline.resources} (now ${await resourceTypes()}; baseline ${baselineResources})`,
    );
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
    `| external memory (MiB; Buffers and ArrayBuffers; at most 1.5 × baseline + 32 allowed) | ${baseline.externalMiB.toFixed(0)} | ${after.externalMiB.toFixed(0)} |`,
    `| RSS (MiB; peak during the load ${peakRssMiB.toFixed(0)}, ${Math.round(rssGaveBack * 100)}% of the growth given back; at most baseline + ${RSS_GROWTH_MIB}, or half the growth given back) | ${baseline.rssMiB.toFixed(0)} | ${after.rssMiB.toFixed(0)} |`,
    `| open descriptors (at most baseline + ${HANDLE_SLACK}) | ${baseline.fds} | ${after.fds} |`,
    `| active handles / resources (\`nodejs_active_handles_total\` / \`nodejs_active_resources_total\`; at most baseline + ${HANDLE_SLACK} each) | ${baseline.handles} / ${baseline.resources} | ${after.handles} / ${after.resources} |`,
    `| database connections (at most the pool, ${options.poolSize}) | ${baseline.dbConnections} | ${after.dbConnections} |`,
    `| turns left running / leases held / completed without answer | 0 / 0 / 0 | ${running.length} / ${held.length} / ${unanswered.length} |`,
    '',
    `Heap, external memory and RSS are read right after a full collection and a heap snapshot, the baseline's as the after's. The live heap, external memory, descriptors, handles and connections must come back to the baseline; RSS need not: V8 keeps the pages it grew into and glibc keeps freed memory in its arenas, so it rarely falls back after a load. It is judged by a ceiling (baseline + ${RSS_GROWTH_MIB} MiB) that a healthy run stays under and a large leak outside the JavaScript heap crosses, or passes when it gave back at least half of its growth (docs/decisions/0018-soak-memory-and-handles.md). An accepted cancel whose turn completed is told apart: accepted after the answer was stored (too late: nothing was left to stop) or ignored (a problem).`,
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
