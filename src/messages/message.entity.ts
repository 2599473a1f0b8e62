import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import type { ProviderState } from '../llm/llm-provider.js';
import { SessionEntity } from '../sessions/session.entity.js';
import { TurnEntity } from '../turns/turn.entity.js';

/** A tool call as OpenAI stores it: arguments are a JSON string. */
export interface StoredToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** What the LLM's context is built from: the columns of a message it needs. */
export type HistoryEntry = Pick<MessageEntity, 'role' | 'content' | 'toolCalls' | 'toolCallId'> & {
  /** What the answer's provider wants back with it (never its reasoning text). */
  providerState?: ProviderState | null;
};

/** One entry of the history. Append-only: turns insert rows and never rewrite them. */
@Entity('messages')
@Index('idx_messages_session_seq', ['sessionId', 'seq'])
@Index('uq_messages_tool_result', ['sessionId', 'toolCallId'], { unique: true, where: "role = 'tool'" })
export class MessageEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Conversation order; also the keyset of `?after=`. */
  @Column({ type: 'bigint', generatedIdentity: 'ALWAYS', generated: 'identity', insert: false, update: false })
  seq: string;

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

  @Column({ type: 'varchar', length: 20 })
  role: 'user' | 'assistant' | 'tool' | 'system';

  @Column({ type: 'text', nullable: true })
  content: string | null;

  @Column({ name: 'tool_calls', type: 'jsonb', nullable: true })
  toolCalls: StoredToolCall[] | null;

  @Column({ name: 'tool_call_id', type: 'varchar', length: 200, nullable: true })
  toolCallId: string | null;

  @Column({ type: 'varchar', length: 50, nullable: true })
  agent: string | null;

  @Column({ type: 'varchar', length: 20, default: 'complete' })
  status: 'complete' | 'interrupted';

  /** Extra facts about a message, e.g. the suggestions of a follow-up question. */
  @Column({ type: 'jsonb', nullable: true })
  metadata: Record<string, unknown> | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
