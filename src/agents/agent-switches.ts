import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { DataSource, EntityManager } from 'typeorm';
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
    private readonly dataSource: DataSource,
    @InjectMetric('agent_switches_total') private readonly switches: Counter<string>,
  ) {}

  /** Records a switch and makes `to` the session's agent, in the caller's micro-transaction. */
  async record(m: EntityManager, change: AgentSwitch): Promise<void> {
    await m.insert(AgentSwitchEntity, {
      sessionId: change.sessionId,
      turnId: change.turnId,
      fromAgent: change.from,
      toAgent: change.to,
      reason: change.reason,
    });
    await m.query(`UPDATE sessions SET current_agent = $2, updated_at = now() WHERE id = $1`, [change.sessionId, change.to]);
  }

  /** Counted once the switch has committed. */
  counted(change: AgentSwitch): void {
    this.switches.inc({ from: change.from, to: change.to });
  }

  async history(sessionId: string): Promise<Array<{ from: string; to: string; reason: string; at: Date }>> {
    const rows = await this.dataSource.manager.find(AgentSwitchEntity, { where: { sessionId }, order: { createdAt: 'ASC', id: 'ASC' } });
    return rows.map((r) => ({ from: r.fromAgent, to: r.toAgent, reason: r.reason, at: r.createdAt }));
  }
}
