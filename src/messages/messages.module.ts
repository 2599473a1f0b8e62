import { Module } from '@nestjs/common';
import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import { ApprovalExpiry } from '../approvals/approval-expiry.js';
import { ApprovalsModule } from '../approvals/approvals.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { MessagesService } from './messages.service.js';
import { TurnRecovery } from './turn-recovery.js';
import { TurnRunner } from './turn-runner.js';
import { TurnsController } from './turns.controller.js';

/** Message history and the turn stream: the routes that answer SSE and the agent loop that drives the LLM. */
@Module({
  imports: [SessionsModule, ApprovalsModule],
  controllers: [TurnsController],
  providers: [
    MessagesService,
    ApprovalExpiry,
    TurnRunner,
    TurnRecovery,
    makeGaugeProvider({ name: 'sse_streams_active', help: 'Turn streams running now' }),
    makeHistogramProvider({
      name: 'sse_stream_duration_seconds',
      help: 'Duration of a turn stream, by outcome (the status of its done event)',
      labelNames: ['outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    }),
    makeCounterProvider({ name: 'turns_total', help: 'Turns ended, by status', labelNames: ['status'] }),
    makeCounterProvider({ name: 'session_busy_rejections_total', help: 'Turns refused with 409 because the session was running one' }),
  ],
  exports: [MessagesService, TurnRunner],
})
export class MessagesModule {}
