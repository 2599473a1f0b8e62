import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { Settings } from '../../config/settings.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';

/** Rows deleted per micro-transaction, so that one sweep never holds many row locks for long. */
const BATCH_SIZE = 1_000;

/**
 * Deletes the stored events of turns that finished more than EVENT_RETENTION_HOURS ago, in
 * batches, and the old rows of turns that are gone (a session deleted outside the API). Only replay
 * needs them; the messages stay the history of record. A running turn's events are never deleted,
 * however old.
 */
@Injectable()
export class EventRetention {
  private readonly logger = new Logger(EventRetention.name);

  constructor(
    private readonly txHost: TransactionHost,
    private readonly settings: Settings,
  ) {}

  @Interval('event-retention', 15 * 60_000)
  async sweep(): Promise<number> {
    try {
      const deleted = await this.deleteOldEvents();
      if (deleted > 0)
        this.logger.log({ msg: 'deleted old turn events', rows: deleted, retentionHours: this.settings.EVENT_RETENTION_HOURS });
      return deleted;
    } catch (error) {
      this.logger.warn({ msg: 'turn event retention sweep failed', error: (error as Error).message });
      return 0;
    }
  }

  /** Deletes every row past retention; returns how many. */
  private deleteOldEvents(): Promise<number> {
    return this.txHost.run('event_retention', async () => {
      let total = 0;
      for (;;) {
        const [rows] = await this.txHost.transaction('delete_turn_events', () =>
          this.txHost.tx.query(
            `DELETE FROM turn_events WHERE id IN (
               SELECT e.id FROM turn_events e LEFT JOIN turns t ON t.id = e.turn_id
               WHERE e.created_at < now() - make_interval(hours => $1)
                 AND (t.id IS NULL OR (t.status <> 'running' AND t.finished_at < now() - make_interval(hours => $1)))
               LIMIT $2)
             RETURNING 1`,
            [this.settings.EVENT_RETENTION_HOURS, BATCH_SIZE],
          ),
        );
        total += rows.length;
        if (rows.length < BATCH_SIZE) return total;
      }
    });
  }
}
