import { Logger } from '@nestjs/common';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { randomUUID } from 'node:crypto';
import type { Counter, Histogram } from 'prom-client';
import { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { DatabaseUnavailableError } from '../database/database-breaker.js';
import { NoUnitOfWorkError, rollbackReason, StreamEndedError } from './transaction-errors.js';

export type UnitOfWorkOutcome = 'completed' | 'error' | 'unsubscribed';

export interface TransactionMetrics {
  duration: Histogram<string>;
  poolWait: Histogram<string>;
  commits: Counter<string>;
  rollbacks: Counter<string>;
  retries: Counter<string>;
}

export interface UnitOfWorkOptions {
  slowTransactionMs: number;
  maxAttempts: number;
  /** Background work (sweeps, lease renewal) reports its end at debug level, streams at info. */
  background: boolean;
}

/** Failures of attempts whose writes never reached the server: running them again cannot write twice. */
const unsent = new WeakSet<object>();

/**
 * Whether running the block again is safe and worth it. The server rolled back a serialization
 * failure or a deadlock itself. A lost connection is retried only when it was lost before the
 * write could commit: while connecting, or inside a transaction before its COMMIT was sent. A
 * single statement or a COMMIT cut off after it was sent may have committed with only the reply
 * lost; running it again could write twice, so it fails instead. An open breaker fails at once.
 */
function isRetryable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return false;
  const reason = rollbackReason(error);
  if (reason === 'serialization_failure' || reason === 'deadlock') return true;
  return reason === 'connection_error' && typeof error === 'object' && error !== null && unsent.has(error);
}

/**
 * The database work of one stream (or one REST request). It lives exactly as long as the stream,
 * and commits in short, named micro-transactions: each takes a pooled connection when it starts and
 * gives it back when it commits or rolls back, so nothing is held while the LLM is awaited.
 */
export class UnitOfWork {
  readonly id = randomUUID();
  private readonly controller = new AbortController();
  private readonly inFlight = new Set<{ operation: string; doomed: boolean }>();
  private readonly kept = new Set<Promise<unknown>>();
  private state: 'open' | 'closing' | 'closed' = 'open';
  private outlivesClient = false;
  private committed = 0;
  private rolledBack = 0;
  private readonly startedAt = performance.now();

  constructor(
    readonly name: string,
    private readonly dataSource: DataSource,
    private readonly metrics: TransactionMetrics,
    private readonly logger: Logger,
    private readonly options: UnitOfWorkOptions,
  ) {}

  /** Aborted when the stream ends before it completed (the client left, or it failed). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get commitCount(): number {
    return this.committed;
  }

  /**
   * Runs `work` in its own transaction on a pooled connection, named `operation` in metrics and
   * logs. Transient failures (serialization, deadlock, a connection lost before COMMIT) run it again, with backoff.
   */
  async transaction<T>(operation: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.state === 'closed') throw new NoUnitOfWorkError(`transaction "${operation}" after its Unit of Work ended`);
    return this.withRetries(operation, () => this.attempt(operation, work, true));
  }

  /**
   * A micro-transaction of exactly one SQL statement, which PostgreSQL runs atomically on its own:
   * the same naming and metrics as `transaction()`, without the BEGIN and COMMIT round trips.
   * The statement commits when it returns, so it cannot be rolled back when the stream ends after it,
   * and a connection lost once it was sent is not retried (it may have committed).
   */
  async statement<T>(operation: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.state === 'closed') throw new NoUnitOfWorkError(`statement "${operation}" after its Unit of Work ended`);
    return this.withRetries(operation, () => this.attempt(operation, work, false));
  }

  private withRetries<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const policy = retry(handleWhen(isRetryable), {
      maxAttempts: this.options.maxAttempts - 1,
      backoff: new ExponentialBackoff({ initialDelay: 20, maxDelay: 500 }),
    });
    policy.onRetry((failure) => {
      if ('error' in failure) this.metrics.retries.inc({ operation, reason: rollbackReason(failure.error) });
    });
    return policy.execute(run);
  }

  /**
   * Work that must finish before the Unit of Work closes even if the stream has ended, such as
   * saving a partial answer after the client left. It may still run micro-transactions.
   */
  keepOpenUntil<T>(work: Promise<T>): Promise<T> {
    this.kept.add(work);
    void work.finally(() => this.kept.delete(work)).catch(() => undefined);
    return work;
  }

  /** The client may leave without stopping the work (a turn with `onDisconnect: continue`): an unsubscribe then waits for the kept work. */
  outliveClient(): void {
    this.outlivesClient = true;
  }

  /**
   * Ends the Unit of Work. Completed: the work under way commits. Error or unsubscribed: the
   * signal aborts and micro-transactions under way roll back; then the kept work finishes. Unsubscribed
   * from a Unit of Work that outlives its client: nothing aborts, and the kept work runs to its end.
   */
  async end(outcome: UnitOfWorkOutcome): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    if (outcome === 'error' || (outcome === 'unsubscribed' && !this.outlivesClient)) {
      for (const tx of this.inFlight) tx.doomed = true;
      this.controller.abort(outcome);
    }
    while (this.kept.size > 0) await Promise.allSettled([...this.kept]);
    this.state = 'closed';
    const durationMs = Math.round(performance.now() - this.startedAt);
    if (this.committed > 0 || this.rolledBack > 0 || outcome !== 'completed') {
      this.logger[this.options.background && outcome === 'completed' ? 'debug' : 'log']({
        msg: 'unit of work ended',
        unitOfWork: this.name,
        outcome,
        transactionsCommitted: this.committed,
        transactionsRolledBack: this.rolledBack,
        durationMs,
      });
    }
  }

  private async attempt<T>(operation: string, work: (manager: EntityManager) => Promise<T>, wrapped: boolean): Promise<T> {
    const tx = { operation, doomed: false };
    const waiting = performance.now();
    let started = waiting;
    let runner: QueryRunner | undefined;
    // Until then a lost connection proves that nothing of this attempt committed.
    let sent = false;
    this.inFlight.add(tx);
    try {
      runner = this.dataSource.createQueryRunner();
      runner.data = { unitOfWork: this.id };
      await runner.connect();
      // The transaction is timed from the moment it holds a connection; the wait for one is the pool's.
      started = performance.now();
      this.metrics.poolWait.observe((started - waiting) / 1000);
      if (wrapped) await runner.startTransaction();
      else sent = true;
      const result = await work(runner.manager);
      if (wrapped && tx.doomed) throw new StreamEndedError(operation);
      sent = true;
      if (wrapped) await runner.commitTransaction();
      this.committed++;
      this.observe(operation, started, 'success');
      return result;
    } catch (error) {
      if (!sent && typeof error === 'object' && error !== null) unsent.add(error);
      if (runner?.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      this.rolledBack++;
      const reason = rollbackReason(error);
      this.metrics.rollbacks.inc({ operation, reason });
      this.observe(operation, started, 'error');
      throw error;
    } finally {
      this.inFlight.delete(tx);
      if (runner && !runner.isReleased) await runner.release().catch(() => undefined);
    }
  }

  private observe(operation: string, started: number, status: 'success' | 'error'): void {
    const ms = performance.now() - started;
    this.metrics.duration.observe({ operation }, ms / 1000);
    this.metrics.commits.inc({ operation, status });
    if (ms > this.options.slowTransactionMs) {
      this.logger.warn({ msg: 'slow transaction', operation, durationMs: Math.round(ms), unitOfWork: this.name });
    }
  }
}
