import type { StampedEvent, TurnEvent } from '../protocol/turn-event.js';
import { eventIdOf } from './event-ids.js';

/** Consecutive events of one turn, as one row of `turn_events` stores them. */
export interface EventRow {
  turnId: string;
  firstId: number;
  lastId: number;
  events: StampedEvent[];
}

/**
 * A running turn's events on their way to `turn_events`. Each event gets its id at once, so the
 * turn's stream sends it without waiting; `EventWriter` takes what has piled up (`take`) for the
 * instance's next write, at most one row per turn per FLUSH_MS, so a token is never a row of its
 * own. What is left when the turn ends goes into the statement that records its end (`drain`).
 * Joiners on this instance read what is not stored yet (`unsaved`) and are told what is sent (`watch`).
 */
export class TurnEventRecorder {
  private count = 0;
  private pending: StampedEvent[] = [];
  /** The events of the write under way (the end's too, until `finish_turn` has committed). */
  private inFlight: StampedEvent[] = [];
  private writing?: Promise<void>;
  private readonly watchers = new Set<(event: StampedEvent) => void>();
  private draining = false;

  constructor(
    readonly turnId: string,
    private readonly seq: number,
    private readonly wake: (recorder: TurnEventRecorder) => void,
  ) {}

  /** The event with the turn's next id, not queued (the end's events, which `finish_turn` stores). */
  stamp(event: TurnEvent): StampedEvent {
    // The event is the turn's own, just built: it takes its id rather than being copied (one per token).
    return Object.assign(event, { id: eventIdOf(this.seq, ++this.count) });
  }

  /** The event with its id, queued for the next write. */
  record(event: TurnEvent): StampedEvent {
    const stamped = this.stamp(event);
    if (this.draining) return stamped;
    this.pending.push(stamped);
    if (this.pending.length === 1 && this.inFlight.length === 0) this.wake(this);
    return stamped;
  }

  /** The next row to write, if any; `written` or `failed` must follow once `write` settles. */
  take(write: Promise<void>): EventRow | undefined {
    if (this.draining || this.pending.length === 0 || this.inFlight.length > 0) return undefined;
    const events = (this.inFlight = this.pending);
    this.pending = [];
    this.writing = write;
    return { turnId: this.turnId, firstId: events[0].id, lastId: events[events.length - 1].id, events };
  }

  /** The row taken (or the drained events) was stored, or will never be. */
  written(): void {
    this.inFlight = [];
    this.writing = undefined;
    if (this.pending.length > 0 && !this.draining) this.wake(this);
  }

  /** The row taken was not stored: its events go first into the next one. */
  failed(): void {
    this.pending = [...this.inFlight, ...this.pending];
    this.written();
  }

  /** Stops queueing and returns what is not stored yet, once the write under way has ended; `written` follows its write. */
  async drain(): Promise<StampedEvent[]> {
    this.draining = true;
    await this.writing?.catch(() => undefined);
    this.inFlight = [...this.inFlight, ...this.pending];
    this.pending = [];
    return this.inFlight;
  }

  /** The events recorded and not stored yet, in order: with the stored rows and what `watch` tells, a joiner on this instance misses nothing. */
  unsaved(): StampedEvent[] {
    return [...this.inFlight, ...this.pending];
  }

  /** Tells `watcher` every event the turn sends from now on, until the returned function is called. */
  watch(watcher: (event: StampedEvent) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  /** The turn sent `event` (its own stream may be gone): for the joiners on this instance. */
  sent(event: StampedEvent): void {
    for (const watcher of this.watchers) watcher(event);
  }
}
