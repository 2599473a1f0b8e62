import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Settings } from '../config/settings.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';

interface HeldLease {
  sessionId: string;
  /** Called when the turn must stop: cancelled from another instance, or the lease was lost. */
  stop: (reason: 'cancelled' | 'lease_lost') => void;
}

/**
 * One turn at a time per session, across instances: a lease on the session row (active turn id +
 * expiry) taken with one conditional UPDATE, renewed while the turn runs, released when it ends.
 * Nothing is held on a pooled connection; a crashed process's lease simply expires.
 * All of this process's leases are renewed by one statement a second, which also reads the cancel
 * requests of their turns, so a cancel posted to any instance stops the turn within a second.
 */
@Injectable()
export class SessionLease implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SessionLease.name);
  private readonly held = new Map<string, HeldLease>();
  private timer?: NodeJS.Timeout;
  private renewing = false;

  constructor(
    private readonly txHost: TransactionHost,
    private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.renewAll(), 1_000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * Locks the session row while no turn holds its lease, in the current micro-transaction; returns
   * its agent, or undefined when a turn runs. Orders work on an idle session against a turn starting.
   */
  async lockIfFree(sessionId: string): Promise<{ agent: string } | undefined> {
    const [free]: Array<{ agent: string }> = await this.txHost.tx.query(
      `SELECT s.current_agent AS agent FROM sessions s
       WHERE s.id = $1 AND (s.active_turn_id IS NULL OR s.lease_expires_at < now()) FOR UPDATE`,
      [sessionId],
    );
    return free;
  }

  get seconds(): number {
    return this.settings.SESSION_LEASE_SECONDS;
  }

  /** Starts renewing the lease of a turn that took it. */
  hold(turnId: string, lease: HeldLease): void {
    this.held.set(turnId, lease);
  }

  /** This process's running turn on a session, if any. */
  localTurnOf(sessionId: string): string | undefined {
    for (const [turnId, lease] of this.held) if (lease.sessionId === sessionId) return turnId;
    return undefined;
  }

  stopLocal(turnId: string, reason: 'cancelled' | 'lease_lost'): boolean {
    const lease = this.held.get(turnId);
    if (!lease) return false;
    lease.stop(reason);
    return true;
  }

  forget(turnId: string): void {
    this.held.delete(turnId);
  }

  private async renewAll(): Promise<void> {
    if (this.renewing || this.held.size === 0) return;
    this.renewing = true;
    const turnIds = [...this.held.keys()];
    try {
      const rows = await this.txHost.run('lease_renewal', () =>
        this.txHost.transaction('renew_leases', () =>
          this.txHost.tx.query(
            `WITH renewed AS (
               UPDATE sessions SET lease_expires_at = now() + make_interval(secs => $2)
               -- A lease that lapsed is not revived: the session may be another turn's by now, or
               -- the sweep may have ended this one; the turn stops (lease_lost) instead.
               WHERE active_turn_id = ANY($1::uuid[]) AND deleted_at IS NULL AND lease_expires_at > now()
               RETURNING active_turn_id)
             SELECT t.id, (r.active_turn_id IS NOT NULL) AS held, (t.cancel_requested_at IS NOT NULL) AS cancelled
             FROM turns t LEFT JOIN renewed r ON r.active_turn_id = t.id
             WHERE t.id = ANY($1::uuid[])`,
            [turnIds, this.seconds],
          ),
        ),
      );
      for (const row of rows as Array<{ id: string; held: boolean; cancelled: boolean }>) {
        if (row.cancelled) this.stopLocal(row.id, 'cancelled');
        else if (!row.held) this.stopLocal(row.id, 'lease_lost');
      }
    } catch (error) {
      this.logger.warn({ msg: 'lease renewal failed', error: (error as Error).message });
    } finally {
      this.renewing = false;
    }
  }
}
