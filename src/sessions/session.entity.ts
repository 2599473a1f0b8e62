import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

/** A conversation. Its row also carries the turn lease: one turn at a time, across instances. */
@Entity('sessions')
@Index('idx_sessions_owner_activity', ['owner', 'lastActivityAt', 'id'], { where: 'deleted_at IS NULL' })
@Index('idx_sessions_idle', ['lastActivityAt'], { where: 'deleted_at IS NULL' })
export class SessionEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 200 })
  owner: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  title: string | null;

  @Column({ name: 'current_agent', type: 'varchar', length: 50 })
  currentAgent: string;

  @Column({ name: 'message_count', type: 'integer', default: 0 })
  messageCount: number;

  /** The turn holding the lease, if any; the lease is free when expired. */
  @Column({ name: 'active_turn_id', type: 'uuid', nullable: true })
  activeTurnId: string | null;

  @Column({ name: 'lease_expires_at', type: 'timestamptz', nullable: true })
  leaseExpiresAt: Date | null;

  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'last_activity_at', type: 'timestamptz', default: () => 'now()' })
  lastActivityAt: Date;
}
