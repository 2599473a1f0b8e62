import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectMetric, makeGaugeProvider } from '@willsoto/nestjs-prometheus';
import pg from 'pg';
import type { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { DatabaseBreaker } from './database-breaker.js';

export const databaseActivityGauges = [
  makeGaugeProvider({
    name: 'db_oldest_transaction_seconds',
    help: "Age of the oldest open transaction on the service's database, of any client (read from PostgreSQL at scrape time)",
  }),
  makeGaugeProvider({
    name: 'db_longest_lock_wait_seconds',
    help: "Longest wait for a lock on the service's database, of any client (read from PostgreSQL at scrape time)",
  }),
  makeGaugeProvider({
    name: 'db_pool_connections',
    help: "The service's connection pool at scrape time: busy and idle connections, and requests waiting for one",
    labelNames: ['state'],
  }),
  makeGaugeProvider({ name: 'db_pool_max_connections', help: 'Size of the connection pool (DB_POOL_SIZE)' }),
];

// One round trip over the database's own sessions; the monitor's session is left out. The timeout
// is local to the transaction, so it holds on one server connection also through a pooler in
// transaction mode (several statements, no parameters: sent as one simple query).
const ACTIVITY_SQL = `
  BEGIN READ ONLY;
  SET LOCAL statement_timeout = 2000;
  SELECT
    coalesce(extract(epoch FROM max(now() - a.xact_start)), 0)::float8 AS oldest_transaction,
    coalesce(extract(epoch FROM (
      SELECT max(now() - l.waitstart) FROM pg_locks l
        JOIN pg_stat_activity w ON w.pid = l.pid
       WHERE NOT l.granted AND w.datname = current_database()
    )), 0)::float8 AS longest_lock_wait
  FROM pg_stat_activity a
  WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL;
  COMMIT`;

/** prom-client calls a metric's `collect` before each read; its types list it in the configuration only. */
type Collected = { collect?: () => Promise<void> | void };
const collected = (gauge: Gauge<string>) => gauge as unknown as Collected;

/** The pg pool behind TypeORM's postgres driver. */
interface PoolCounts {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

/**
 * Fills the database gauges when Prometheus scrapes. The activity query runs on a connection of its
 * own, outside the service's pool, so that a full pool cannot blind the gauges meant to explain it,
 * and with short timeouts so that a hung database cannot hang the scrape.
 */
@Injectable()
export class DatabaseActivity implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseActivity.name);
  private monitor?: pg.Pool;
  private reading?: Promise<void>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly breaker: DatabaseBreaker,
    @InjectMetric('db_oldest_transaction_seconds') private readonly oldestTransaction: Gauge<string>,
    @InjectMetric('db_longest_lock_wait_seconds') private readonly longestLockWait: Gauge<string>,
    @InjectMetric('db_pool_connections') private readonly poolConnections: Gauge<string>,
    @InjectMetric('db_pool_max_connections') private readonly poolMax: Gauge<string>,
  ) {}

  onModuleInit(): void {
    const options = this.dataSource.options as { url?: string; poolSize?: number };
    this.monitor = new pg.Pool({
      connectionString: options.url,
      max: 1,
      idleTimeoutMillis: 60_000,
      connectionTimeoutMillis: 2_000,
      // Client-side: a hung server cannot hang the scrape. The server-side bound is set in the query,
      // because PgBouncer refuses `statement_timeout` as a connection parameter.
      query_timeout: 2_500,
      application_name: 'agent-runtime-monitor',
    });
    this.monitor.on('error', () => undefined); // an idle monitor connection that drops is simply replaced
    this.poolMax.set(options.poolSize ?? 10);
    // The metrics are shared by every app of the process (tests start several): the latest one reads them.
    collected(this.oldestTransaction).collect = () => this.read();
    collected(this.longestLockWait).collect = () => this.read();
    collected(this.poolConnections).collect = () => this.readPool();
  }

  async onApplicationShutdown(): Promise<void> {
    collected(this.oldestTransaction).collect = undefined;
    collected(this.longestLockWait).collect = undefined;
    collected(this.poolConnections).collect = undefined;
    await this.monitor?.end().catch(() => undefined);
  }

  private readPool(): void {
    const pool = (this.dataSource.driver as unknown as { master?: PoolCounts }).master;
    if (!pool) return;
    this.poolConnections.set({ state: 'busy' }, pool.totalCount - pool.idleCount);
    this.poolConnections.set({ state: 'idle' }, pool.idleCount);
    this.poolConnections.set({ state: 'waiting' }, pool.waitingCount);
  }

  /** Both activity gauges come from one query; concurrent scrapes share it. */
  private read(): Promise<void> {
    this.reading ??= this.query().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async query(): Promise<void> {
    try {
      if (this.breaker.isOpen) throw new Error('database circuit breaker open');
      const results = (await this.monitor!.query(ACTIVITY_SQL)) as unknown as pg.QueryResult[];
      const rows = results[2].rows as Array<{ oldest_transaction: number; longest_lock_wait: number }>;
      this.oldestTransaction.set(rows[0].oldest_transaction);
      this.longestLockWait.set(rows[0].longest_lock_wait);
    } catch (error) {
      // An unreadable value is left out rather than reported stale; ServiceDown and readiness tell the rest.
      this.oldestTransaction.reset();
      this.longestLockWait.reset();
      this.logger.debug({ msg: 'database activity not read', error: (error as Error).message });
    }
  }
}
