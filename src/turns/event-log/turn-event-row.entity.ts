import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import type { TurnEvent } from '../protocol/turn-event.js';
import { TurnEntity } from '../turn.entity.js';

/**
 * Consecutive events of one turn, kept for replay: the events a turn sent within at most 100 ms
 * (so a token is never a row of its own), ids `first_id` … `id`, one per event.
 */
@Entity('turn_events')
@Index('idx_turn_events_created', ['createdAt'])
export class TurnEventRowEntity {
  /** The id of the row's last event; a turn's rows lie in its own range of ids (`event-ids.ts`). */
  @PrimaryColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'first_id', type: 'bigint' })
  firstId: string;

  @Column({ name: 'turn_id', type: 'uuid' })
  turnId: string;

  @ManyToOne(() => TurnEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'turn_id' })
  turn?: Relation<TurnEntity>;

  /** The events in order, `{type, data}` as the stream sends them. */
  @Column({ type: 'jsonb' })
  events: TurnEvent[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
