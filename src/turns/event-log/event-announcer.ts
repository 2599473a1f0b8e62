import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';

/** The one channel on which instances announce stored rows: `turnId:lastId` pairs, comma-separated. */
export const TURN_EVENTS_CHANNEL = 'turn_events';
/** How often this instance announces what its turns stored: the live tail of another instance lags by at most this. */
const ANNOUNCE_MS = 100;
/** PostgreSQL refuses a payload of 8,000 bytes or more. */
const MAX_PAYLOAD = 7_900;

/**
 * Tells the other instances which turns stored rows, with NOTIFY — batched: one statement per
 * ANNOUNCE_MS for all of this instance's turns, not one per row. Every notifying commit takes one
 * lock for the whole database (PostgreSQL serializes them), so a NOTIFY in each row's own write
 * made every write wait for the others (docs/decisions/0012-turn-events.md).
 */
@Injectable()
export class EventAnnouncer implements OnApplicationShutdown {
  private readonly logger = new Logger(EventAnnouncer.name);
  private readonly pending = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private announcing?: Promise<void>;

  constructor(private readonly txHost: TransactionHost) {}

  /** The rows of `turnId` up to `lastId` have committed. */
  stored(turnId: string, lastId: number): void {
    this.pending.set(turnId, Math.max(lastId, this.pending.get(turnId) ?? 0));
    this.timer ??= setTimeout(() => void this.announce(), ANNOUNCE_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    await this.announcing;
    if (this.pending.size) await this.announce();
  }

  private async announce(): Promise<void> {
    this.timer = undefined;
    const announced = [...this.pending];
    this.pending.clear();
    const pairs = announced.map(([turnId, lastId]) => `${turnId}:${lastId}`);
    const payloads: string[] = [];
    for (const pair of pairs) {
      const last = payloads.length - 1;
      if (last >= 0 && payloads[last].length + pair.length + 1 < MAX_PAYLOAD) payloads[last] += `,${pair}`;
      else payloads.push(pair);
    }
    this.announcing = this.txHost
      .run('event_announcement', () =>
        this.txHost.statement('announce_events', () =>
          this.txHost.tx.query(`SELECT count(pg_notify('${TURN_EVENTS_CHANNEL}', p)) FROM unnest($1::text[]) AS p`, [payloads]),
        ),
      )
      .then(
        () => undefined,
        (error: unknown) => {
          // Told again with the next announcement: a follower elsewhere must not miss a turn's end.
          this.logger.warn({ msg: 'stored turn events not announced yet', error: (error as Error).message });
          for (const [turnId, lastId] of announced) this.stored(turnId, lastId);
        },
      );
    await this.announcing;
  }
}
