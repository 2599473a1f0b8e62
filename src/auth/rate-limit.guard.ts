import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions } from '@nestjs/throttler';
import { createHash } from 'node:crypto';
import { DomainError } from '../common/domain-error.js';
import { Settings } from '../config/settings.js';
import { HealthController } from '../observability/health.controller.js';
import type { AuthenticatedRequest } from './api-key.guard.js';

/** `RATE_LIMIT_PER_MINUTE` requests a minute; one excess request blocks the caller for a minute (counted in PostgreSQL: `rate-limit-storage.ts`). */
export function rateLimitOptions(settings: Settings): ThrottlerModuleOptions {
  return { throttlers: [{ name: 'default', ttl: 60_000, limit: settings.RATE_LIMIT_PER_MINUTE }] };
}

/**
 * One request budget per API key across all routes (per client IP when the service runs open or
 * the route is public and no key was sent), so one owner's traffic never spends another's. Runs
 * after `ApiKeyGuard`, which tells it the key. Health checks are never limited.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    return context.getType() !== 'http' || context.getClass() === HealthController;
  }

  protected override async getTracker(req: AuthenticatedRequest): Promise<string> {
    return req.caller ? `key:${req.caller.keyId}` : `ip:${await super.getTracker(req)}`;
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, throttlerName: string): string {
    return createHash('sha256').update(`${throttlerName}|${tracker}`).digest('hex');
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw new DomainError('rate_limited', `more than ${detail.limit} requests a minute; retry after ${detail.timeToBlockExpire} s`);
  }
}
