import { Module } from '@nestjs/common';
import { APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { Settings } from '../config/settings.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeys } from './api-keys.js';
import { RateLimitGuard, rateLimitOptions } from './rate-limit.guard.js';
import { StorableTextPipe } from './storable-text.pipe.js';

/** API keys and owners, rate limits, and the refusal of text the database cannot store verbatim. */
@Module({
  imports: [ThrottlerModule.forRootAsync({ inject: [Settings], useFactory: rateLimitOptions })],
  providers: [
    ApiKeys,
    // Global guards run in this order: the key is known before its budget is spent.
    { provide: APP_GUARD, useClass: ApiKeyGuard },
    { provide: APP_GUARD, useClass: RateLimitGuard },
    { provide: APP_PIPE, useClass: StorableTextPipe },
  ],
  exports: [ApiKeys],
})
export class AuthModule {}
