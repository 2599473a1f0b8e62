import { Module } from '@nestjs/common';
import { AgentCatalog } from './agent-catalog.js';
import { AgentsController } from './agents.controller.js';
import { ToolCallCheck } from './tool-call-check.js';

/** The agents this instance offers: definitions, tools, routing rules and the check of each tool call. Stateless: no table. */
@Module({
  controllers: [AgentsController],
  providers: [AgentCatalog, ToolCallCheck],
  exports: [AgentCatalog, ToolCallCheck],
})
export class AgentsModule {}
