import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';
import type { StoredEvent } from './stored-events.js';

/**
 * Consecutive events of one turn, kept for replay: the events a turn sent within at most 100 ms
 * (so a token is never a row of its own), ids `first_id` … `id`, one per event.
 */
@Entity('turn_events')
// BRIN (rows arrive in time order), made by the migration: a B-tree would be one more write per row for a sweep every 15 minutes.
@Index('idx_turn_events_created', { synchronize: false })
export class TurnEventRowEntity {
  /** The id of the row's last event; a turn's rows lie in its own range of ids (`event-ids.ts`). */
  @PrimaryColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'first_id', type: 'bigint' })
  firstId: string;

  /** No foreign key: its check would lock the turn's row on every write; retention deletes rows whose turn is gone. */
  @Column({ name: 'turn_id', type: 'uuid' })
  turnId: string;

  /** The events in order: `{type, data}` as the stream sends them, a `token` as its bare delta (`stored-events.ts`). */
  @Column({ type: 'jsonb' })
  events: StoredEvent[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
