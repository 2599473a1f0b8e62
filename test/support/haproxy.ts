import { findFreePort } from '../../src/database/embedded-postgres.js';
import { configFolder, ExternalProcess, runExternal } from './external-process.js';
import { eventually } from './sse.js';

export interface HaProxy {
  baseUrl: string;
  process: ExternalProcess;
  stop(): Promise<void>;
}

/**
 * Debian's HAProxy spreading HTTP requests round-robin over `backends` (`http://host:port`), set up
 * for event streams as docs/deployment.md says: long client, server and tunnel timeouts, responses
 * forwarded as they come. A backend leaves the rotation when its readiness check fails; a request
 * whose connection fails, or that a stopping instance refuses with 503 before doing anything, is
 * sent to another backend.
 */
export async function startHaProxy(backends: string[]): Promise<HaProxy> {
  const port = await findFreePort();
  const cfg = [
    'global',
    '  maxconn 4000',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout tunnel 1h',
    '  timeout http-request 10s',
    // A loaded instance answers its readiness check slowly (it goes through the pool): not down for that.
    '  timeout check 3s',
    '  option http-no-delay',
    '  retries 3',
    '  option redispatch 1',
    '  retry-on conn-failure empty-response 503',
    'frontend api',
    `  bind 127.0.0.1:${port}`,
    '  default_backend instances',
    'backend instances',
    '  balance roundrobin',
    '  option httpchk GET /health/ready',
    ...backends.map((url, i) => {
      const { hostname, port: p } = new URL(url);
      return `  server i${i} ${hostname}:${p} check inter 500ms fall 2 rise 1`;
    }),
    '',
  ].join('\n');
  const folder = configFolder('haproxy', { 'haproxy.cfg': cfg });
  const proc = runExternal('haproxy', ['-db', '-f', `${folder}/haproxy.cfg`], folder);
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await eventually(async () => (await fetch(`${baseUrl}/health/ready`).catch(() => undefined))?.status === 200, 10_000);
  } catch {
    await proc.stop();
    throw new Error(`haproxy did not start:\n${proc.output()}`);
  }
  return { baseUrl, process: proc, stop: proc.stop };
}
