import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { Settings } from '../config/settings.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';

/** Sessions soft-deleted per micro-transaction, so one sweep never holds many row locks for long. */
const BATCH_SIZE = 500;

/**
 * Soft-deletes sessions idle for longer than SESSION_TTL_HOURS. A session with a live lease (a turn
 * running) is left alone; rows another transaction holds are skipped (SKIP LOCKED) and caught by a
 * later sweep, so instances sweeping at the same time never wait on each other or on a turn.
 */
@Injectable()
export class SessionRetention {
  private readonly logger = new Logger(SessionRetention.name);

  constructor(
    private readonly txHost: TransactionHost,
    private readonly settings: Settings,
  ) {}

  @Interval('session-retention', 15 * 60_000)
  async sweep(): Promise<void> {
    try {
      const expired = await this.expireIdleSessions();
      if (expired > 0) this.logger.log({ msg: 'expired idle sessions', count: expired, ttlHours: this.settings.SESSION_TTL_HOURS });
    } catch (error) {
      this.logger.warn({ msg: 'session retention sweep failed', error: (error as Error).message });
    }
  }

  /** Soft-deletes every session idle past the TTL; returns how many. */
  async expireIdleSessions(): Promise<number> {
    return this.txHost.run('session_retention', async () => {
      let total = 0;
      for (;;) {
        const [rows] = await this.txHost.transaction('expire_sessions', () =>
          this.txHost.tx.query(
            `UPDATE sessions SET deleted_at = now(), updated_at = now()
             WHERE id IN (
               SELECT s.id FROM sessions s
               WHERE s.deleted_at IS NULL
                 AND s.last_activity_at < now() - make_interval(hours => $1)
                 AND (s.active_turn_id IS NULL OR s.lease_expires_at < now())
               ORDER BY s.last_activity_at
               LIMIT $2
               FOR UPDATE SKIP LOCKED)
             RETURNING id`,
            [this.settings.SESSION_TTL_HOURS, BATCH_SIZE],
          ),
        );
        total += rows.length;
        if (rows.length < BATCH_SIZE) return total;
      }
    });
  }
}
