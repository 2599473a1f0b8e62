import { Injectable } from '@nestjs/common';
import { DatabaseNotifications } from '../../database/database-notifications.js';
import type { StampedEvent } from '../protocol/turn-event.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';
import { TURN_EVENTS_CHANNEL } from './event-announcer.js';
import { spanOf, turnSeqOf } from './event-ids.js';
import { eventsOfRows, type StoredEvent } from './stored-events.js';

/** A stream following a turn that runs elsewhere: told every stored event after `last`, in order. */
export interface RemoteFollower {
  last: number;
  send(events: StampedEvent[]): void;
  fail(error: unknown): void;
}

/**
 * The live tail of turns running on other instances. This instance listens to the announcements
 * (`EventAnnouncer`) on its one LISTEN connection; an announcement, or a new follower, marks a
 * turn to be read; and one query at a time reads the new rows of every marked turn at once, for
 * all of their followers — no query per stream, and no polling.
 */
@Injectable()
export class RemoteTail {
  private readonly followers = new Map<string, Set<RemoteFollower>>();
  /** Turns to read, with the newest id announced (0: read whatever is there). */
  private readonly marked = new Map<string, number>();
  private reading = false;
  private listening?: Promise<unknown>;

  constructor(
    private readonly txHost: TransactionHost,
    private readonly notifications: DatabaseNotifications,
  ) {}

  /** Follows `turn` from `follower.last`: its stored rows first, then each announced one. Resolves once listening. */
  async follow(turn: { id: string; seq: number }, follower: RemoteFollower): Promise<() => void> {
    // Listening starts before the first read: a row stored in between is both read and announced.
    this.listening ??= this.notifications
      .listen(TURN_EVENTS_CHANNEL, { notified: (payload) => this.announced(payload), resync: () => this.markAll() })
      .catch((error: unknown) => {
        this.listening = undefined;
        throw error;
      });
    await this.listening;
    let followers = this.followers.get(turn.id);
    if (!followers) this.followers.set(turn.id, (followers = new Set()));
    followers.add(follower);
    this.mark(turn.id, 0);
    return () => {
      followers.delete(follower);
      if (followers.size === 0 && this.followers.get(turn.id) === followers) this.followers.delete(turn.id);
    };
  }

  private announced(payload: string): void {
    for (const pair of payload.split(',')) {
      const [turnId, lastId] = pair.split(':');
      if (this.followers.has(turnId)) this.mark(turnId, Number(lastId));
    }
  }

  private markAll(): void {
    for (const turnId of this.followers.keys()) this.mark(turnId, 0);
  }

  private mark(turnId: string, lastId: number): void {
    this.marked.set(turnId, Math.max(lastId, this.marked.get(turnId) ?? 0));
    if (!this.reading) void this.read();
  }

  /** Reads the marked turns' new rows in one query, while any are marked. */
  private async read(): Promise<void> {
    this.reading = true;
    try {
      while (this.marked.size > 0) {
        const turns = [...this.marked.keys()].filter((turnId) => this.followers.has(turnId));
        this.marked.clear();
        const froms = turns.map((turnId) => Math.min(...[...this.followers.get(turnId)!].map((f) => f.last)));
        if (turns.length === 0) continue;
        try {
          const rows: Array<{ first_id: string; id: string; events: StoredEvent[] }> = await this.txHost.tx.query(
            `SELECT e.first_id, e.id, e.events
             FROM unnest($1::bigint[], $2::bigint[]) AS f(after, last)
             JOIN turn_events e ON e.id > f.after AND e.id <= f.last
             ORDER BY e.id`,
            [froms, turns.map((_t, i) => spanOf(turnSeqOf(froms[i])).last)],
          );
          this.deliver(turns, rows);
        } catch (error) {
          for (const turnId of turns) for (const follower of this.followers.get(turnId) ?? []) follower.fail(error);
        }
      }
    } finally {
      this.reading = false;
    }
  }

  private deliver(turns: string[], rows: Array<{ first_id: string; id: string; events: StoredEvent[] }>): void {
    const bySeq = new Map<number, Array<{ first_id: string; events: StoredEvent[] }>>();
    for (const row of rows) {
      const seq = turnSeqOf(Number(row.id));
      const list = bySeq.get(seq);
      if (list) list.push(row);
      else bySeq.set(seq, [row]);
    }
    for (const turnId of turns) {
      for (const follower of [...(this.followers.get(turnId) ?? [])]) {
        const seq = turnSeqOf(follower.last);
        follower.send(eventsOfRows(bySeq.get(seq) ?? [], follower.last));
      }
    }
  }
}
