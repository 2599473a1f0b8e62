import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { SessionEntity } from '../sessions/session.entity.js';
import type { TurnStatus } from '../common/turn-statuses.js';

export type { TurnStatus };

/** One stream's worth of work on a session: a user message, or answers (tool results, approval decisions). */
@Entity('turns')
@Index('idx_turns_session_seq', ['sessionId', 'seq'])
@Index('idx_turns_running', ['status'], { where: "status = 'running'" })
export class TurnEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The order of turns across the service; the ids of a turn's events are built from it (`event-log/event-ids.ts`). */
  @Column({ type: 'bigint', generatedIdentity: 'ALWAYS', generated: 'identity', insert: false, update: false })
  seq: string;

  @Column({ name: 'session_id', type: 'uuid' })
  sessionId: string;

  @ManyToOne(() => SessionEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'session_id' })
  session?: Relation<SessionEntity>;

  /** What started the turn: `message`, `tool_result`, `approval`, or `answers` (results and decisions of one AG-UI run). */
  @Column({ type: 'varchar', length: 20, default: 'message' })
  kind: string;

  @Column({ type: 'varchar', length: 30, default: 'running' })
  status: TurnStatus;

  @Column({ type: 'varchar', length: 50 })
  agent: string;

  @Column({ name: 'prompt_tokens', type: 'integer', nullable: true })
  promptTokens: number | null;

  @Column({ name: 'completion_tokens', type: 'integer', nullable: true })
  completionTokens: number | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** Set by `POST .../cancel` on any instance; the running turn reads it when it renews its lease. */
  @Column({ name: 'cancel_requested_at', type: 'timestamptz', nullable: true })
  cancelRequestedAt: Date | null;

  @Column({ name: 'started_at', type: 'timestamptz', default: () => 'now()' })
  startedAt: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt: Date | null;
}
