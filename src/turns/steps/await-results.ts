import { Injectable } from '@nestjs/common';
import { ApprovalsService } from '../../approvals/approvals.service.js';
import { MessagesService, unansweredCalls } from '../../messages/messages.service.js';
import type { DoneStatus } from '../protocol/turn-event.js';
import type { Turn } from '../turn.js';

/** Whether the agent may go on: every call of the latest answer has its result, or the turn waits. */
@Injectable()
export class AwaitResults {
  constructor(
    private readonly messages: MessagesService,
    private readonly approvals: ApprovalsService,
  ) {}

  /** `continue` (with the history read for the next step) once nothing is outstanding. */
  async afterResults(turn: Turn): Promise<DoneStatus | 'continue'> {
    const history = await this.messages.history(turn.sessionId);
    if (unansweredCalls(history).length) return this.waitingStatus(turn);
    turn.history = history;
    return 'continue';
  }

  async waitingStatus(turn: Turn): Promise<DoneStatus> {
    const pending = (await this.approvals.list(turn.sessionId, 'pending')).items;
    return pending.length > 0 ? 'awaiting_approval' : 'awaiting_tool_result';
  }
}
