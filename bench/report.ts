/** Renders the benchmark's figures as the generated part of BENCHMARKS.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { CpuSplit } from './cpu.js';
import { renderProfiles, type ProfileFigures } from './report-profiles.js';
import { renderTargets } from './report-targets.js';
import {
  TARGETS,
  TARGET_LABELS,
  HEADER,
  byKind,
  completedCell,
  countRow,
  cpuRows,
  failureNotes,
  figureRow,
  mib,
  ms,
  num,
  perRuntime,
  problemCell,
  ratio,
  started,
  statementRows,
  table,
  totalOf,
  type MeasuredRun,
  type TargetName,
} from './report-format.js';
import type { ResumeResult, Summary } from './shared.js';

export type { TargetName } from './report-format.js';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  /** The runner's Node (the load generator and the LLM server run on it too). */
  node: string;
  /** The Node versions the servers ran on. */
  runtimes: string[];
  postgres: string;
  /** Open-files limit of a child process, and the hard limit that capped it. */
  fdLimit: { soft: number; hard: number };
  os: string;
}

export interface ThroughputRun extends MeasuredRun {
  round: number;
  tokensPerSecond: number;
}

export interface ConcurrencyRun extends MeasuredRun {
  round: number;
  messagesStored: number;
  /** SQL statements the server ran meanwhile, by first keyword (empty without pg_stat_statements). */
  statements: Record<string, number>;
}

export interface OpenStreamsRun extends MeasuredRun {
  statements: Record<string, number>;
  rssBeforeBytes: number;
  /** Read once every stream had started (first token, or ended, or not started in time). */
  rssHeldBytes: number | null;
  /** Streams open when `rssHeldBytes` was read. */
  heldStreams: number;
  rssPeakBytes: number;
}

export interface OperationTimes {
  operation: string;
  commits: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  errors: number;
}

export interface TransactionFigures {
  runtime: string;
  overall: { commits: number; p50Ms: number; p99Ms: number; meanMs: number };
  operations: OperationTimes[];
  bucketBoundsMs: number[];
  /** The floors' message inserts in their last round, pool wait included. */
  floorInsertMs: { sdk: Summary | null; bare: Summary | null };
}

export interface HistoryRun {
  target: TargetName;
  priorMessages: number;
  turns: number;
  /** Medians over the turns. */
  turnMs: number;
  firstTokenMs: number;
  rowsWritten: Record<string, number>;
  /** Service: micro-transactions from /metrics; floors: their inserts. */
  transactions: number;
  /** SQL statements per turn by first keyword. */
  statements: Record<string, number>;
  /** operation → [commits per turn, mean ms] */
  operations: Array<{ operation: string; perTurn: number; meanMs: number }>;
  promptMessages: number;
  promptBytes: number;
  contextBuild: string;
}

export interface OpenStreamsSection {
  requested: number;
  streams: number;
  /** The most streams the open-files limit lets one server hold (two descriptors each). */
  fdCapacity: number;
  tokens: number;
  paceMs: number;
  startConcurrency: number;
  startWithinS: number;
  runs: OpenStreamsRun[];
}

export interface Results {
  command: string;
  startedAt: Date;
  durationS: number;
  gitCommit: string;
  machine: Machine;
  setup: string[];
  notes: string[];
  serviceProblem: string | null;
  throughput?: { turns: number; tokens: number; runs: ThroughputRun[] } | { error: string };
  concurrency?: { turns: number; tokens: number; paceMs: number; runs: ConcurrencyRun[] } | { error: string };
  openStreams?: OpenStreamsSection | { error: string };
  transactions?: { turns: number; byRuntime: TransactionFigures[] } | { error: string };
  history?: { runtime: string; runs: HistoryRun[] } | { error: string };
  resume?: ResumeSection | { error: string };
  profiles?: ProfileFigures[];
}

