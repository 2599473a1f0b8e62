import { Global, Module } from '@nestjs/common';
import { makeCounterProvider } from '@willsoto/nestjs-prometheus';
import { SessionsModule } from '../sessions/sessions.module.js';
import { AgentCatalog } from './agent-catalog.js';
import { AgentSwitches } from './agent-switches.js';
import { AgentsController } from './agents.controller.js';
import { SessionAgentController } from './session-agent.controller.js';
import { ToolCallCheck } from './tool-call-check.js';

/** Agent definitions, tools, routing and switching. Global: sessions and turns consult the catalog. */
@Global()
@Module({
  imports: [SessionsModule],
  controllers: [AgentsController, SessionAgentController],
  providers: [
    AgentCatalog,
    ToolCallCheck,
    AgentSwitches,
    makeCounterProvider({ name: 'agent_switches_total', help: 'Agent switches, by from and to agent', labelNames: ['from', 'to'] }),
  ],
  exports: [AgentCatalog, ToolCallCheck, AgentSwitches],
})
export class AgentsModule {}
