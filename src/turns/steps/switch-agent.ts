import { Injectable } from '@nestjs/common';
import { AgentSwitch, AgentSwitches } from '../../agents/agent-switches.js';
import { events } from '../protocol/events.js';
import type { Turn } from '../turn.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';

/** Hands the turn to another agent: recorded (`switch_agent`), then told as `agent_switched`. */
@Injectable()
export class SwitchAgent {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly switches: AgentSwitches,
  ) {}

  async run(turn: Turn, to: string, reason: string): Promise<void> {
    const change: AgentSwitch = { sessionId: turn.sessionId, turnId: turn.id, from: turn.agent, to, reason };
    await this.txHost.transaction('switch_agent', () => this.switches.record(change));
    this.switches.counted(change);
    turn.agent = to;
    turn.switches++;
    turn.emit(events.agentSwitched(change.from, to, reason));
  }
}