/** Scenario 6 (service only: the floors have no stored events to resume from). */
export interface ResumeSection {
  runtime: string;
  streams: number;
  cutAfterTokens: number;
  paceMs: number;
  result: ResumeResult;
  /** Sessions whose received text differs from the stored answer. */
  mismatched: number;
  cpu: CpuSplit;
  wallMs: number;
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

const FILE_TEMPLATE = `# Benchmarks

${START}
${END}

## Findings

<!-- Profiling notes and conclusions. \`npm run bench\` rewrites only the generated section above. -->
`;

function renderThroughput(section: NonNullable<Results['throughput']>, runtimes: string[]): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const intro = `${section.turns} concurrent turns of ${num(section.tokens)} tokens, the LLM server streaming as fast as it can. Tokens/s = tokens received by the clients ÷ time from the first request to the last \`done\`.`;
  const body = perRuntime(section.runs, runtimes, (runs) =>
    [
      table(HEADER, [
        figureRow('tokens/s delivered', runs, (r) => r.tokensPerSecond),
        figureRow('median turn time (ms)', runs, (r) => r.result.turnMs.p50),
        figureRow('median time to first token (ms)', runs, (r) => r.result.firstTokenMs.p50),
        figureRow('server CPU per 1,000 tokens (ms)', runs, (r) => (r.cpu.server / r.result.tokensDelivered) * 1000, 1),
        ...cpuRows(runs),
        countRow('turns completed', (t) => completedCell(runs, t)),
        countRow('error events / failed requests / short streams', (t) => problemCell(runs, t)),
      ]),
      ...failureNotes(runs),
    ].join('\n'),
  );
  return `${intro}\n\n${body}`;
}

function renderConcurrency(section: NonNullable<Results['concurrency']>, runtimes: string[]): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const stored = (runs: ConcurrencyRun[], t: TargetName) => {
    const chosen = runs.filter((r) => r.target === t);
    if (chosen.length === 0) return '—';
    return `${num(chosen.reduce((n, r) => n + r.messagesStored, 0))} / ${num(chosen.reduce((n, r) => n + r.result.turns * 2, 0))}`;
  };
  const intro = `${num(section.turns)} concurrent turns on ${num(section.turns)} sessions, ${section.tokens} tokens ${section.paceMs} ms apart, DB_POOL_SIZE=10. Rows are counted in the database after each round (the service's \`messages\`, the floors' \`floor_messages\`).`;
  const body = perRuntime(section.runs, runtimes, (runs) =>
    [
      table(HEADER, [
        figureRow('median turn time (ms)', runs, (r) => r.result.turnMs.p50),
        figureRow('p99 turn time (ms)', runs, (r) => r.result.turnMs.p99),
        figureRow('median time to first token (ms)', runs, (r) => r.result.firstTokenMs.p50),
        figureRow('p99 time to first token (ms)', runs, (r) => r.result.firstTokenMs.p99),
        figureRow('server CPU per turn (ms)', runs, (r) => r.cpu.server / r.result.turns, 2),
        ...statementRows(runs, 'turn'),
        ...cpuRows(runs),
        countRow('turns completed', (t) => completedCell(runs, t)),
        countRow('messages stored', (t) => stored(runs, t)),
        countRow('error events / failed requests / short streams', (t) => problemCell(runs, t)),
      ]),
      ...failureNotes(runs),
    ].join('\n'),
  );
  return `${intro}\n\n${body}`;
}

export function rssPerStream(r: OpenStreamsRun | undefined): number | undefined {
  return r && r.rssHeldBytes !== null && r.heldStreams > 0 ? (r.rssHeldBytes - r.rssBeforeBytes) / r.heldStreams : undefined;
}

