import { Injectable, Logger } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Counter, Histogram } from 'prom-client';
import { DataSource } from 'typeorm';
import { Settings } from '../config/settings.js';
import { NoUnitOfWorkError } from './transaction-errors.js';
import { UnitOfWork } from './unit-of-work.js';

/** Where the current Unit of Work lives: the one accessor services and repositories use. */
@Injectable()
export class UnitOfWorkContext {
  private readonly storage = new AsyncLocalStorage<UnitOfWork>();
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

  /** The Unit of Work of the stream or request being served; throws outside one. */
  current(): UnitOfWork {
    const uow = this.storage.getStore();
    if (!uow) throw new NoUnitOfWorkError('database work');
    return uow;
  }

  /** Like `current()`, but undefined outside a Unit of Work. */
  find(): UnitOfWork | undefined {
    return this.storage.getStore();
  }

  open(name: string, background = false): UnitOfWork {
    return new UnitOfWork(
      name,
      this.dataSource,
      { duration: this.duration, poolWait: this.poolWait, commits: this.commits, rollbacks: this.rollbacks, retries: this.retries },
      this.logger,
      { slowTransactionMs: this.settings.SLOW_TRANSACTION_MS, maxAttempts: 3, background },
    );
  }

  /** Runs `fn` with `uow` as the current Unit of Work. */
  within<T>(uow: UnitOfWork, fn: () => T): T {
    return this.storage.run(uow, fn);
  }

  /** Background work (sweeps, lease renewal) in a Unit of Work of its own. */
  async run<T>(name: string, fn: (uow: UnitOfWork) => Promise<T>): Promise<T> {
    const uow = this.open(name, true);
    try {
      const result = await this.storage.run(uow, () => fn(uow));
      await uow.end('completed');
      return result;
    } catch (error) {
      await uow.end('error');
      throw error;
    }
  }
}
