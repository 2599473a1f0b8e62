/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time,
 * then self time by package, so a glance says where a process spends its CPU. Idle time is left
 * out of the shares.
 *
 *   node dist/bench/top-functions.js <file.cpuprofile | folder (the newest profile under it)> [--top 20]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

/** `node_modules/@scope/pkg/...` → `@scope/pkg`; node internals by module; the project's own files by folder. */
function packageOf(url: string): string {
  if (!url) return '(native / V8)';
  // Node's own modules by area; the libraries it bundles (undici behind `fetch`) by name.
  const bundled = /^node:internal\/deps\/([^/.]+)/.exec(url);
  if (bundled) return `${bundled[1]} (bundled with node)`;
  if (url.startsWith('node:')) return /^node:(?:internal\/)?[^/]+/.exec(url)![0];
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inModules) return inModules[1];
  const own = /\/dist\/(src|bench)\/([^/]+)/.exec(url);
  return own ? `${own[1]}/${own[2]}` : url;
}

function shortUrl(url: string, line: number): string {
  if (!url) return '';
  const trimmed = url
    .replace(/^file:\/\//, '')
    .replace(/^.*node_modules\//, '')
    .replace(/^.*\/dist\//, 'dist/');
  return `${trimmed}:${line + 1}`;
}

/** A stretch of a profile, in µs of the monotonic clock (`process.hrtime` of any process on the machine: V8 stamps samples with it). */
export type Window = [startUs: number, endUs: number];

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  functions: SelfTime[];
  packages: SelfTime[];
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/** Self time by function and by package; with `windows`, of the samples inside them only (start-up and warm-up left out). */
export function summarizeProfile(profile: CpuProfile, top = 20, windows?: Window[]): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfById = new Map<number, number>();
  const inWindow = (t: number) => !windows || windows.some(([start, end]) => t >= start && t <= end);
  // timeDeltas[i] is the time between sample i-1 and i: it belongs to what sample i saw running.
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (!inWindow(t)) continue;
    selfById.set(profile.samples[i], (selfById.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let busyUs = 0;
  let idleUs = 0;
  const functions = new Map<string, SelfTime>();
  const packages = new Map<string, SelfTime>();
  for (const [id, us] of selfById) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    // Shares are of the time the process was doing something.
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const name = frame.functionName || '(anonymous)';
    const where = shortUrl(frame.url, frame.lineNumber);
    const key = `${name} ${where}`;
    const fn = functions.get(key) ?? { name, where, selfMs: 0, share: 0 };
    fn.selfMs += us / 1000;
    functions.set(key, fn);
    const pkgName = frame.url ? packageOf(frame.url) : name.startsWith('(') ? name : '(native / V8)';
    const pkg = packages.get(pkgName) ?? { name: pkgName, where: '', selfMs: 0, share: 0 };
    pkg.selfMs += us / 1000;
    packages.set(pkgName, pkg);
  }
  const rank = (items: Iterable<SelfTime>, n: number) =>
    [...items]
      .map((item) => ({ ...item, share: busyUs ? (item.selfMs * 1000) / busyUs : 0 }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, n);
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    functions: rank(functions.values(), top),
    packages: rank(packages.values(), Infinity),
  };
}

function profilesUnder(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return profilesUnder(path);
    return entry.name.endsWith('.cpuprofile') ? [path] : [];
  });
}

/** The file itself, or the newest `.cpuprofile` anywhere under a folder. */
export function newestProfile(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const profiles = profilesUnder(path).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (profiles.length === 0) throw new Error(`no .cpuprofile under ${path}`);
  return profiles[0];
}

export function formatSummary(file: string, top = 20): string {
  const summary = summarizeProfile(readProfile(file), top);
  const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`;
  const ms = (value: number) => `${value.toFixed(0).padStart(7)} ms`;
  return [
    `${file}: ${summary.busyMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle (shares below are of the busy time; start-up included)`,
    '',
    `Top ${top} functions by self time:`,
    ...summary.functions.map((f) => `${ms(f.selfMs)} ${pct(f.share)}  ${f.name}  ${f.where}`),
    '',
    'Self time by package:',
    ...summary.packages.slice(0, 25).map((p) => `${ms(p.selfMs)} ${pct(p.share)}  ${p.name}`),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '20' } } });
  if (positionals.length !== 1) {
    process.stderr.write('usage: node dist/bench/top-functions.js <file.cpuprofile | folder> [--top 20]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatSummary(newestProfile(positionals[0]), Number(values.top))}\n`);
}
