/** The targets of issue 19, each against the bare floor, per Node version the servers ran on: met or not. */
import { medianOf, num, table, type MeasuredRun } from './report-format.js';
import { rssPerStream, type Results } from './report.js';

interface Verdict {
  measured: string;
  met: boolean | null;
}

interface TargetLine {
  what: string;
  asked: string;
  verdict: (runtime: string) => Verdict;
}

const NOT_MEASURED: Verdict = { measured: 'not measured', met: null };

/** Turns the service did not complete in these runs, as a note, or ''. */
function failedNote(runs: MeasuredRun[]): string {
  const service = runs.filter((r) => r.target === 'service');
  const failed = service.reduce((n, r) => n + r.result.turns - r.result.completed, 0);
  return failed ? `; ${num(failed)} of ${num(service.reduce((n, r) => n + r.result.turns, 0))} turns not completed` : '';
}

/** service ÷ bare floor of a figure (medians over the rounds), judged against `limit`. */
function ratioVerdict<R extends MeasuredRun>(
  allRuns: R[] | undefined,
  runtime: string,
  figure: (r: R) => number,
  unit: string,
  limit: number,
  atLeast: boolean,
): Verdict {
  const runs = allRuns?.filter((r) => r.runtime === runtime) ?? [];
  const service = medianOf(runs, 'service', figure);
  const bare = medianOf(runs, 'bare', figure);
  if (!Number.isFinite(service) || !Number.isFinite(bare) || bare === 0) return NOT_MEASURED;
  const value = service / bare;
  const smaller = Math.min(service, bare);
  const digits = smaller < 10 ? 2 : smaller < 100 ? 1 : 0;
  const note = failedNote(runs);
  return {
    measured: `${value.toFixed(2)}× (${num(service, digits)} ÷ ${num(bare, digits)} ${unit}${note})`,
    met: !note && (atLeast ? value >= limit : value <= limit),
  };
}

function lines(results: Results): TargetLine[] {
  const throughput = results.throughput && !('error' in results.throughput) ? results.throughput : undefined;
  const concurrency = results.concurrency && !('error' in results.concurrency) ? results.concurrency : undefined;
  const open = results.openStreams && !('error' in results.openStreams) ? results.openStreams : undefined;
  const transactions = results.transactions && !('error' in results.transactions) ? results.transactions : undefined;
  const turns = concurrency ? num(concurrency.turns) : '1,000';
  const scaled = concurrency && concurrency.turns !== 1000 ? ' (this run: not the target’s 1,000)' : '';
  return [
    {
      what: 'tokens/s delivered (scenario 1)',
      asked: '≥ 0.8× bare floor',
      verdict: (rt) => ratioVerdict(throughput?.runs, rt, (r) => r.tokensPerSecond, 'tokens/s', 0.8, true),
    },
    {
      what: `median turn time at ${turns} concurrent turns${scaled}`,
      asked: '≤ 1.2× bare floor',
      verdict: (rt) => ratioVerdict(concurrency?.runs, rt, (r) => r.result.turnMs.p50, 'ms', 1.2, false),
    },
    {
      what: `p99 turn time at ${turns} concurrent turns${scaled}`,
      asked: '≤ 1.2× bare floor',
      verdict: (rt) => ratioVerdict(concurrency?.runs, rt, (r) => r.result.turnMs.p99, 'ms', 1.2, false),
    },
    {
      what: `server CPU per turn at ${turns} concurrent turns`,
      asked: '≤ 1.3× bare floor',
      verdict: (rt) => ratioVerdict(concurrency?.runs, rt, (r) => r.cpu.server / r.result.turns, 'ms', 1.3, false),
    },
    {
      what: 'RSS per open stream (scenario 3)',
      asked: '≤ 1.5× bare floor',
      verdict: (rt) => ratioVerdict(open?.runs, rt, (r) => (rssPerStream(r) ?? NaN) / 1024, 'KiB', 1.5, false),
    },
    {
      what: `micro-transaction p99 at ${turns} concurrent turns (scenario 4)`,
      asked: '< 20 ms',
      verdict: (rt) => {
        const figures = transactions?.byRuntime.find((f) => f.runtime === rt);
        if (!figures) return NOT_MEASURED;
        const p99 = figures.overall.p99Ms;
        return { measured: Number.isFinite(p99) ? `${num(p99, 1)} ms` : 'above the highest bucket', met: p99 < 20 };
      },
    },
    {
      what: '10,000 open streams held by one process (scenario 3)',
      asked: '10,000 held',
      verdict: (rt) => {
        const service = open?.runs.find((r) => r.runtime === rt && r.target === 'service');
        if (!open || !service) return NOT_MEASURED;
        const held = `${num(service.heldStreams)} held of ${num(open.streams)} sent`;
        if (service.heldStreams >= 10_000) return { measured: held, met: true };
        const why = [
          ...(open.requested < 10_000 ? [`${num(open.requested)} asked in this run`] : []),
          ...(open.fdCapacity < 10_000
            ? [`the open-files limit of ${num(results.machine.fdLimit.soft)} (two per stream) allows at most ${num(open.fdCapacity)}`]
            : []),
        ];
        return { measured: [held, ...why].join('; '), met: false };
      },
    },
  ];
}

export function renderTargets(results: Results): string {
  const runtimes = results.machine.runtimes;
  const mark = (met: boolean | null) => (met === null ? '—' : met ? '**met**' : 'not met');
  const header = ['target', 'asked', ...runtimes.flatMap((rt) => [`Node ${rt}: service`, `Node ${rt}`])];
  const rows = lines(results).map((line) => [
    line.what,
    line.asked,
    ...runtimes.flatMap((rt) => {
      const v = line.verdict(rt);
      return [v.measured, mark(v.met)];
    }),
  ]);
  return [
    'Against the bare floor of the same run, with the service storing every event (durable turns: `turn_events`) and the floors writing only their two INSERTs per turn. Ratios are of the medians over the rounds.',
    '',
    table(header, rows),
  ].join('\n');
}
