/** Renders the benchmark's figures as the generated part of BENCHMARKS.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { CpuSplit } from './cpu.js';
import type { ResumeResult, Summary, TurnsResult } from './shared.js';

export type TargetName = 'floor' | 'service';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  postgres: string;
  fdLimit: number;
  os: string;
}

export interface ThroughputRun {
  target: TargetName;
  round: number;
  result: TurnsResult;
  tokensPerSecond: number;
  cpu: CpuSplit;
}

export interface ConcurrencyRun {
  target: TargetName;
  round: number;
  result: TurnsResult;
  messagesStored: number;
  cpu: CpuSplit;
  /** SQL statements the server ran meanwhile, by first keyword (empty without pg_stat_statements). */
  statements: Record<string, number>;
}

export interface OpenStreamsRun {
  target: TargetName;
  result: TurnsResult;
  cpu: CpuSplit;
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
  overall: { commits: number; p50Ms: number; p99Ms: number; meanMs: number };
  operations: OperationTimes[];
  bucketBoundsMs: number[];
  floorInsertMs: Summary | null;
}

export interface HistoryRun {
  target: TargetName;
  priorMessages: number;
  turns: number;
  /** Medians over the turns. */
  turnMs: number;
  firstTokenMs: number;
  rowsWritten: Record<string, number>;
  /** Service: micro-transactions from /metrics; floor: its inserts. */
  transactions: number;
  /** SQL statements per turn by first keyword. */
  statements: Record<string, number>;
  /** operation → [commits per turn, mean ms] */
  operations: Array<{ operation: string; perTurn: number; meanMs: number }>;
  promptMessages: number;
  promptBytes: number;
  contextBuild: string;
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
  openStreams?:
    | {
        requested: number;
        streams: number;
        tokens: number;
        paceMs: number;
        startConcurrency: number;
        startWithinS: number;
        runs: OpenStreamsRun[];
      }
    | { error: string };
  transactions?: TransactionFigures | { error: string };
  history?: { runs: HistoryRun[] } | { error: string };
  resume?: ResumeSection | { error: string };
}

