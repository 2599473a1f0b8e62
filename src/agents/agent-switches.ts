import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { sessionBusy, sessionNotFound } from '../sessions/sessions.service.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';
import { AgentSwitchEntity } from './agent-switch.entity.js';

export interface AgentSwitch {
  sessionId: string;
  turnId: string | null;
  from: string;
  to: string;
  reason: string;
}

/** Hand-overs between agents: stored in `agent_switches`, never by rewriting history. */
@Injectable()
export class AgentSwitches {
  constructor(
    private readonly txHost: TransactionHost,
    @InjectMetric('agent_switches_total') private readonly switches: Counter<string>,
  ) {}

  /** Records a switch and makes `to` the session's agent, in the current micro-transaction. */
  async record(change: AgentSwitch): Promise<void> {
    await this.txHost.tx.insert(AgentSwitchEntity, {
      sessionId: change.sessionId,
      turnId: change.turnId,
      fromAgent: change.from,
      toAgent: change.to,
      reason: change.reason,
    });
    await this.txHost.tx.query(`UPDATE sessions SET current_agent = $2, updated_at = now() WHERE id = $1`, [change.sessionId, change.to]);
  }

  /**
   * A switch by hand (`PUT .../agent`): refused while a turn runs, nothing recorded when the session
   * already has that agent. Returns the switch made, if any.
   */
  async switchByHand(owner: string, sessionId: string, to: string, reason?: string): Promise<AgentSwitch | undefined> {
    const change = await this.txHost.transaction('switch_agent', async () => {
      const [row] = await this.txHost.tx.query(
        `SELECT current_agent, (active_turn_id IS NOT NULL AND lease_expires_at > now()) AS busy
         FROM sessions WHERE id = $1 AND owner = $2 AND deleted_at IS NULL FOR UPDATE`,
        [sessionId, owner],
      );
      if (!row) throw sessionNotFound(sessionId);
      if (row.busy) throw sessionBusy(sessionId);
      if (row.current_agent === to) return undefined;
      const change: AgentSwitch = {
        sessionId,
        turnId: null,
        from: row.current_agent as string,
        to,
        reason: reason?.trim() || 'switched by the user',
      };
      await this.record(change);
      return change;
    });
    if (change) this.counted(change);
    return change;
  }

  /** Counted once the switch has committed. */
  counted(change: AgentSwitch): void {
    this.switches.inc({ from: change.from, to: change.to });
  }

  async history(sessionId: string): Promise<Array<{ from: string; to: string; reason: string; at: Date }>> {
    const rows = await this.txHost.tx.find(AgentSwitchEntity, { where: { sessionId }, order: { createdAt: 'ASC', id: 'ASC' } });
    return rows.map((r) => ({ from: r.fromAgent, to: r.toAgent, reason: r.reason, at: r.createdAt }));
  }
}
