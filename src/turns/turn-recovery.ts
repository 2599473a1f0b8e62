import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { TransactionHost } from '../unit-of-work/transaction-host.js';
import { sessionWrites } from '../sessions/session-writes.js';
import { deadTurnAnswers, deadTurnEvents } from './event-log/event-log.js';

/**
 * Turns whose process died (killed, crashed) stay `running` with a lease that expires. This sweep
 * marks them `interrupted` once their lease is gone, so the record tells what happened, keeps the
 * answer they had streamed as an interrupted message, and records their `done{interrupted}`, so a
 * replay of their stream (and anyone following it) ends with it. The
 * session itself is usable again as soon as the lease has expired.
 */
@Injectable()
export class TurnRecovery {
  private readonly logger = new Logger(TurnRecovery.name);

  constructor(
    private readonly txHost: TransactionHost,
    @InjectMetric('turns_total') private readonly turnsTotal: Counter<string>,
  ) {}

  @Interval('turn-recovery', 15_000)
  async sweep(): Promise<number> {
    try {
      const rows: unknown[] = await this.txHost.run('turn_recovery', () =>
        this.txHost.transaction('interrupt_dead_turns', () =>
          this.txHost.tx.query(
            `WITH dead AS (
               UPDATE turns t SET status = 'interrupted', finished_at = now(), error = 'its process stopped before the turn ended'
               WHERE t.status = 'running' AND NOT EXISTS (
                 SELECT 1 FROM sessions s WHERE s.active_turn_id = t.id AND s.lease_expires_at > now())
               RETURNING t.id, t.seq, t.session_id, t.agent)
             , ${deadTurnEvents.cte}
             , ${deadTurnAnswers.cte}
             , counted AS (${sessionWrites.countStoredMessages('dead_answers')})
             SELECT d.id, ${deadTurnEvents.announced} AS announced FROM dead d`,
          ),
        ),
      );
      if (rows.length) {
        this.turnsTotal.inc({ status: 'interrupted' }, rows.length);
        this.logger.warn({ msg: 'marked dead turns interrupted', count: rows.length });
      }
      return rows.length;
    } catch (error) {
      this.logger.warn({ msg: 'turn recovery sweep failed', error: (error as Error).message });
      return 0;
    }
  }
}
