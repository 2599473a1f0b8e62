import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { SessionEntity } from '../sessions/session.entity.js';
import { TurnEntity } from '../turns/turn.entity.js';
import { MessageEntity } from '../messages/message.entity.js';

export type ApprovalStatus = 'pending' | 'approved' | 'edited' | 'rejected' | 'expired';

/** A risky tool call held until a person decides. */
@Entity('approvals')
@Index('idx_approvals_session_status', ['sessionId', 'status', 'createdAt'])
@Index('idx_approvals_pending_expiry', ['expiresAt'], { where: "status = 'pending'" })
@Index('uq_approvals_tool_call', ['sessionId', 'toolCallId'], { unique: true })
export class ApprovalEntity {
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

  /** The assistant message whose tool call this is. */
  @Column({ name: 'message_id', type: 'uuid' })
  messageId: string;

  @ManyToOne(() => MessageEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'message_id' })
  message?: Relation<MessageEntity>;

  @Column({ name: 'tool_call_id', type: 'varchar', length: 200 })
  toolCallId: string;

  @Column({ name: 'tool_name', type: 'varchar', length: 100 })
  toolName: string;

  /** What the LLM asked for. */
  @Column({ type: 'jsonb' })
  arguments: Record<string, unknown>;

  /** What the person approved (differs from `arguments` after an edit). */
  @Column({ name: 'approved_arguments', type: 'jsonb', nullable: true })
  approvedArguments: Record<string, unknown> | null;

  @Column({ type: 'varchar', length: 20, default: 'pending' })
  status: ApprovalStatus;

  @Column({ type: 'text' })
  reason: string;

  @Column({ type: 'text', nullable: true })
  feedback: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'decided_at', type: 'timestamptz', nullable: true })
  decidedAt: Date | null;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;
}
