import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { DomainError } from '../common/domain-error.js';

/** Visible ASCII, as Stripe and the IETF draft's examples use (UUIDs, random tokens): at most 255 characters. */
const KEY = /^[\x21-\x7e]{1,255}$/;

export function isIdempotencyKey(raw: string): boolean {
  return KEY.test(raw);
}

/** The request's `Idempotency-Key` header, or undefined; 400 `bad_idempotency_key` when it is not one. */
export const IdempotencyKeyHeader = createParamDecorator((_data: unknown, ctx: ExecutionContext): string | undefined => {
  const raw = ctx.switchToHttp().getRequest<Request>().headers['idempotency-key'];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !isIdempotencyKey(raw)) {
    throw new DomainError('bad_idempotency_key', 'Idempotency-Key must be 1 to 255 visible ASCII characters (e.g. a UUID)');
  }
  return raw;
});
