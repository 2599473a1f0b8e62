/**
 * `npm run test:mutants`: each deliberate bug of mutants.ts is put into a scratch copy of the
 * project, one at a time, and the specs named for it are run there. A mutant the specs let through
 * (or one that no longer applies because the code moved) fails the run.
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

function run(command: string, args: string[], cwd: string): number {
  // A hang is caught too: test/run.ts gives each test a timeout; this one is the last resort.
  const result = spawnSync(command, args, { cwd, env: process.env, stdio: ['ignore', 'ignore', 'ignore'], timeout: 20 * 60_000 });
  return result.status ?? 1;
}

function tryMutant(scratch: string, mutant: Mutant): Verdict {
  const path = join(scratch, mutant.file);
  const original = readFileSync(path, 'utf8');
  if (original.split(mutant.find).length !== 2) return 'does not apply';
  writeFileSync(
    path,
    original.replace(mutant.find, () => mutant.replace),
  );
  try {
    if (run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], scratch) !== 0) {
      return 'does not compile';
    }
    return run(process.execPath, ['dist/test/run.js', ...mutant.specs], scratch) === 0 ? 'survived' : 'caught';
  } finally {
    writeFileSync(path, original);
  }
}

function main(): number {
  const only = process.argv.slice(2);
  const scratch = mkdtempSync(join(tmpdir(), 'agent-runtime-mutants-'));
  try {
    for (const entry of COPIED) cpSync(join(root, entry), join(scratch, entry), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
    const results: Array<[Mutant, Verdict]> = [];
    for (const mutant of mutants.filter((m) => only.length === 0 || only.includes(m.name))) {
      const verdict = tryMutant(scratch, mutant);
      process.stdout.write(`${verdict === 'caught' ? 'ok  ' : 'FAIL'} ${mutant.name}: ${verdict} (${mutant.specs.join(', ')})\n`);
      results.push([mutant, verdict]);
    }
    const failed = results.filter(([, verdict]) => verdict !== 'caught');
    process.stdout.write(`\n${results.length - failed.length} of ${results.length} mutants caught\n`);
    for (const [mutant, verdict] of failed) process.stdout.write(`- ${mutant.name} ${verdict}: ${mutant.claim}\n`);
    return failed.length === 0 ? 0 : 1;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

process.exit(main());