/** Scenario 6 (service only: the floor has no stored events to resume from). */
export interface ResumeSection {
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

function num(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(service: number | undefined, floor: number | undefined): string {
  if (service === undefined || floor === undefined || !Number.isFinite(service) || !Number.isFinite(floor) || floor === 0) return '—';
  return `${(service / floor).toFixed(2)}×`;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function mib(bytes: number | null): string {
  return bytes === null ? '—' : `${num(bytes / 1024 / 1024, 0)} MiB`;
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** A figure per target: the median over its rounds, and each round when there were several. */
function perTarget<R extends { target: TargetName }>(runs: R[], figure: (run: R) => number, digits = 0) {
  const of = (target: TargetName) => runs.filter((r) => r.target === target).map(figure);
  const cell = (values: number[]) =>
    values.length === 0
      ? '—'
      : values.length === 1
        ? num(values[0], digits)
        : `${num(median(values), digits)} (${values.map((v) => num(v, digits)).join(' / ')})`;
  const floor = of('floor');
  const service = of('service');
  return {
    floor: cell(floor),
    service: cell(service),
    ratio: ratio(service.length ? median(service) : undefined, floor.length ? median(floor) : undefined),
  };
}

function row(label: string, figures: { floor: string; service: string; ratio: string }, target = ''): string[] {
  return [label, figures.floor, figures.service, figures.ratio, target];
}

function countRow(label: string, floor: string, service: string): string[] {
  return [label, floor, service, '', ''];
}

function sumOver<R extends { target: TargetName }>(runs: R[], target: TargetName, figure: (run: R) => number): number | null {
  const chosen = runs.filter((r) => r.target === target);
  return chosen.length ? chosen.reduce((total, r) => total + figure(r), 0) : null;
}

/** `error` events / HTTP or connection failures / completed turns with a wrong token count. */
function problemCell<R extends { target: TargetName; result: TurnsResult }>(runs: R[], target: TargetName): string {
  const chosen = runs.filter((r) => r.target === target);
  if (chosen.length === 0) return '—';
  const total = (f: (r: TurnsResult) => number) => num(chosen.reduce((sum, r) => sum + f(r.result), 0));
  return `${total((r) => r.errorEvents)} / ${total((r) => r.failures)} / ${total((r) => r.shortStreams)}`;
}

/** What went wrong, per run that had trouble: `done` statuses, `error` codes, sample failures. */
function failureNotes<R extends { target: TargetName; result: TurnsResult }>(runs: R[]): string[] {
  const tally = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([key, n]) => `${key} ${num(n)}`)
      .join(', ');
  return runs
    .filter((r) => r.result.completed < r.result.turns || r.result.errorEvents > 0 || r.result.timedOut)
    .map((r) => {
      const parts = [`\`done\` statuses: ${tally(r.result.doneStatuses) || 'none'}`];
      if (r.result.errorEvents > 0) parts.push(`\`error\` codes: ${tally(r.result.errorCodes)}`);
      if (r.result.failureSamples.length > 0)
        parts.push(`failures: ${r.result.failureSamples.map((s) => `\`${s.replace(/`/g, "'")}\``).join('; ')}`);
      if (r.result.timedOut) parts.push('timed out');
      return `- ${r.target}${'round' in r ? ` round ${String(r.round)}` : ''}: ${parts.join('; ')}`;
    });
}

const HEADER = ['', 'floor', 'service', 'service ÷ floor', 'target'];

/** Turns that sent their request. */
function started(result: TurnsResult): number {
  return result.turns - result.notStarted;
}

function totalOf(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** `INSERT 2, SELECT 1.5, …` per unit, most frequent first. */
function byKind(counts: Record<string, number>, per: number): string {
  return (
    Object.entries(counts)
      .sort((a, b) => b[1] - a[1])
      .map(([kind, n]) => {
        const each = n / per;
        return `${kind} ${num(each, Number.isInteger(each) ? 0 : each < 0.1 ? 3 : 1)}`;
      })
      .join(', ') || '—'
  );
}

/** SQL statements per turn (all the server sent meanwhile, background work included), and by kind. */
function statementRows<R extends { target: TargetName; result: TurnsResult; statements: Record<string, number> }>(
  runs: R[],
  unit: string,
): string[][] {
  if (runs.every((r) => totalOf(r.statements) === 0)) return [];
  const last = (t: TargetName) => [...runs].reverse().find((r) => r.target === t);
  const kinds = (t: TargetName) => {
    const r = last(t);
    return r ? byKind(r.statements, started(r.result)) : '—';
  };
  return [
    row(
      `SQL statements per ${unit}`,
      perTarget(runs, (r) => totalOf(r.statements) / started(r.result), 1),
    ),
    [`… by kind${runs.length > 2 ? ' (last round)' : ''}`, kinds('floor'), kinds('service'), '', ''],
  ];
}

/** Cores busy while the turns ran, by who: on a small machine the server competes with everything else. */
function cpuRows(runs: Array<{ target: TargetName; result: TurnsResult; cpu: CpuSplit }>): string[][] {
  const cores = (pick: (cpu: CpuSplit) => number) => (r: { result: TurnsResult; cpu: CpuSplit }) => pick(r.cpu) / r.result.wallMs;
  return [
    row(
      'cores busy: server',
      perTarget(
        runs,
        cores((c) => c.server),
        2,
      ),
    ),
    row(
      'cores busy: PostgreSQL',
      perTarget(
        runs,
        cores((c) => c.postgres),
        2,
      ),
    ),
    row(
      'cores busy: LLM server + load generator',
      perTarget(
        runs,
        cores((c) => c.helpers),
        2,
      ),
    ),
    row(
      'cores busy: other processes on the machine',
      perTarget(
        runs,
        cores((c) => c.otherProcesses),
        2,
      ),
    ),
  ];
}

function renderThroughput(section: NonNullable<Results['throughput']>): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const { runs } = section;
  const completed = (t: TargetName) => {
    const total = sumOver(runs, t, (r) => r.result.turns);
    return total === null ? '—' : `${num(sumOver(runs, t, (r) => r.result.completed))} / ${num(total)}`;
  };
  return [
    `${section.turns} concurrent turns of ${num(section.tokens)} tokens, the LLM server streaming as fast as it can. Tokens/s = tokens received by the clients ÷ time from the first request to the last \`done\`.`,
    '',
    table(HEADER, [
      row(
        'tokens/s delivered',
        perTarget(runs, (r) => r.tokensPerSecond),
        '≥ 0.8×',
      ),
      row(
        'median turn time (ms)',
        perTarget(runs, (r) => r.result.turnMs.p50),
      ),
      row(
        'median time to first token (ms)',
        perTarget(runs, (r) => r.result.firstTokenMs.p50),
      ),
      row(
        'server CPU per 1,000 tokens (ms)',
        perTarget(runs, (r) => (r.cpu.server / r.result.tokensDelivered) * 1000, 1),
      ),
      ...cpuRows(runs),
      countRow('turns completed', completed('floor'), completed('service')),
      countRow('error events / failed requests / short streams', problemCell(runs, 'floor'), problemCell(runs, 'service')),
    ]),
    ...failureNotes(runs),
  ].join('\n');
}

function renderConcurrency(section: NonNullable<Results['concurrency']>): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const { runs } = section;
  const completed = (t: TargetName) => {
    const total = sumOver(runs, t, (r) => r.result.turns);
    return total === null ? '—' : `${num(sumOver(runs, t, (r) => r.result.completed))} / ${num(total)}`;
  };
  const stored = (t: TargetName) => {
    const total = sumOver(runs, t, (r) => r.result.turns * 2);
    return total === null ? '—' : `${num(sumOver(runs, t, (r) => r.messagesStored))} / ${num(total)}`;
  };
  return [
    `${num(section.turns)} concurrent turns on ${num(section.turns)} sessions, ${section.tokens} tokens ${section.paceMs} ms apart, DB_POOL_SIZE=10. Rows are counted in the database after each round (the service's \`messages\`, the floor's \`floor_messages\`).`,
    '',
    table(HEADER, [
      row(
        'median turn time (ms)',
        perTarget(runs, (r) => r.result.turnMs.p50),
        '≤ 1.2×',
      ),
      row(
        'p99 turn time (ms)',
        perTarget(runs, (r) => r.result.turnMs.p99),
      ),
      row(
        'median time to first token (ms)',
        perTarget(runs, (r) => r.result.firstTokenMs.p50),
      ),
      row(
        'p99 time to first token (ms)',
        perTarget(runs, (r) => r.result.firstTokenMs.p99),
      ),
      row(
        'server CPU per turn (ms)',
        perTarget(runs, (r) => r.cpu.server / r.result.turns, 2),
      ),
      ...statementRows(runs, 'turn'),
      ...cpuRows(runs),
      countRow('turns completed', completed('floor'), completed('service')),
      countRow('messages stored', stored('floor'), stored('service')),
      countRow('error events / failed requests / short streams', problemCell(runs, 'floor'), problemCell(runs, 'service')),
    ]),
    ...failureNotes(runs),
  ].join('\n');
}

