import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module.js';
import { ApprovalsModule } from '../approvals/approvals.module.js';
import { TurnsModule } from '../turns/turns.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { AgUiController } from './ag-ui.controller.js';
import { AgUiRuns } from './ag-ui-runs.js';

/** The AG-UI protocol endpoint (`POST /v1/ag-ui`, `POST /v1/ag-ui/agents/:agentType`) over the same turns. */
@Module({
  imports: [SessionsModule, MessagesModule, TurnsModule, ApprovalsModule, AgentsModule],
  controllers: [AgUiController],
  providers: [AgUiRuns],
})
export class AgUiModule {}
