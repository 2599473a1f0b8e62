import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { Settings } from '../config/settings.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeys } from './api-keys.js';
import { RateLimitGuard, rateLimitOptions } from './rate-limit.guard.js';

/** API keys and owners, and rate limits. */
@Module({
  imports: [ThrottlerModule.forRootAsync({ inject: [Settings], useFactory: rateLimitOptions })],
  providers: [
    ApiKeys,
    // Global guards run in this order: the key is known before its budget is spent.
    { provide: APP_GUARD, useClass: ApiKeyGuard },
    { provide: APP_GUARD, useClass: RateLimitGuard },
  ],
  exports: [ApiKeys],
})
export class AuthModule {}
