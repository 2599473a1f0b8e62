import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { AgUiModule } from './ag-ui/ag-ui.module.js';
import { AgentsModule } from './agents/agents.module.js';
import { ApprovalsModule } from './approvals/approvals.module.js';
import { AuthModule } from './auth/auth.module.js';
import { ConfigModule } from './config/config.module.js';
import { Settings } from './config/settings.js';
import { DatabaseModule } from './database/database.module.js';
import { ErrorsModule } from './errors/errors.module.js';
import { IdempotencyModule } from './idempotency/idempotency.module.js';
import { LlmModule } from './llm/llm.module.js';
import { MessagesModule } from './messages/messages.module.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { PlaygroundModule } from './playground/playground.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { TurnsModule } from './turns/turns.module.js';
import { UnitOfWorkModule } from './unit-of-work/unit-of-work.module.js';

@Module({})
export class AppModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(settings),
        DatabaseModule,
        ErrorsModule,
        ObservabilityModule,
        ScheduleModule.forRoot(),
        UnitOfWorkModule,
        AuthModule,
        IdempotencyModule,
        LlmModule,
        SessionsModule,
        AgentsModule,
        ApprovalsModule,
        MessagesModule,
        TurnsModule,
        AgUiModule,
        ...(settings.PLAYGROUND ? [PlaygroundModule] : []),
      ],
    };
  }
}
