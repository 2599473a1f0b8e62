/** Child processes of the benchmark: started with a raised file-descriptor limit, logged to files, always stopped. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Raise the open-files limit as far as allowed: 65536, or the hard limit when this machine caps it lower. */
const RAISE_FD_LIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"';

const running = new Set<ChildProcess>();

/** The open-files limit a child gets, and the hard limit that capped it. */
export function childFdLimit(): { soft: number; hard: number } {
  const [soft, hard] = execFileSync('bash', ['-c', `${RAISE_FD_LIMIT}; ulimit -n; ulimit -Hn`], { encoding: 'utf8' })
    .trim()
    .split('\n');
  return { soft: Number(soft), hard: hard === 'unlimited' ? Infinity : Number(hard) };
}

export interface NodeChild {
  name: string;
  process: ChildProcess;
  logFile: string;
  /** Resident memory of the node process, in bytes. */
  rssBytes(): number;
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL when it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * `node <args>` through `bash -c 'ulimit … && exec node …'`: exec keeps the pid, so the pid is
 * the node process itself (its memory is what is read).
 */
export function startNode(
  name: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; logDir: string; ipc?: boolean; cwd?: string; node?: string },
): NodeChild {
  const logFile = join(options.logDir, `${name}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn('bash', ['-c', `${RAISE_FD_LIMIT} && exec "$0" "$@"`, options.node ?? process.execPath, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', log, log, ...(options.ipc ? (['ipc'] as const) : [])],
  });
  closeSync(log);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => running.delete(child));
  return {
    name,
    process: child,
    logFile,
    rssBytes() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status);
      return kb ? Number(kb[1]) * 1024 : NaN;
    },
    logTail(lines = 30) {
      return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
    },
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Last resort when the runner dies: no child outlives it. */
export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Polls `url` until it answers 2xx; fails early with the child's log when the child exits. */
export async function waitForHttp(url: string, child: NodeChild, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw new Error(`${child.name} exited before it was ready:\n${child.logTail()}`);
    }
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${child.name} was not ready at ${url} after ${timeoutMs} ms:\n${child.logTail()}`);
}
