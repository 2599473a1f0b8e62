import { findFreePort } from '../../src/database/embedded-postgres.js';
import { eventually } from './sse.js';
import { configFolder, ExternalProcess, runExternal } from './external-process.js';
import pg from 'pg';

export interface PgBouncer {
  /** `serverUrl` with its host and port replaced by the pooler's. */
  urlOf(serverUrl: string): string;
  /** The admin console's `SHOW POOLS` etc. */
  admin(command: string): Promise<Array<Record<string, unknown>>>;
  process: ExternalProcess;
  stop(): Promise<void>;
}

/**
 * Debian's PgBouncer in transaction pooling mode in front of the server of `serverUrl`, on a free
 * port, for every database of that server, with at most `poolSize` server connections per database.
 * As root it runs as `postgres` (`-u`): it refuses to run as root.
 */
export async function startPgBouncer(serverUrl: string, poolSize = 20): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const password = decodeURIComponent(server.password);
  const port = await findFreePort();
  const ini = [
    '[databases]',
    `* = host=${server.hostname} port=${server.port || 5432} user=${user}${password ? ` password=${password}` : ''}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    'auth_file = users.txt',
    `admin_users = ${user}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    'max_client_conn = 2000',
    // node-postgres sends it on connect; PgBouncer would refuse the connection otherwise.
    'ignore_startup_parameters = extra_float_digits',
    'server_reset_query =',
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n');
  const folder = configFolder('pgbouncer', { 'pgbouncer.ini': ini, 'users.txt': `"${user}" ""\n` });
  const asRoot = process.getuid?.() === 0;
  const proc = runExternal('pgbouncer', [...(asRoot ? ['-u', 'postgres'] : []), `${folder}/pgbouncer.ini`], folder);
  const urlOf = (url: string) => {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    return u.toString();
  };
  const admin = async (command: string) => {
    const client = new pg.Client({ connectionString: urlOf(`postgres://${user}@x/pgbouncer`) });
    await client.connect();
    try {
      return (await client.query({ text: command, queryMode: 'simple' } as pg.QueryConfig)).rows;
    } finally {
      await client.end();
    }
  };
  try {
    await eventually(async () => (await admin('SHOW VERSION').catch(() => undefined)) !== undefined, 10_000);
  } catch {
    await proc.stop();
    throw new Error(`pgbouncer did not start:\n${proc.output()}`);
  }
  return { urlOf, admin, process: proc, stop: proc.stop };
}
