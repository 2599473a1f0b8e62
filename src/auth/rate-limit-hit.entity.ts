import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * One rate-limit budget (an API key's, or a client address's) in its current window, shared by
 * every instance. The table is UNLOGGED (see the migration): counters need no crash safety, and
 * every request writes one.
 */
@Entity('rate_limit_hits')
@Index('idx_rate_limit_hits_window', ['windowEndsAt'])
export class RateLimitHitEntity {
  /** SHA-256 of the throttler's name and the tracker (`RateLimitGuard.generateKey`): no key in clear. */
  @PrimaryColumn({ type: 'char', length: 64 })
  key: string;

  @Column({ type: 'int' })
  hits: number;

  @Column({ name: 'window_ends_at', type: 'timestamptz' })
  windowEndsAt: Date;

  /** Set by the first request over the limit: every request is refused until then. */
  @Column({ name: 'blocked_until', type: 'timestamptz', nullable: true })
  blockedUntil: Date | null;
}
