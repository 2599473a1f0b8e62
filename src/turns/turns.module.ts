import { Module } from '@nestjs/common';
import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import { AgentsModule } from '../agents/agents.module.js';
import { ApprovalsModule } from '../approvals/approvals.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { EventAnnouncer } from './event-log/event-announcer.js';
import { EventFeed } from './event-log/event-feed.js';
import { EventWriter } from './event-log/event-writer.js';
import { LocalTurns } from './event-log/local-turns.js';
import { RemoteTail } from './event-log/remote-tail.js';
import { EventLog } from './event-log/event-log.js';
import { EventRetention } from './event-log/event-retention.js';
import { AdmitTurn } from './steps/admit-turn.js';
import { CheckTurnInput } from './steps/check-turn-input.js';
import { AgentLoop } from './steps/agent-loop.js';
import { AwaitResults } from './steps/await-results.js';
import { DispatchToolCalls } from './steps/dispatch-tool-calls.js';
import { FailurePolicy } from './steps/failure-policy.js';
import { RouteMessage } from './steps/route-message.js';
import { RunLlmStep } from './steps/run-llm-step.js';
import { SwitchAgent } from './steps/switch-agent.js';
import { TakeAnswers } from './steps/take-answers.js';
import { TakeUserMessage } from './steps/take-user-message.js';
import { TurnLifetime } from './steps/turn-lifetime.js';
import { TurnRecovery } from './turn-recovery.js';
import { TurnRunner } from './turn-runner.js';
import { TurnsController } from './turns.controller.js';
import { TurnStreams } from './turn-streams.js';
import { TurnStreamsController } from './turn-streams.controller.js';

/**
 * Turns: the routes that answer SSE, the runner and its steps (the agent loop), the stored events
 * and the streams that replay and follow them, and recovery of dead turns. Owns `turns` and `turn_events`.
 */
@Module({
  imports: [AgentsModule, IdempotencyModule, SessionsModule, MessagesModule, ApprovalsModule],
  controllers: [TurnsController, TurnStreamsController],
  providers: [
    TurnRunner,
    TurnStreams,
    EventLog,
    EventFeed,
    EventAnnouncer,
    EventWriter,
    LocalTurns,
    RemoteTail,
    EventRetention,
    CheckTurnInput,
    AdmitTurn,
    TurnLifetime,
    FailurePolicy,
    TakeUserMessage,
    TakeAnswers,
    AwaitResults,
    RouteMessage,
    SwitchAgent,
    AgentLoop,
    RunLlmStep,
    DispatchToolCalls,
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
  exports: [TurnRunner],
})
export class TurnsModule {}
