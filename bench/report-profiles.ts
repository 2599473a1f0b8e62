/**
 * `--profile`: where each server spent its CPU during a scenario's measured rounds (start-up and
 * warm-up left out), per turn — or per 1,000 tokens in scenario 1 — so the service's extra cost
 * over the bare floor shows by package and by function.
 */
import { TARGETS, TARGET_LABELS, num, perRuntime, table, type TargetName } from './report-format.js';
import type { SelfTime } from './top-functions.js';

export interface ProfileFigures {
  /** The scenario's label (`throughput`, `concurrency`, …). */
  scenario: string;
  runtime: string;
  target: TargetName;
  /** Inside the measured rounds. */
  busyMs: number;
  turns: number;
  tokens: number;
  /** The top functions by self time. */
  functions: SelfTime[];
  /** Every package by self time. */
  packages: SelfTime[];
}

const TOP_PACKAGES = 14;
const TOP_FUNCTIONS = 15;

/** Scenario 1 streams 2,000 tokens a turn: its cost is per token; the others' per turn. */
function unitOf(profile: ProfileFigures): { name: string; count: number } {
  return profile.scenario === 'throughput'
    ? { name: '1,000 tokens', count: profile.tokens / 1000 }
    : { name: 'turn', count: profile.turns };
}

function renderScenario(profiles: ProfileFigures[]): string {
  const of = (t: TargetName) => profiles.find((p) => p.target === t);
  const service = of('service');
  const bare = of('bare');
  if (!service) return 'No profile of the service.';
  const unit = unitOf(service);
  const per = (p: ProfileFigures | undefined, selfMs: number | undefined) =>
    p && selfMs !== undefined ? selfMs / unitOf(p).count : undefined;
  const packageMs = (p: ProfileFigures | undefined, name: string) => per(p, p?.packages.find((x) => x.name === name)?.selfMs ?? 0);
  const names = [
    ...new Set([...service.packages.slice(0, TOP_PACKAGES).map((p) => p.name), ...(bare?.packages.slice(0, 5).map((p) => p.name) ?? [])]),
  ];
  const cell = (v: number | undefined) => (v === undefined ? '—' : num(v, v < 10 ? 2 : 1));
  const diff = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? '—' : `${a >= b ? '+' : ''}${cell(a - b)}`;
  const totals = TARGETS.map((t) => per(of(t), of(t)?.busyMs));
  const packageRows = [
    ['**busy, all**', ...totals.map(cell), diff(totals[0], totals[2])],
    ...names.map((name) => {
      const values = TARGETS.map((t) => packageMs(of(t), name));
      return [`\`${name}\``, ...values.map(cell), diff(values[0], values[2])];
    }),
  ];
  const functionRows = service.functions
    .slice(0, TOP_FUNCTIONS)
    .map((f) => [`\`${f.name}\``, f.where ? `\`${f.where}\`` : '—', cell(f.selfMs / unit.count), `${(f.share * 100).toFixed(1)} %`]);
  return [
    `CPU ms per ${unit.name} in the measured rounds (${num(service.turns)} turns, ${num(service.tokens)} tokens for the service), self time by package:`,
    '',
    table(['package', ...TARGETS.map((t) => TARGET_LABELS[t]), 'service − bare'], packageRows),
    '',
    `The service's top ${TOP_FUNCTIONS} functions by self time:`,
    '',
    table(['function', 'where', `ms per ${unit.name}`, 'share of busy'], functionRows),
  ].join('\n');
}

export function renderProfiles(profiles: ProfileFigures[], runtimes: string[]): string {
  const scenarios = [...new Set(profiles.map((p) => p.scenario))];
  return [
    'Every server ran under `node --cpu-prof` (a little slower than without). Only samples inside the measured rounds count (the profile and the runner share the monotonic clock), so start-up and warm-up are left out. Node’s own modules are grouped by area, the libraries it bundles (undici behind `fetch`) by name; `(garbage collector)` and `(program)` are V8’s.',
    ...scenarios.map((scenario) => {
      const ofScenario = profiles.filter((p) => p.scenario === scenario);
      return `\n#### ${scenario}\n\n${perRuntime(ofScenario, runtimes, (runs) => renderScenario(runs))}`;
    }),
  ].join('\n');
}