function renderOpenStreams(section: NonNullable<Results['openStreams']>, machine: Machine): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const kib = (v: number | undefined) => (v === undefined ? '—' : num(v / 1024, 1));
  const opened = (r: OpenStreamsRun) =>
    r.result.allOpenAtMs === null
      ? 'never all'
      : `${num(r.result.allOpenAtMs / 1000, 1)} s (${num(r.result.turns / (r.result.allOpenAtMs / 1000))} streams/s)`;
  const coresBusy = (r: OpenStreamsRun) =>
    [r.cpu.server, r.cpu.postgres, r.cpu.helpers, r.cpu.otherProcesses].map((v) => num(v / r.result.wallMs, 2)).join(' / ');
  const { soft, hard } = machine.fdLimit;
  const limit = `The benchmark raises its children's open-files limit to what the machine allows: ${num(soft)} here (hard limit ${num(hard)}). A server holds two descriptors per stream (the client's socket and its LLM request's), so one process can hold at most ${num(section.fdCapacity)} streams here`;
  const capped =
    section.streams < section.requested
      ? `${limit}; ${num(section.requested)} were asked, so each server was sent ${num(section.streams)} (10,000 need a limit of at least ${num(2 * 10_000 + 200)}).`
      : `${limit}.`;
  const intro = `${num(section.streams)} streams sent to one server process, to be held at once. ${capped} Streams open as fast as the server takes them: at most ${section.startConcurrency} turns wait for their first token at a time, each on its own connection, and turns not started within ${section.startWithinS} s are not started. The LLM sends a token every ${section.paceMs / 1000} s and holds every stream open until all have started; RSS (from /proc) is read before the streams open and, over 2 s, once all have started; then the streams end after at least ${section.tokens} tokens. Per stream = the RSS growth ÷ the streams open when it was read.`;
  const body = perRuntime(section.runs, machine.runtimes, (runs) => {
    const of = (t: TargetName) => runs.find((r) => r.target === t);
    const cell = (f: (r: OpenStreamsRun) => string) => (t: TargetName) => {
      const r = of(t);
      return r ? f(r) : '—';
    };
    const perStreamRatio = (t: TargetName) => ratio(rssPerStream(of(t)), rssPerStream(of('bare')));
    const cpuPerStream = (r: OpenStreamsRun) => r.cpu.server / started(r.result);
    return [
      table(HEADER, [
        ['RSS per open stream (KiB)', ...TARGETS.map((t) => kib(rssPerStream(of(t)))), perStreamRatio('service'), perStreamRatio('sdk')],
        countRow(
          'streams open when RSS was read',
          cell((r) => num(r.heldStreams)),
        ),
        countRow(
          'RSS before → held',
          cell((r) => `${mib(r.rssBeforeBytes)} → ${mib(r.rssHeldBytes)}`),
        ),
        figureRow('peak RSS (MiB)', runs, (r) => r.rssPeakBytes / 1024 / 1024),
        countRow('all open after', cell(opened)),
        countRow('cores busy: server / PostgreSQL / LLM server + load generator / other processes', cell(coresBusy)),
        ...statementRows(runs, 'stream'),
        figureRow('server CPU per stream (ms)', runs, cpuPerStream, 2),
        countRow(
          'completed',
          cell((r) => `${num(r.result.completed)} / ${num(r.result.turns)}`),
        ),
        countRow('dropped: error events / failed requests / short streams', (t) => problemCell(runs, t)),
      ]),
      ...failureNotes(runs),
    ].join('\n');
  });
  return `${intro}\n\n${body}`;
}

function renderTransactions(section: NonNullable<Results['transactions']>, runtimes: string[]): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const intro = `\`sse_transaction_duration_seconds\` from the service's \`/metrics\`, the difference between a scrape before and after each service round of scenario 2 (${num(section.turns)} concurrent turns). Quantiles are interpolated inside histogram buckets, so they are only as fine as those. Target: p99 under 20 ms.`;
  const body = perRuntime(section.byRuntime, runtimes, ([figures]) => {
    const top = figures.bucketBoundsMs[figures.bucketBoundsMs.length - 1];
    // A quantile in the +Inf bucket is only known to be above the highest bound.
    const q = (value: number) => (value === Infinity ? `> ${num(top)}` : ms(value));
    const rows = [
      [
        '**all operations**',
        num(figures.overall.commits),
        q(figures.overall.p50Ms),
        q(figures.overall.p99Ms),
        ms(figures.overall.meanMs),
        num(figures.operations.reduce((n, o) => n + o.errors, 0)),
      ],
      ...figures.operations.map((o) => [o.operation, num(o.commits), q(o.p50Ms), q(o.p99Ms), ms(o.meanMs), num(o.errors)]),
    ];
    const floorLine = (label: string, s: Summary | null) =>
      s ? `${label} took p50 ${ms(s.p50)} ms, p99 ${ms(s.p99)} ms, mean ${ms(s.mean)} ms over ${num(s.count)} inserts` : `${label}: —`;
    return [
      `Bucket bounds: ${figures.bucketBoundsMs.map((b) => num(b, Number.isInteger(b) ? 0 : 1)).join(', ')} ms.`,
      '',
      table(['operation', 'commits', 'p50 (ms)', 'p99 (ms)', 'mean (ms)', 'errors'], rows),
      '',
      `Floors, for comparison (single-statement message inserts, pool wait included, timed in the process, last round): ${floorLine('the bare floor’s', figures.floorInsertMs.bare)}; ${floorLine('the SDK floor’s', figures.floorInsertMs.sdk)}.`,
    ].join('\n');
  });
  return `${intro}\n\n${body}`;
}

