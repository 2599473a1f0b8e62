import { execFileSync } from 'node:child_process';
import { findFreePort } from '../../src/database/embedded-postgres.js';
import { HaProxy, startHaProxy } from './haproxy.js';
import { PgBouncer, startPgBouncer } from './pgbouncer.js';
import { ServiceProcess, spawnService } from './service-process.js';

const installed = (program: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Cluster specs skip only when Debian's pgbouncer or haproxy is missing (`.ci/run` installs both). */
export const WITHOUT_CLUSTER_PROGRAMS =
  installed('pgbouncer') && installed('haproxy')
    ? false
    : 'pgbouncer or haproxy is not installed (apt-get install pgbouncer haproxy): cluster specs skipped';

export interface Instance {
  port: number;
  baseUrl: string;
  process: ServiceProcess;
}

export interface ClusterOptions {
  /** The database, straight on PostgreSQL; the instances reach it through PgBouncer. */
  databaseUrl: string;
  env: Record<string, string>;
  instances?: number;
  /** PgBouncer's server connections for the database. */
  serverPoolSize?: number;
}

/**
 * Real processes as an operator deploys them: N service instances, each with DATABASE_URL through
 * PgBouncer (transaction pooling) and DATABASE_LISTEN_URL straight to PostgreSQL, behind HAProxy.
 * The first instance starts alone so that it alone runs the migrations.
 */
export class Cluster {
  readonly instances: Instance[] = [];
  pgbouncer!: PgBouncer;
  haproxy!: HaProxy;

  private constructor(private readonly options: ClusterOptions) {}

  static async start(options: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster(options);
    try {
      cluster.pgbouncer = await startPgBouncer(options.databaseUrl, options.serverPoolSize);
      const count = options.instances ?? 3;
      cluster.instances.push(await cluster.spawn(await findFreePort()));
      const rest = await Promise.all(Array.from({ length: count - 1 }, async () => cluster.spawn(await findFreePort())));
      cluster.instances.push(...rest);
      cluster.haproxy = await startHaProxy(cluster.instances.map((i) => i.baseUrl));
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  /** The load balancer's address: what clients use. */
  get baseUrl(): string {
    return this.haproxy.baseUrl;
  }

  /** Kills instance `i` (SIGKILL: no goodbye) and waits for it to be gone. */
  async kill(i: number): Promise<void> {
    this.instances[i].process.child.kill('SIGKILL');
    await this.instances[i].process.exited;
  }

  /** Stops instance `i` gracefully (SIGTERM), then starts it again on the same port, behind the same balancer. */
  async restart(i: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; logs: string }> {
    const old = this.instances[i];
    old.process.child.kill('SIGTERM');
    const exit = await old.process.exited;
    this.instances[i] = await this.spawn(old.port);
    return { ...exit, logs: old.process.logs() };
  }

  async close(): Promise<void> {
    await this.haproxy?.stop();
    await Promise.all(
      this.instances.map(async ({ process }) => {
        if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGKILL');
        await process.exited;
      }),
    );
    await this.pgbouncer?.stop();
  }

  private async spawn(port: number): Promise<Instance> {
    const env = {
      // Instances behind one balancer share their rate limits, as docs/deployment.md asks.
      RATE_LIMIT_STORE: 'database',
      ...this.options.env,
      DATABASE_URL: this.pgbouncer.urlOf(this.options.databaseUrl),
      DATABASE_LISTEN_URL: this.options.databaseUrl,
    };
    const process = await spawnService(env, port);
    return { port, baseUrl: process.baseUrl, process };
  }
}
