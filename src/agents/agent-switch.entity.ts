import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { SessionEntity } from '../sessions/session.entity.js';
import { TurnEntity } from '../turns/turn.entity.js';

/** A hand-over from one agent to another, by routing, by `switch_mode` or by hand. */
@Entity('agent_switches')
@Index('idx_agent_switches_session', ['sessionId', 'createdAt'])
export class AgentSwitchEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'session_id', type: 'uuid' })
  sessionId: string;

  @ManyToOne(() => SessionEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'session_id' })
  session?: Relation<SessionEntity>;

  @Column({ name: 'turn_id', type: 'uuid', nullable: true })
  turnId: string | null;

  @ManyToOne(() => TurnEntity, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'turn_id' })
  turn?: Relation<TurnEntity>;

  @Column({ name: 'from_agent', type: 'varchar', length: 50 })
  fromAgent: string;

  @Column({ name: 'to_agent', type: 'varchar', length: 50 })
  toAgent: string;

  @Column({ type: 'text' })
  reason: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
