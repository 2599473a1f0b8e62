import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { Settings } from '../config/settings.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeys } from './api-keys.js';
import { RateLimitGuard, rateLimitOptions } from './rate-limit.guard.js';
import { PostgresThrottlerStorage } from './rate-limit-storage.js';
import { RateLimitSweep } from './rate-limit-sweep.js';

/** API keys and owners, and rate limits: counted in this process, or in PostgreSQL (`rate_limit_hits`), shared by every instance. */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [Settings, TransactionHost],
      useFactory: (settings: Settings, txHost: TransactionHost) => ({
        ...rateLimitOptions(settings),
        // Unset: the library's in-memory storage.
        storage: settings.RATE_LIMIT_STORE === 'database' ? new PostgresThrottlerStorage(txHost) : undefined,
      }),
    }),
  ],
  providers: [
    ApiKeys,
    RateLimitSweep,
    // Global guards run in this order: the key is known before its budget is spent.
    { provide: APP_GUARD, useClass: ApiKeyGuard },
    { provide: APP_GUARD, useClass: RateLimitGuard },
  ],
  exports: [ApiKeys],
})
export class AuthModule {}
