import { Module } from '@nestjs/common';
import { IdempotencyKeys } from './idempotency-keys.js';

/** `Idempotency-Key` on the routes that create something: the keys, their claims and their expiry. Owns `idempotency_keys`. */
@Module({
  providers: [IdempotencyKeys],
  exports: [IdempotencyKeys],
})
export class IdempotencyModule {}