function renderHistory(section: NonNullable<Results['history']>): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const sizes = [...new Set(section.runs.map((r) => r.priorMessages))].sort((a, b) => a - b);
  const columns = TARGETS.flatMap((target) => sizes.map((n) => ({ target, n })));
  const header = ['', ...columns.map(({ target, n }) => `${TARGET_LABELS[target]}, ${num(n)} prior`)];
  const cells = (f: (r: HistoryRun) => string) =>
    columns.map(({ target, n }) => {
      const r = section.runs.find((x) => x.target === target && x.priorMessages === n);
      return r ? f(r) : '—';
    });
  const rowsWritten = (r: HistoryRun) =>
    Object.entries(r.rowsWritten)
      .filter(([, n]) => n > 0)
      .map(([name, n]) => `${name} ${num(n, Number.isInteger(n) ? 0 : 1)}`)
      .join(', ') || '0';
  const operations = [
    ...new Set(section.runs.filter((r) => r.target === 'service').flatMap((r) => r.operations.map((o) => o.operation))),
  ].sort();
  const turns = section.runs[0]?.turns ?? 0;
  return [
    `One turn (50 tokens, as fast as possible) on a session that already holds N messages, inserted straight into the database; Node ${section.runtime}. Rows written = rows inserted or updated by the turn (their \`xmin\` is newer than a snapshot taken before it), per table. Transactions and their times are \`/metrics\` deltas per operation (the floors': their inserts).`,
    '',
    table(header, [
      ['turn time (ms)', ...cells((r) => num(r.turnMs, 1))],
      ['time to first token (ms)', ...cells((r) => num(r.firstTokenMs, 1))],
      ['rows written', ...cells((r) => num(totalOf(r.rowsWritten), 1))],
      ['… by table', ...cells(rowsWritten)],
      ['transactions', ...cells((r) => num(r.transactions, 1))],
      ...(section.runs.some((r) => totalOf(r.statements) > 0)
        ? [
            ['SQL statements', ...cells((r) => num(totalOf(r.statements), 1))],
            ['… by kind', ...cells((r) => byKind(r.statements, 1))],
          ]
        : []),
      ['messages sent to the LLM', ...cells((r) => num(r.promptMessages))],
      ['LLM request body (KiB)', ...cells((r) => num(r.promptBytes / 1024, 1))],
      ...operations.map((op) => [
        `\`${op}\` (commits × mean ms)`,
        ...cells((r) => {
          const o = r.operations.find((x) => x.operation === op);
          return o ? `${num(o.perTurn, 1)} × ${ms(o.meanMs)}` : '—';
        }),
      ]),
      ['LLM context build time', ...cells((r) => r.contextBuild)],
    ]),
    '',
    `${turns} turn${turns === 1 ? '' : 's'} per cell, each on its own session; the times are their medians, the counts their means.`,
  ].join('\n');
}

