import { Injectable, Logger } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Counter, Histogram } from 'prom-client';
import { DataSource, EntityManager } from 'typeorm';
import { Settings } from '../config/settings.js';
import { NoUnitOfWorkError } from './transaction-errors.js';
import { inTransactionSpan, untraced } from './transaction-span.js';
import { UnitOfWork } from './unit-of-work.js';

/** The micro-transaction under way in this async context. */
interface ActiveTransaction {
  operation: string;
  manager: EntityManager;
}

/**
 * The one way to the Unit of Work, in the manner of nestjs-cls's `TransactionHost`: services read
 * and write through `tx`, the manager of the current micro-transaction, and open micro-transactions
 * with `transaction()` / `statement()` on the current Unit of Work — never by passing managers
 * around. Routes get their Unit of Work from the interceptor (`open` + `within`), background jobs
 * from `run`. Outside a micro-transaction `tx` is the pool's manager: reads work, and the write
 * guard (`write-guard.ts`) refuses every write, raw SQL included.
 */
@Injectable()
export class TransactionHost {
  private readonly units = new AsyncLocalStorage<UnitOfWork>();
  private readonly active = new AsyncLocalStorage<ActiveTransaction>();
  private readonly logger = new Logger(UnitOfWork.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly settings: Settings,
    @InjectMetric('sse_transaction_duration_seconds') private readonly duration: Histogram<string>,
    @InjectMetric('db_pool_wait_seconds') private readonly poolWait: Histogram<string>,
    @InjectMetric('sse_transaction_commits_total') private readonly commits: Counter<string>,
    @InjectMetric('db_rollbacks_total') private readonly rollbacks: Counter<string>,
    @InjectMetric('db_retries_total') private readonly retries: Counter<string>,
  ) {}

  /** The manager to query with: the current micro-transaction's, or the pool's for reads outside one. */
  get tx(): EntityManager {
    return this.active.getStore()?.manager ?? this.dataSource.manager;
  }

  /** The Unit of Work of the stream, request or job being served; throws outside one. */
  get unitOfWork(): UnitOfWork {
    const uow = this.units.getStore();
    if (!uow) throw new NoUnitOfWorkError('database work');
    return uow;
  }

  /** Runs `work` as the named micro-transaction `operation` of the current Unit of Work (BEGIN … COMMIT, retried when transient). */
  transaction<T>(operation: string, work: () => Promise<T>): Promise<T> {
    this.refuseNesting(operation);
    const uow = this.unitOfWork;
    return inTransactionSpan(operation, 'transaction', () =>
      uow.transaction(operation, (manager) => this.active.run({ operation, manager }, work)),
    );
  }

  /** Like `transaction()` for work that is exactly one SQL statement, which PostgreSQL runs atomically: no BEGIN/COMMIT. */
  statement<T>(operation: string, work: () => Promise<T>): Promise<T> {
    this.refuseNesting(operation);
    const uow = this.unitOfWork;
    return inTransactionSpan(operation, 'statement', () =>
      uow.statement(operation, (manager) => this.active.run({ operation, manager }, work)),
    );
  }

  /** A Unit of Work for a route (the interceptor opens one per request or stream). */
  open(name: string, background = false): UnitOfWork {
    return new UnitOfWork(
      name,
      this.dataSource,
      { duration: this.duration, poolWait: this.poolWait, commits: this.commits, rollbacks: this.rollbacks, retries: this.retries },
      this.logger,
      { slowTransactionMs: this.settings.SLOW_TRANSACTION_MS, maxAttempts: 3, background },
    );
  }

  /** Runs `fn` with `uow` as the current Unit of Work, outside any micro-transaction (a timer set inside one must not nest). */
  within<T>(uow: UnitOfWork, fn: () => T): T {
    return this.active.exit(() => this.units.run(uow, fn));
  }

  /** Background work (sweeps, lease renewal) in a Unit of Work of its own, ended when `fn` settles; never traced. */
  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const uow = this.open(name, true);
    try {
      const result = await untraced(() => this.units.run(uow, fn));
      await uow.end('completed');
      return result;
    } catch (error) {
      await uow.end('error');
      throw error;
    }
  }

  /** A micro-transaction inside another would take a second connection and commit apart from it: a bug. */
  private refuseNesting(operation: string): void {
    const outer = this.active.getStore();
    if (outer) throw new Error(`micro-transaction "${operation}" started inside "${outer.operation}": call the work directly`);
  }
}
