/**
 * `--profile`: every server runs under `node --cpu-prof`; the runner notes when each one's measured
 * rounds ran (the profile's sample times and `process.hrtime` share the monotonic clock) and what
 * they served, and reads the profile over those stretches only, once the server has exited.
 */
import { join, relative } from 'node:path';
import type { Runtime } from './node-runtimes.js';
import type { NodeChild } from './processes.js';
import { TARGET_LABELS, type TargetName } from './report-format.js';
import type { ProfileFigures } from './report-profiles.js';
import type { Target } from './servers.js';
import type { ResumeResult, TurnsResult } from './shared.js';
import { formatSummary, newestProfile, readProfile, summarizeProfile, type Window } from './top-functions.js';

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

export class Profiler {
  readonly figures: ProfileFigures[] = [];
  private readonly served = new Map<NodeChild, { windows: Window[]; turns: number; tokens: number }>();

  /** `root` null: not profiling (then only `timed` does anything, and cheaply). */
  constructor(
    private readonly root: string | null,
    private readonly progress: (message: string) => void,
  ) {}

  private dir(label: string, target: TargetName, runtime: Runtime): string {
    return join(this.root ?? '', label, runtime.version, target);
  }

  /** The flags that make a server write its CPU profile when it exits. */
  flags(label: string, target: TargetName, runtime: Runtime): string[] {
    return this.root ? ['--cpu-prof', `--cpu-prof-dir=${this.dir(label, target, runtime)}`] : [];
  }

  /** Runs `measure` and notes when it ran and what it served. */
  async timed<T extends TurnsResult | ResumeResult>(target: Target, measure: () => Promise<T>): Promise<T> {
    const startUs = nowUs();
    const result = await measure();
    const served = this.served.get(target.child) ?? { windows: [], turns: 0, tokens: 0 };
    served.windows.push([startUs, nowUs()]);
    if ('streams' in result) {
      served.turns += result.streams;
      served.tokens += result.tokensBeforeCut + result.tokensAfterCut;
    } else {
      served.turns += result.turns - result.notStarted;
      served.tokens += result.tokensDelivered;
    }
    this.served.set(target.child, served);
    return result;
  }

  /** Summarises a stopped server's profile over its measured rounds, for the report (and the service's on the console). */
  summarise(label: string, target: Target): void {
    if (!this.root) return;
    const file = newestProfile(this.dir(label, target.name, target.runtime));
    const served = this.served.get(target.child);
    this.progress(
      `${TARGET_LABELS[target.name]} (Node ${target.runtime.version}) CPU profile of ${label}: ${relative(process.cwd(), file)}`,
    );
    if (!served) return;
    const summary = summarizeProfile(readProfile(file), 30, served.windows);
    this.figures.push({
      scenario: label,
      runtime: target.runtime.version,
      target: target.name,
      busyMs: summary.busyMs,
      turns: served.turns,
      tokens: served.tokens,
      functions: summary.functions,
      packages: summary.packages,
    });
    if (target.name === 'service') process.stdout.write(`${formatSummary(file)}\n`);
  }
}