function renderOpenStreams(section: NonNullable<Results['openStreams']>): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const { runs } = section;
  const of = (t: TargetName) => runs.find((r) => r.target === t);
  const perStream = (r: OpenStreamsRun | undefined) =>
    r && r.rssHeldBytes !== null && r.heldStreams > 0 ? (r.rssHeldBytes - r.rssBeforeBytes) / r.heldStreams : undefined;
  const kib = (v: number | undefined) => (v === undefined ? '—' : num(v / 1024, 1));
  const floor = of('floor');
  const service = of('service');
  const cell = (r: OpenStreamsRun | undefined, f: (r: OpenStreamsRun) => string) => (r ? f(r) : '—');
  const opened = (r: OpenStreamsRun) =>
    r.result.allOpenAtMs === null
      ? 'never all'
      : `${num(r.result.allOpenAtMs / 1000, 1)} s (${num(r.result.turns / (r.result.allOpenAtMs / 1000))} streams/s)`;
  const coresBusy = (r: OpenStreamsRun) =>
    [r.cpu.server, r.cpu.postgres, r.cpu.helpers, r.cpu.otherProcesses].map((ms) => num(ms / r.result.wallMs, 2)).join(' / ');
  const capped =
    section.streams < section.requested
      ? ` (${num(section.requested)} asked; this machine's open-files limit of a process holds at most ${num(section.streams)}: a server needs one descriptor for the client and one for its LLM request per stream)`
      : '';
  return [
    `${num(section.streams)} streams held at once by one server process${capped}. Streams open as fast as the server takes them: at most ${section.startConcurrency} turns wait for their first token at a time, each on its own connection, and turns not started within ${section.startWithinS} s are not started. The LLM sends a token every ${section.paceMs / 1000} s and holds every stream open until all have started; RSS (from /proc) is read before the streams open and, over 2 s, once all have started; then the streams end after at least ${section.tokens} tokens. Per stream = the RSS growth ÷ the streams open when it was read.`,
    '',
    table(HEADER, [
      ['RSS per open stream (KiB)', kib(perStream(floor)), kib(perStream(service)), ratio(perStream(service), perStream(floor)), ''],
      [
        'streams open when RSS was read',
        cell(floor, (r) => num(r.heldStreams)),
        cell(service, (r) => num(r.heldStreams)),
        '',
        num(section.streams),
      ],
      [
        'RSS before → held',
        cell(floor, (r) => `${mib(r.rssBeforeBytes)} → ${mib(r.rssHeldBytes)}`),
        cell(service, (r) => `${mib(r.rssBeforeBytes)} → ${mib(r.rssHeldBytes)}`),
        '',
        '',
      ],
      [
        'peak RSS',
        cell(floor, (r) => mib(r.rssPeakBytes)),
        cell(service, (r) => mib(r.rssPeakBytes)),
        ratio(service?.rssPeakBytes, floor?.rssPeakBytes),
        '',
      ],
      [
        'all open after',
        cell(floor, opened),
        cell(service, opened),
        ratio(service?.result.allOpenAtMs ?? undefined, floor?.result.allOpenAtMs ?? undefined),
        '',
      ],
      [
        'cores busy: server / PostgreSQL / LLM server + load generator / other processes',
        cell(floor, coresBusy),
        cell(service, coresBusy),
        '',
        '',
      ],
      ...statementRows(runs, 'stream'),
      [
        'server CPU per stream (ms)',
        cell(floor, (r) => num(r.cpu.server / started(r.result), 2)),
        cell(service, (r) => num(r.cpu.server / started(r.result), 2)),
        ratio(service && service.cpu.server / started(service.result), floor && floor.cpu.server / started(floor.result)),
        '',
      ],
      [
        'completed',
        cell(floor, (r) => `${num(r.result.completed)} / ${num(r.result.turns)}`),
        cell(service, (r) => `${num(r.result.completed)} / ${num(r.result.turns)}`),
        '',
        '',
      ],
      ['dropped: error events / failed requests / short streams', problemCell(runs, 'floor'), problemCell(runs, 'service'), '', '0'],
    ]),
    ...failureNotes(runs),
  ].join('\n');
}

