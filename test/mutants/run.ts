/**
 * `npm run test:mutants [-- name …]`: each deliberate bug of mutants.ts (or only those named) is put
 * into a scratch copy of the project, one at a time, and the specs named for it are run there. A
 * mutant the specs let through (or one that no longer applies because the code moved) fails the run.
 * The specs are first run once on the unmutated copy: if they fail there, every mutant would look
 * caught, so the run stops. Each caught mutant is reported with the tests that failed, so that a
 * "caught" can be checked (a test failing for an unrelated reason catches nothing).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Mutant, mutants } from './mutants.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const COPIED = ['src', 'test', 'bench', 'scripts', 'migrations', 'ormconfig.ts', 'tsconfig.json', 'package.json', 'monitoring', 'docs'];

type Verdict = 'caught' | 'survived' | 'does not apply' | 'does not compile';

interface Outcome {
  verdict: Verdict;
  /** The tests that failed, as `file: test name`, and the first line of each failure. */
  failures: string[];
}

interface Ran {
  status: number;
  output: string;
}

function run(command: string, args: string[], cwd: string): Ran {
  // A hang is caught too: test/run.ts gives each test a timeout; this one is the last resort.
  const result = spawnSync(command, args, {
    cwd,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 20 * 60_000,
  });
  return { status: result.status ?? 1, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/**
 * The failing tests of a spec-reporter run: the `✖ name (…ms)` lines of its "failing tests" summary,
 * each after a `test at <file>:line:col` line, with the first line of the error below it.
 */
function failingTests(output: string): string[] {
  const lines = output.split('\n');
  const start = lines.findIndex((line) => /^✖ failing tests:/.test(line.trim()));
  if (start < 0) return [];
  const failures: string[] = [];
  let file = '';
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i].trim();
    const at = /^test at (?:.*\/)?([^/]+?)\.js:\d+:\d+$/.exec(line);
    if (at) file = at[1];
    const failed = /^✖ (.+?) \([\d.]+m?s\)$/.exec(line);
    if (!failed) continue;
    const next = lines.slice(i + 1).findIndex((l) => /^(?:✖ |test at )/.test(l.trim()));
    const details = lines
      .slice(i + 1, next < 0 ? undefined : i + 1 + next)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('at '));
    // An expect() failure says what it wanted on the lines after its message, or as a diff.
    const expected = details.find((l) => l.startsWith('Expected:'));
    const received = details.find((l) => l.startsWith('Received:'));
    const diffHeader = /^[-+] (?:Expected|Received)\b/;
    // The first changed line that holds a value (not only `Object {` or a bracket).
    const changed = (sign: string) => details.find((l) => l.startsWith(sign) && !diffHeader.test(l) && /["'\d]|true|false|null/.test(l));
    const removed = changed('-');
    const added = changed('+');
    const reason =
      expected && received ? `${expected}, ${received}` : removed || added ? [removed, added].filter(Boolean).join(' ') : details[0];
    failures.push(`${file ? `${file}: ` : ''}${failed[1]}${reason ? ` — ${reason.replace(/\s+/g, ' ').slice(0, 160)}` : ''}`);
  }
  return [...new Set(failures)];
}

function compile(scratch: string): Ran {
  return run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], scratch);
}

function runSpecs(scratch: string, specs: string[]): Ran {
  return run(process.execPath, ['dist/test/run.js', ...specs], scratch);
}

function tryMutant(scratch: string, mutant: Mutant): Outcome {
  const path = join(scratch, mutant.file);
  const original = readFileSync(path, 'utf8');
  let mutated = original;
  for (const edit of [mutant, ...(mutant.also ?? [])]) {
    if (mutated.split(edit.find).length !== 2) return { verdict: 'does not apply', failures: [] };
    mutated = mutated.replace(edit.find, () => edit.replace);
  }
  writeFileSync(path, mutated);
  try {
    if (compile(scratch).status !== 0) return { verdict: 'does not compile', failures: [] };
    const ran = runSpecs(scratch, mutant.specs);
    if (ran.status === 0) return { verdict: 'survived', failures: [] };
    const failures = failingTests(ran.output);
    return { verdict: 'caught', failures: failures.length ? failures : [`no failing test named (exit code ${ran.status})`] };
  } finally {
    writeFileSync(path, original);
  }
}

function main(): number {
  const only = process.argv.slice(2);
  const unknown = only.filter((name) => !mutants.some((m) => m.name === name));
  if (unknown.length) {
    process.stdout.write(`No mutant named ${unknown.join(', ')}; the list: ${mutants.map((m) => m.name).join(', ')}\n`);
    return 2;
  }
  const chosen = mutants.filter((m) => only.length === 0 || only.includes(m.name));
  const scratch = mkdtempSync(join(tmpdir(), 'agent-runtime-mutants-'));
  try {
    for (const entry of COPIED) cpSync(join(root, entry), join(scratch, entry), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));

    // The specs must pass as they are, or a mutant's failing run proves nothing.
    const specs = [...new Set(chosen.flatMap((m) => m.specs))];
    process.stdout.write(`Unmutated first: ${specs.join(', ')}\n`);
    const built = compile(scratch);
    if (built.status !== 0) {
      process.stdout.write(`The unmutated project does not compile; fix it first.\n${built.output}`);
      return 1;
    }
    const baseline = runSpecs(scratch, specs);
    if (baseline.status !== 0) {
      const failures = failingTests(baseline.output);
      process.stdout.write(
        `The specs fail without any mutant (exit code ${baseline.status}), so no mutant could be judged; fix them first:\n` +
          (failures.length ? failures : ['(no failing test named: see `npm test -- ' + specs.join(' ') + '`)'])
            .map((f) => `  ✖ ${f}\n`)
            .join(''),
      );
      return 1;
    }
    process.stdout.write('  they pass\n\n');

    const results: Array<[Mutant, Outcome]> = [];
    for (const mutant of chosen) {
      const started = Date.now();
      const outcome = tryMutant(scratch, mutant);
      const seconds = Math.round((Date.now() - started) / 1000);
      process.stdout.write(
        `${outcome.verdict === 'caught' ? 'ok  ' : 'FAIL'} ${mutant.name}: ${outcome.verdict} (${mutant.specs.join(', ')}; ${seconds} s)\n` +
          outcome.failures.map((f) => `       ✖ ${f}\n`).join(''),
      );
      results.push([mutant, outcome]);
    }
    const failed = results.filter(([, outcome]) => outcome.verdict !== 'caught');
    process.stdout.write(`\n${results.length - failed.length} of ${results.length} mutants caught\n`);
    for (const [mutant, outcome] of failed) process.stdout.write(`- ${mutant.name} ${outcome.verdict}: ${mutant.claim}\n`);
    return failed.length === 0 ? 0 : 1;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

process.exit(main());
