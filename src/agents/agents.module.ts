import { Module } from '@nestjs/common';
import { AgentCatalog } from './agent-catalog.js';
import { AgentsController } from './agents.controller.js';
import { ToolCallCheck } from './tool-call-check.js';

/** Agent definitions, tools, routing and switching. */
@Module({
  controllers: [AgentsController],
  providers: [AgentCatalog, ToolCallCheck],
  exports: [AgentCatalog, ToolCallCheck],
})
export class AgentsModule {}