function ms(seconds: number): string {
  return num(seconds, seconds < 10 ? 2 : 1);
}

function renderTransactions(section: NonNullable<Results['transactions']>): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const top = section.bucketBoundsMs[section.bucketBoundsMs.length - 1];
  // A quantile in the +Inf bucket is only known to be above the highest bound.
  const q = (value: number) => (value === Infinity ? `> ${num(top)}` : ms(value));
  const rows = [
    [
      '**all operations**',
      num(section.overall.commits),
      q(section.overall.p50Ms),
      q(section.overall.p99Ms),
      ms(section.overall.meanMs),
      num(section.operations.reduce((n, o) => n + o.errors, 0)),
    ],
    ...section.operations.map((o) => [o.operation, num(o.commits), q(o.p50Ms), q(o.p99Ms), ms(o.meanMs), num(o.errors)]),
  ];
  const floor = section.floorInsertMs;
  return [
    `\`sse_transaction_duration_seconds\` from the service's \`/metrics\`, the difference between a scrape before and after each service round of scenario 2. Quantiles are interpolated inside histogram buckets (bounds: ${section.bucketBoundsMs.map((b) => num(b, Number.isInteger(b) ? 0 : 1)).join(', ')} ms), so they are only as fine as those. Target: p99 under 20 ms.`,
    '',
    table(['operation', 'commits', 'p50 (ms)', 'p99 (ms)', 'mean (ms)', 'errors'], rows),
    '',
    floor
      ? `Floor, for comparison: its single-statement message inserts (pool wait included, timed in the process) took p50 ${ms(floor.p50)} ms, p99 ${ms(floor.p99)} ms, mean ${ms(floor.mean)} ms over ${num(floor.count)} inserts.`
      : '',
  ].join('\n');
}

