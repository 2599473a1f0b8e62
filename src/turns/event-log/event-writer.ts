import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';
import { EventAnnouncer } from './event-announcer.js';
import { storedEventsJson } from './stored-events.js';
import type { EventRow, TurnEventRecorder } from './turn-event-recorder.js';

/** At most one row per turn per this many milliseconds: token deltas are coalesced, never a row each. */
export const FLUSH_MS = 100;

/**
 * Writes the rows of every turn running on this instance: each FLUSH_MS, what each turn has
 * queued since becomes one row, and all those rows one INSERT — one statement per instance, not
 * one per turn, as the lease renewal does for leases. It is background work in a Unit of Work of
 * its own; the turns' own micro-transactions and the LLM never wait for it.
 */
@Injectable()
export class EventWriter implements OnApplicationShutdown {
  private readonly logger = new Logger(EventWriter.name);
  private readonly waiting = new Set<TurnEventRecorder>();
  private timer?: NodeJS.Timeout;
  private lastWriteAt = -Infinity;
  private writing = false;

  constructor(
    private readonly txHost: TransactionHost,
    private readonly announcer: EventAnnouncer,
  ) {}

  /** `recorder` has events to store. */
  wake = (recorder: TurnEventRecorder): void => {
    this.waiting.add(recorder);
    this.schedule();
  };

  onApplicationShutdown(): void {
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer || this.writing || this.waiting.size === 0) return;
    this.timer = setTimeout(() => void this.write(), Math.max(0, this.lastWriteAt + FLUSH_MS - performance.now()));
    this.timer.unref();
  }

  private async write(): Promise<void> {
    this.timer = undefined;
    this.writing = true;
    this.lastWriteAt = performance.now();
    let settle!: () => void;
    const written = new Promise<void>((resolve) => (settle = resolve));
    const taken: Array<{ recorder: TurnEventRecorder; row: EventRow }> = [];
    for (const recorder of this.waiting) {
      const row = recorder.take(written);
      if (row) taken.push({ recorder, row });
    }
    this.waiting.clear();
    try {
      if (taken.length) await this.insert(taken.map(({ row }) => row));
      for (const { recorder, row } of taken) {
        recorder.written();
        this.announcer.stored(row.turnId, row.lastId);
      }
    } catch (error) {
      this.logger.warn({
        msg: 'turn events not stored yet; tried again with the next write',
        rows: taken.length,
        error: (error as Error).message,
      });
      for (const { recorder } of taken) recorder.failed();
    } finally {
      settle();
      this.writing = false;
      this.schedule();
    }
  }

  private insert(rows: EventRow[]): Promise<unknown> {
    // One JSON document for the whole batch: PostgreSQL parses it once, and no array literal needs escaping.
    // Built as text (ids are numbers, turn ids UUIDs): no object per row or per event just to serialise it.
    const batch = `[${rows.map((row) => `{"id":${row.lastId},"first":${row.firstId},"turn":"${row.turnId}","events":${storedEventsJson(row.events)}}`).join(',')}]`;
    return this.txHost.run('event_writer', () =>
      this.txHost.statement('save_events', () =>
        this.txHost.tx.query(
          `INSERT INTO turn_events (id, first_id, turn_id, events)
           SELECT (r->>'id')::bigint, (r->>'first')::bigint, (r->>'turn')::uuid, r->'events'
           FROM jsonb_array_elements($1::jsonb) AS r
           ON CONFLICT (id) DO NOTHING`,
          [batch],
        ),
      ),
    );
  }
}
