import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectMetric, makeGaugeProvider } from '@willsoto/nestjs-prometheus';
import { BrokenCircuitError, circuitBreaker, CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, handleWhen } from 'cockatiel';
import type { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { Settings } from '../config/settings.js';
import { isConnectionError } from '../unit-of-work/transaction-errors.js';

export const databaseCircuitGauge = makeGaugeProvider({
  name: 'db_circuit_state',
  help: 'Circuit breaker in front of the database: 0 closed, 1 half-open (probing), 2 open (requests answered 503 at once)',
});

/**
 * Refused while the breaker is open. Its code is PostgreSQL's `cannot_connect_now`, so that every
 * place that knows a connection error (the 503 filter, the turn's `database_unavailable`) knows it.
 */
export class DatabaseUnavailableError extends Error {
  readonly code = '57P03';
  constructor() {
    super('the database is unavailable (circuit breaker open); retry shortly');
  }
}

/** A full pool's wait for a connection times out with this message: load, not a sick database. */
const POOL_WAIT_TIMEOUT = /timeout exceeded when trying to connect/i;

type Release = (error?: Error | boolean) => void;
type ConnectCallback = (error: Error | undefined, client?: { release: Release }, release?: Release) => void;
interface Pool {
  connect(callback?: ConnectCallback): Promise<{ release: Release }> | void;
}

/**
 * The database's circuit breaker. Every connection the service takes goes through it: after
 * DB_BREAKER_THRESHOLD consecutive connection failures or connect timeouts it opens, and every
 * request that needs the database fails at once (503 `database_unavailable`, readiness down)
 * instead of waiting for a dead or hung server. After DB_BREAKER_COOLDOWN_MS the next connection
 * is let through as a probe (readiness probes even without traffic); the first that succeeds closes it.
 */
@Injectable()
export class DatabaseBreaker implements OnModuleInit {
  private readonly logger = new Logger(DatabaseBreaker.name);
  private readonly policy: CircuitBreakerPolicy;

  constructor(
    settings: Settings,
    private readonly dataSource: DataSource,
    @InjectMetric('db_circuit_state') private readonly gauge: Gauge<string>,
  ) {
    this.policy = circuitBreaker(
      handleWhen((error) => isConnectionError(error) && !POOL_WAIT_TIMEOUT.test((error as Error)?.message ?? '')),
      { halfOpenAfter: settings.DB_BREAKER_COOLDOWN_MS, breaker: new ConsecutiveBreaker(settings.DB_BREAKER_THRESHOLD) },
    );
    this.gauge.set(0);
    this.policy.onStateChange((state) => {
      this.gauge.set(state === CircuitState.Open ? 2 : state === CircuitState.HalfOpen ? 1 : 0);
      const log = state === CircuitState.Closed ? 'log' : 'warn';
      this.logger[log]({ msg: 'database circuit breaker changed state', state: CircuitState[state] });
    });
  }

  /** Open: requests are refused without trying the database. */
  get isOpen(): boolean {
    return this.policy.state === CircuitState.Open;
  }

  /** Puts the breaker in front of the pool's `connect`, in both its promise and callback forms (TypeORM uses the latter). */
  onModuleInit(): void {
    const pool = (this.dataSource.driver as unknown as { master?: Pool }).master;
    if (!pool) throw new Error('the database breaker needs the postgres driver pool');
    const connect = pool.connect.bind(pool) as () => Promise<{ release: Release }>;
    const guarded = () =>
      this.policy
        .execute(() => connect())
        .catch((error: unknown) => {
          throw error instanceof BrokenCircuitError ? new DatabaseUnavailableError() : error;
        });
    pool.connect = (callback?: ConnectCallback) => {
      const client = guarded();
      if (!callback) return client;
      client.then(
        (c) => callback(undefined, c, c.release.bind(c)),
        (error: Error) => callback(error),
      );
    };
  }
}