function renderHistory(section: NonNullable<Results['history']>): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const service = section.runs.filter((r) => r.target === 'service');
  const floor = section.runs.filter((r) => r.target === 'floor');
  const lines: string[] = [
    "One turn (50 tokens, as fast as possible) on a session that already holds N messages, inserted straight into the database. Rows written = rows inserted or updated by the turn (their `xmin` is newer than a snapshot taken before it), per table. Transactions and their times are `/metrics` deltas per operation (the floor's: its inserts).",
    '',
  ];
  const sizes = [...new Set(section.runs.map((r) => r.priorMessages))].sort((a, b) => a - b);
  const by = (runs: HistoryRun[], n: number) => runs.find((r) => r.priorMessages === n);
  const header = ['', ...sizes.map((n) => `service, ${num(n)} prior`), ...sizes.map((n) => `floor, ${num(n)} prior`)];
  const cells = (f: (r: HistoryRun) => string) =>
    [...sizes.map((n) => by(service, n)), ...sizes.map((n) => by(floor, n))].map((r) => (r ? f(r) : '—'));
  const rowsWritten = (r: HistoryRun) =>
    Object.entries(r.rowsWritten)
      .filter(([, n]) => n > 0)
      .map(([table, n]) => `${table} ${num(n, Number.isInteger(n) ? 0 : 1)}`)
      .join(', ') || '0';
  const total = (r: HistoryRun) => Object.values(r.rowsWritten).reduce((a, b) => a + b, 0);
  const operations = [...new Set(service.flatMap((r) => r.operations.map((o) => o.operation)))].sort();
  lines.push(
    table(header, [
      ['turn time (ms)', ...cells((r) => num(r.turnMs, 1))],
      ['time to first token (ms)', ...cells((r) => num(r.firstTokenMs, 1))],
      ['rows written', ...cells((r) => num(total(r), 1))],
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
  );
  const turns = section.runs[0]?.turns ?? 0;
  lines.push(
    '',
    `${turns} turn${turns === 1 ? '' : 's'} per cell, each on its own session; the times are their medians, the counts their means.`,
  );
  return lines.join('\n');
}

function renderResume(section: NonNullable<Results['resume']>): string {
  if ('error' in section) return `Not measured: ${section.error}`;
  const r = section.result;
  const cores = (n: number) => num(n / section.wallMs, 2);
  return [
    `${num(section.streams)} turns started at once with \`onDisconnect: continue\` and an \`Idempotency-Key\`, the LLM sending a token every ${section.paceMs} ms and holding every turn until all have resumed. Once every stream has had ${section.cutAfterTokens} tokens, the load generator cuts every connection at the same moment; each client then reconnects and sends \`GET /v1/sessions/:id/stream\` with the \`Last-Event-ID\` it last saw. Time to resume = from the cut to the first event of the resumed stream (reconnecting included). A turn's ids are consecutive, so a repeated id is an event sent twice and a skipped one an event lost; each client's text is compared with the answer stored in \`messages\`. Service only: the floor keeps no events to resume from.`,
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
    `- ${m.cpus} CPUs (${m.cpuModel}), ${num(m.memoryGiB, 1)} GiB memory, ${m.os}; Node ${m.node}; ${m.postgres}; open-files limit of a child process ${num(m.fdLimit)}.`,
    ...results.setup.map((line) => `- ${line}`),
    ...(results.serviceProblem ? [`- **The service was not measured:** ${results.serviceProblem}`] : []),
    ...results.notes.map((line) => `- ${line}`),
  ];
  const sections: Array<[string, string | undefined]> = [
    ['1. Throughput', results.throughput && renderThroughput(results.throughput)],
    ['2. Concurrency', results.concurrency && renderConcurrency(results.concurrency)],
    ['3. Open streams', results.openStreams && renderOpenStreams(results.openStreams)],
    ['4. Micro-transactions under load (service, during scenario 2)', results.transactions && renderTransactions(results.transactions)],
    ['5. History growth', results.history && renderHistory(results.history)],
    ['6. Resume after a cut', results.resume && renderResume(results.resume)],
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
