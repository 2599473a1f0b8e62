import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { createHash } from 'node:crypto';
import { DomainError } from '../common/domain-error.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';

/** How long a key holds, as SQL. */
const KEPT = `make_interval(hours => 24)`;
const EXPIRY_BATCH = 1_000;

/** A request's key and the fingerprint of what it asked. */
export interface IdempotencyClaim {
  key: string;
  fingerprint: string;
}

/** What the first request with a key made. */
export interface EarlierRequest {
  sessionId: string;
  turnId: string | null;
}

/** JSON with keys in order, so that the same body always has the same fingerprint. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The claim of a request: `route` names it with its path parameters (e.g. `POST /v1/sessions/<id>/messages`). */
export function claimOf(key: string, route: string, body: unknown): IdempotencyClaim {
  return {
    key,
    fingerprint: createHash('sha256')
      .update(`${route}\n${canonical(body)}`)
      .digest('hex'),
  };
}

/**
 * `Idempotency-Key` on the routes that create something (`idempotency_keys`, owned here): a key is
 * claimed in the same micro-transaction that creates the session or starts the turn, so of two
 * requests with one key — repeated or concurrent, on any instance — exactly one creates anything;
 * the other finds what the first made. The same key with another request is a 422.
 */
@Injectable()
export class IdempotencyKeys {
  private readonly logger = new Logger(IdempotencyKeys.name);

  constructor(private readonly txHost: TransactionHost) {}

  /** What an earlier request with this key made, if one did within 24 h; 422 when it asked something else. */
  async find(owner: string, claim: IdempotencyClaim): Promise<EarlierRequest | undefined> {
    const [row]: Array<{ fingerprint: string; session_id: string; turn_id: string | null }> = await this.txHost.tx.query(
      `SELECT fingerprint, session_id, turn_id FROM idempotency_keys WHERE owner = $1 AND key = $2 AND created_at > now() - ${KEPT}`,
      [owner, claim.key],
    );
    if (!row) return undefined;
    if (row.fingerprint !== claim.fingerprint) {
      throw new DomainError(
        'idempotency_key_reused',
        'this Idempotency-Key was used with another request; use a new key for a new request',
      );
    }
    return { sessionId: row.session_id, turnId: row.turn_id };
  }

  /**
   * Claims the key for what this request makes, in the current micro-transaction; false when another
   * request holds it (its transaction is waited for: then `find` tells what it made).
   */
  async claim(owner: string, claim: IdempotencyClaim, made: EarlierRequest): Promise<boolean> {
    const rows: unknown[] = await this.txHost.tx.query(
      `INSERT INTO idempotency_keys (owner, key, fingerprint, session_id, turn_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (owner, key) DO UPDATE
         SET fingerprint = EXCLUDED.fingerprint, session_id = EXCLUDED.session_id, turn_id = EXCLUDED.turn_id, created_at = now()
         WHERE idempotency_keys.created_at <= now() - ${KEPT}
       RETURNING 1`,
      [owner, claim.key, claim.fingerprint, made.sessionId, made.turnId],
    );
    return rows.length > 0;
  }

  /** Frees the key of a turn refused before its stream, so that a retry with it is not a repeat of nothing. */
  async forget(owner: string, key: string): Promise<void> {
    await this.txHost.statement('forget_idempotency_key', () =>
      this.txHost.tx.query(`DELETE FROM idempotency_keys WHERE owner = $1 AND key = $2`, [owner, key]),
    );
  }

  @Interval('idempotency-expiry', 60 * 60_000)
  async sweep(): Promise<number> {
    try {
      return await this.txHost.run('idempotency_expiry', async () => {
        let total = 0;
        for (;;) {
          const [rows] = await this.txHost.transaction('expire_idempotency_keys', () =>
            this.txHost.tx.query(
              `DELETE FROM idempotency_keys WHERE ctid IN (
                 SELECT ctid FROM idempotency_keys WHERE created_at <= now() - ${KEPT} LIMIT $1)
               RETURNING 1`,
              [EXPIRY_BATCH],
            ),
          );
          total += rows.length;
          if (rows.length < EXPIRY_BATCH) return total;
        }
      });
    } catch (error) {
      this.logger.warn({ msg: 'idempotency key expiry failed', error: (error as Error).message });
      return 0;
    }
  }
}
