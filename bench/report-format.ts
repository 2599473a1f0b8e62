/** Number formatting and the table rows every scenario of the report shares: one column per server, two ratios to the bare floor. */
import type { CpuSplit } from './cpu.js';
import type { TurnsResult } from './shared.js';

export type TargetName = 'service' | 'sdk' | 'bare';
/** In the order of the report's columns. */
export const TARGETS: TargetName[] = ['service', 'sdk', 'bare'];
export const TARGET_LABELS: Record<TargetName, string> = { service: 'service', sdk: 'SDK floor', bare: 'bare floor' };
export const HEADER = ['', 'service', 'SDK floor', 'bare floor', 'service ÷ bare', 'SDK ÷ bare'];

export interface MeasuredRun {
  target: TargetName;
  /** The Node version the server ran on. */
  runtime: string;
  result: TurnsResult;
  cpu: CpuSplit;
}

export function num(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ms(value: number): string {
  return num(value, value < 10 ? 2 : 1);
}

export function ratio(value: number | null | undefined, base: number | null | undefined): string {
  if (value === null || value === undefined || base === null || base === undefined) return '—';
  if (!Number.isFinite(value) || !Number.isFinite(base) || base === 0) return '—';
  return `${(value / base).toFixed(2)}×`;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function mib(bytes: number | null): string {
  return bytes === null ? '—' : `${num(bytes / 1024 / 1024, 0)} MiB`;
}

export function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** The median of a figure over a target's rounds (NaN when it did not run). */
export function medianOf<R extends { target: TargetName }>(runs: R[], target: TargetName, figure: (run: R) => number): number {
  return median(runs.filter((r) => r.target === target).map(figure));
}

/** A row: per target the median over its rounds (each round in parentheses when several), then service ÷ bare and SDK ÷ bare. */
export function figureRow<R extends { target: TargetName }>(label: string, runs: R[], figure: (run: R) => number, digits = 0): string[] {
  const cell = (target: TargetName) => {
    const values = runs.filter((r) => r.target === target).map(figure);
    if (values.length === 0) return '—';
    if (values.length === 1) return num(values[0], digits);
    return `${num(median(values), digits)} (${values.map((v) => num(v, digits)).join(' / ')})`;
  };
  const of = (target: TargetName) => medianOf(runs, target, figure);
  return [label, ...TARGETS.map(cell), ratio(of('service'), of('bare')), ratio(of('sdk'), of('bare'))];
}

/** A row of one value per target and no ratios. */
export function countRow(label: string, cell: (target: TargetName) => string): string[] {
  return [label, ...TARGETS.map(cell), '', ''];
}

/** Turns that sent their request. */
export function started(result: TurnsResult): number {
  return result.turns - result.notStarted;
}

export function totalOf(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** `completed / turns` over a target's rounds. */
export function completedCell(runs: MeasuredRun[], target: TargetName, per: (r: TurnsResult) => number = (r) => r.turns): string {
  const chosen = runs.filter((r) => r.target === target);
  if (chosen.length === 0) return '—';
  return `${num(chosen.reduce((n, r) => n + r.result.completed, 0))} / ${num(chosen.reduce((n, r) => n + per(r.result), 0))}`;
}

/** `error` events / HTTP or connection failures / completed turns with a wrong token count. */
export function problemCell(runs: MeasuredRun[], target: TargetName): string {
  const chosen = runs.filter((r) => r.target === target);
  if (chosen.length === 0) return '—';
  const total = (f: (r: TurnsResult) => number) => num(chosen.reduce((sum, r) => sum + f(r.result), 0));
  return `${total((r) => r.errorEvents)} / ${total((r) => r.failures)} / ${total((r) => r.shortStreams)}`;
}

/** What went wrong, per run that had trouble: `done` statuses, `error` codes, sample failures. */
export function failureNotes(runs: Array<MeasuredRun & { round?: number }>): string[] {
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
      return `- ${TARGET_LABELS[r.target]}${r.round === undefined ? '' : ` round ${r.round}`}: ${parts.join('; ')}`;
    });
}

/** `INSERT 2, SELECT 1.5, …` per unit, most frequent first. */
export function byKind(counts: Record<string, number>, per: number): string {
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
export function statementRows(runs: Array<MeasuredRun & { statements: Record<string, number> }>, unit: string): string[][] {
  if (runs.every((r) => totalOf(r.statements) === 0)) return [];
  const kinds = (t: TargetName) => {
    const last = [...runs].reverse().find((r) => r.target === t);
    return last ? byKind(last.statements, started(last.result)) : '—';
  };
  return [
    figureRow(`SQL statements per ${unit}`, runs, (r) => totalOf(r.statements) / started(r.result), 1),
    countRow(`… by kind${runs.length > TARGETS.length ? ' (last round)' : ''}`, kinds),
  ];
}

/** Cores busy while the turns ran, by who: on a small machine the server competes with everything else. */
export function cpuRows(runs: MeasuredRun[]): string[][] {
  const cores = (pick: (cpu: CpuSplit) => number) => (r: MeasuredRun) => pick(r.cpu) / r.result.wallMs;
  return [
    figureRow(
      'cores busy: server',
      runs,
      cores((c) => c.server),
      2,
    ),
    figureRow(
      'cores busy: PostgreSQL',
      runs,
      cores((c) => c.postgres),
      2,
    ),
    figureRow(
      'cores busy: LLM server + load generator',
      runs,
      cores((c) => c.helpers),
      2,
    ),
    figureRow(
      'cores busy: other processes on the machine',
      runs,
      cores((c) => c.otherProcesses),
      2,
    ),
  ];
}

/** One block per Node version the servers ran on, headed by it when there are several. */
export function perRuntime<R extends { runtime: string }>(
  runs: R[],
  runtimes: string[],
  render: (runs: R[], runtime: string) => string,
): string {
  if (runtimes.length <= 1) return render(runs, runtimes[0] ?? '');
  return runtimes
    .filter((runtime) => runs.some((r) => r.runtime === runtime))
    .map(
      (runtime) =>
        `**Node ${runtime}**\n\n${render(
          runs.filter((r) => r.runtime === runtime),
          runtime,
        )}`,
    )
    .join('\n\n');
}
