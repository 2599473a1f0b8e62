import { Module } from '@nestjs/common';
import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import { MessagesModule } from '../messages/messages.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ApprovalExpiry } from './approval-expiry.js';
import { ApprovalPolicy } from './approval-policy.js';
import { ApprovalsController } from './approvals.controller.js';
import { ApprovalsService } from './approvals.service.js';

/** The approval policy, pending approvals, decisions and expiry (which answers expired calls with tool messages). Owns `approvals`. */
@Module({
  imports: [SessionsModule, MessagesModule],
  controllers: [ApprovalsController],
  providers: [
    ApprovalPolicy,
    ApprovalsService,
    ApprovalExpiry,
    makeCounterProvider({ name: 'approvals_requested_total', help: 'Tool calls held for approval, by tool', labelNames: ['tool'] }),
    makeCounterProvider({
      name: 'approvals_decided_total',
      help: 'Approvals decided, by decision (approved, edited, rejected, expired)',
      labelNames: ['decision'],
    }),
    makeGaugeProvider({ name: 'approvals_pending', help: 'Approvals waiting for a person' }),
    makeHistogramProvider({
      name: 'approval_decision_seconds',
      help: 'Seconds from an approval request to its decision',
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
    }),
  ],
  exports: [ApprovalPolicy, ApprovalsService, ApprovalExpiry],
})
export class ApprovalsModule {}
