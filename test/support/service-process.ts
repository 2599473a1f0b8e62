import { ChildProcess, spawn } from 'node:child_process';
import { findFreePort } from '../../src/database/embedded-postgres.js';
import { eventually } from './sse.js';

export interface ServiceProcess {
  child: ChildProcess;
  baseUrl: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last 20 kB of its stderr (read all along, so a chatty process never blocks on a full pipe). */
  logs: () => string;
}

/** The built service as a child process, as an operator runs it; resolves once it is ready. */
/** `port` reuses a known port (an instance restarted behind a load balancer); a free one by default. */
export async function spawnService(env: Record<string, string>, port?: number): Promise<ServiceProcess> {
  port ??= await findFreePort();
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let logs = '';
  child.stderr!.on('data', (chunk: Buffer) => (logs = (logs + chunk.toString()).slice(-20_000)));
  const baseUrl = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${baseUrl}/health/ready`).catch(() => undefined))?.status === 200, 20_000);
  return { child, baseUrl, exited, logs: () => logs };
}
