import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * An `Idempotency-Key` an owner sent, for 24 hours: what its first request was (a fingerprint of
 * its route and body) and what it made — a session, or a session's turn. No foreign keys: a key
 * outlives nothing it names by more than a day, and a deleted session answers 404 anyway.
 */
@Entity('idempotency_keys')
@Index('idx_idempotency_keys_created', ['createdAt'])
export class IdempotencyKeyEntity {
  @PrimaryColumn({ type: 'varchar', length: 200 })
  owner: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  key: string;

  /** SHA-256 of the first request's route and canonical body. */
  @Column({ type: 'char', length: 64 })
  fingerprint: string;

  @Column({ name: 'session_id', type: 'uuid' })
  sessionId: string;

  @Column({ name: 'turn_id', type: 'uuid', nullable: true })
  turnId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
