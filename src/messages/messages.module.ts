import { Module } from '@nestjs/common';
import { ApprovalExpiry } from '../approvals/approval-expiry.js';
import { ApprovalsModule } from '../approvals/approvals.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { MessagesController } from './messages.controller.js';
import { MessagesService } from './messages.service.js';

/** The message history: append-only rows in conversation order, and the route that pages through them. */
@Module({
  imports: [SessionsModule, ApprovalsModule],
  controllers: [MessagesController],
  providers: [MessagesService, ApprovalExpiry],
  exports: [MessagesService, ApprovalExpiry],
})
export class MessagesModule {}
