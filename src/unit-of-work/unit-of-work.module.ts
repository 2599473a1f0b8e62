import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { makeCounterProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import { TransactionHost } from './transaction-host.js';
import { UnitOfWorkInterceptor } from './unit-of-work.interceptor.js';

/** The stream-scoped Unit of Work, its interceptor and the micro-transaction metrics. */
@Global()
@Module({
  providers: [
    TransactionHost,
    { provide: APP_INTERCEPTOR, useClass: UnitOfWorkInterceptor },
    makeHistogramProvider({
      name: 'sse_transaction_duration_seconds',
      help: 'Duration of a named micro-transaction, from taking a pooled connection to giving it back',
      labelNames: ['operation'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    makeHistogramProvider({
      name: 'db_pool_wait_seconds',
      help: 'Time a micro-transaction waited for a pooled connection (a full pool shows here, not in transaction durations)',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    makeCounterProvider({
      name: 'sse_transaction_commits_total',
      help: 'Micro-transactions by operation and outcome (success: committed, error: rolled back)',
      labelNames: ['operation', 'status'],
    }),
    makeCounterProvider({
      name: 'db_retries_total',
      help: 'Micro-transactions run again after a failure that proves nothing was committed, by operation and reason',
      labelNames: ['operation', 'reason'],
    }),
    makeCounterProvider({
      name: 'db_rollbacks_total',
      help: 'Micro-transactions rolled back, by operation and reason',
      labelNames: ['operation', 'reason'],
    }),
  ],
  exports: [TransactionHost],
})
export class UnitOfWorkModule {}
