import { Module } from '@nestjs/common';
import { makeCounterProvider } from '@willsoto/nestjs-prometheus';
import { AgentsModule } from '../agents/agents.module.js';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { AgentSwitches } from './agent-switches.js';
import { SessionAgentController } from './session-agent.controller.js';
import { SessionLease } from './session-lease.js';
import { SessionRetention } from './session-retention.js';
import { SessionsController } from './sessions.controller.js';
import { SessionsService } from './sessions.service.js';

/**
 * Sessions (conversations): CRUD, listing, soft delete, expiry of idle sessions, the per-session turn
 * lease, and the session's agent with its switches. Owns `sessions` and `agent_switches`.
 */
@Module({
  imports: [AgentsModule, IdempotencyModule],
  controllers: [SessionsController, SessionAgentController],
  providers: [
    SessionsService,
    SessionLease,
    SessionRetention,
    AgentSwitches,
    makeCounterProvider({ name: 'agent_switches_total', help: 'Agent switches, by from and to agent', labelNames: ['from', 'to'] }),
  ],
  exports: [SessionsService, SessionLease, AgentSwitches],
})
export class SessionsModule {}
