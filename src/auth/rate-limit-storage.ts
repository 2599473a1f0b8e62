import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { TransactionHost } from '../unit-of-work/transaction-host.js';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** The branch each column takes: blocked (counts nothing), a new window (after the old one or a block ended), or one more hit. */
const BLOCKED = 'r.blocked_until > now()';
const FRESH = 'r.window_ends_at <= now() OR r.blocked_until IS NOT NULL';

// One statement per request, atomic on its own (no session state: safe through a pooler in
// transaction mode); concurrent hits on one key queue on its row and each sees the count before it.
const HIT_SQL = `
  INSERT INTO rate_limit_hits AS r (key, hits, window_ends_at, blocked_until)
  VALUES ($1, 1, now() + make_interval(secs => $2::float8 / 1000), NULL)
  ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN ${BLOCKED} THEN r.hits WHEN ${FRESH} THEN 1 ELSE r.hits + 1 END,
    window_ends_at = CASE WHEN ${BLOCKED} THEN r.window_ends_at WHEN ${FRESH} THEN EXCLUDED.window_ends_at ELSE r.window_ends_at END,
    blocked_until = CASE
      WHEN ${BLOCKED} THEN r.blocked_until
      WHEN ${FRESH} THEN NULL
      WHEN r.hits + 1 > $3 THEN now() + make_interval(secs => $4::float8 / 1000)
      ELSE NULL END
  RETURNING hits,
    ceil(extract(epoch FROM window_ends_at - now()))::int AS expires_in,
    coalesce(ceil(extract(epoch FROM blocked_until - now())), 0)::int AS blocked_for`;

/**
 * @nestjs/throttler's storage in PostgreSQL (`rate_limit_hits`, owned by the auth module), so that
 * every instance spends one budget per key: a fixed window from the first hit, and one request over
 * the limit blocks the key for `blockDuration`, as the library's in-memory storage does.
 * When the database cannot count, the request goes through: a route that needs the database then
 * answers 503 on its own, and one that does not (the agent list) stays up.
 */
export class PostgresThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger('RateLimit');

  constructor(private readonly txHost: TransactionHost) {}

  async increment(key: string, ttl: number, limit: number, blockDuration: number): Promise<ThrottlerStorageRecord> {
    try {
      const [row]: Array<{ hits: number; expires_in: number; blocked_for: number }> = await this.txHost.run('rate_limit', () =>
        this.txHost.statement('count_request', () => this.txHost.tx.query(HIT_SQL, [key, ttl, limit, blockDuration])),
      );
      return { totalHits: row.hits, timeToExpire: row.expires_in, isBlocked: row.blocked_for > 0, timeToBlockExpire: row.blocked_for };
    } catch (error) {
      this.logger.warn({ msg: 'rate limit not counted: the request goes through', error: (error as Error).message });
      return { totalHits: 0, timeToExpire: Math.ceil(ttl / 1000), isBlocked: false, timeToBlockExpire: 0 };
    }
  }
}
