import type { StampedEvent, TurnEvent } from '../protocol/turn-event.js';
import { eventIdOf } from './event-ids.js';

/** At most one row per this many milliseconds and turn: token deltas are coalesced, never a row each. */
export const FLUSH_MS = 100;

/** Consecutive events of one turn, as one row of `turn_events` stores them. */
export interface EventRow {
  firstId: number;
  lastId: number;
  events: StampedEvent[];
}

/**
 * A running turn's events on their way to `turn_events`. Each event gets its id at once, so the
 * turn's own stream sends it without waiting; the rows are written behind it, one at a time, at most
 * one per FLUSH_MS. A write that fails is tried again with the next; what is left when the turn
 * ends goes into the statement that records its end (`drain`).
 */
export class TurnEventRecorder {
  private count = 0;
  private pending: StampedEvent[] = [];
  private writing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private lastWriteAt = -Infinity;
  private draining = false;

  constructor(
    private readonly seq: number,
    private readonly write: (row: EventRow) => Promise<void>,
    private readonly failed: (error: unknown) => void,
  ) {}

  /** The event with the turn's next id, not stored (the end's events, which `finish_turn` stores). */
  stamp(event: TurnEvent): StampedEvent {
    return { ...event, id: eventIdOf(this.seq, ++this.count) };
  }

  /** The event with its id, queued for the next row. */
  record(event: TurnEvent): StampedEvent {
    const stamped = this.stamp(event);
    if (this.draining) return stamped;
    this.pending.push(stamped);
    this.schedule();
    return stamped;
  }

  /** Stops writing rows and returns what is not written yet, once the write under way has ended. */
  async drain(): Promise<StampedEvent[]> {
    this.draining = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
    const rest = this.pending;
    this.pending = [];
    return rest;
  }

  private schedule(): void {
    if (this.timer || this.writing || this.draining || this.pending.length === 0) return;
    const wait = Math.max(0, this.lastWriteAt + FLUSH_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writing = this.flush().finally(() => {
        this.writing = undefined;
        this.schedule();
      });
    }, wait);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    const events = this.pending;
    this.pending = [];
    this.lastWriteAt = performance.now();
    try {
      await this.write({ firstId: events[0].id, lastId: events[events.length - 1].id, events });
    } catch (error) {
      this.pending = [...events, ...this.pending];
      this.failed(error);
    }
  }
}