function renderResume(section: NonNullable<Results['resume']>): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const r = section.result;
  const cores = (n: number) => num(n / section.wallMs, 2);
  return [
    `${num(section.streams)} turns started at once with \`onDisconnect: continue\` and an \`Idempotency-Key\`, the LLM sending a token every ${section.paceMs} ms and holding every turn until all have resumed; Node ${section.runtime}. Once every stream has had ${section.cutAfterTokens} tokens, the load generator cuts every connection at the same moment; each client then reconnects and sends \`GET /v1/sessions/:id/stream\` with the \`Last-Event-ID\` it last saw. Time to resume = from the cut to the first event of the resumed stream (reconnecting included). A turn's ids are consecutive, so a repeated id is an event sent twice and a skipped one an event lost; each client's text is compared with the answer stored in \`messages\`. Service only: the floors keep no events to resume from.`,
    '',
    table(
      ['', 'service', 'target'],
      [
        ['streams cut and resumed', `${num(r.streams - r.failures)} / ${num(r.streams)}`, `${num(r.streams)}`],
        ['completed (`done{completed}` on the resumed stream)', `${num(r.completed)} / ${num(r.streams)}`, `${num(r.streams)}`],
        ['events lost / sent twice', `${num(r.lost)} / ${num(r.duplicated)}`, '0 / 0'],
        ['answers whose received text ≠ the stored one', num(section.mismatched), '0'],
        ['time to resume p50 / p99 / max (ms)', `${num(r.resumeMs.p50)} / ${num(r.resumeMs.p99)} / ${num(r.resumeMs.max)}`, ''],
        ['every stream resumed after (ms)', num(r.allResumedMs), ''],
        ['cut after (s from the first request)', num(r.cutAtMs / 1000, 1), ''],
        ['tokens received before / after the cut', `${num(r.tokensBeforeCut)} / ${num(r.tokensAfterCut)}`, ''],
        [
          'cores busy: server / PostgreSQL / LLM server + load generator / other processes',
          `${cores(section.cpu.server)} / ${cores(section.cpu.postgres)} / ${cores(section.cpu.helpers)} / ${cores(section.cpu.otherProcesses)}`,
          '',
        ],
      ],
    ),
    ...(r.failureSamples.length ? ['', `Failures: ${r.failureSamples.join('; ')}`] : []),
  ].join('\n');
}

export function render(results: Results): string {
  const m = results.machine;
  const parts = [
    `_Generated by \`${results.command}\` on ${results.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC at commit \`${results.gitCommit}\`, in ${num(results.durationS)} s._`,
    '',
    '### Machine and setup',
    '',
    `- ${m.cpus} CPUs (${m.cpuModel}), ${num(m.memoryGiB, 1)} GiB memory, ${m.os}; the runner, LLM server and load generator on Node ${m.node}, the servers on Node ${m.runtimes.join(' and ')}; ${m.postgres}; open-files limit of a child process ${num(m.fdLimit.soft)} (hard limit ${num(m.fdLimit.hard)}).`,
    ...results.setup.map((line) => `- ${line}`),
    ...(results.serviceProblem ? [`- **The service was not measured:** ${results.serviceProblem}`] : []),
    ...results.notes.map((line) => `- ${line}`),
    '',
    '### Targets',
    '',
    renderTargets(results),
  ];
  const sections: Array<[string, string | undefined]> = [
    ['1. Throughput', results.throughput && renderThroughput(results.throughput, m.runtimes)],
    ['2. Concurrency', results.concurrency && renderConcurrency(results.concurrency, m.runtimes)],
    ['3. Open streams', results.openStreams && renderOpenStreams(results.openStreams, m)],
    [
      '4. Micro-transactions under load (service, during scenario 2)',
      results.transactions && renderTransactions(results.transactions, m.runtimes),
    ],
    ['5. History growth', results.history && renderHistory(results.history)],
    ['6. Resume after a cut', results.resume && renderResume(results.resume)],
    ['CPU profiles (`--profile`)', results.profiles && renderProfiles(results.profiles, m.runtimes)],
  ];
  for (const [title, body] of sections) {
    if (body !== undefined) parts.push('', `### ${title}`, '', body);
  }
  return parts.join('\n');
}

/** Replaces the generated section of the file and keeps everything else (the Findings). */
export function writeReport(path: string, results: Results): void {
  const current = existsSync(path) ? readFileSync(path, 'utf8') : FILE_TEMPLATE;
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  const generated = `${START}\n${render(results)}\n${END}`;
  const next =
    start !== -1 && end > start
      ? current.slice(0, start) + generated + current.slice(end + END.length)
      : `${current.trimEnd()}\n\n${generated}\n`;
  writeFileSync(path, next);
}
