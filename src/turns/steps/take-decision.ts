import { Injectable } from '@nestjs/common';
import { ApprovalExpiry } from '../../approvals/approval-expiry.js';
import type { ApprovalEntity } from '../../approvals/approval.entity.js';
import { ApprovalsService, Decision } from '../../approvals/approvals.service.js';
import type { MessageEntity } from '../../messages/message.entity.js';
import { MessagesService } from '../../messages/messages.service.js';
import { events } from '../protocol/events.js';
import type { Kickoff, Turn } from '../turn.js';
import { AwaitResults } from './await-results.js';
import { TurnLifetime } from './turn-lifetime.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';

export interface DecisionInput {
  decision: Decision;
  arguments?: Record<string, unknown>;
  feedback?: string;
}

/**
 * Records a person's decision before the stream starts (a second decision is still a JSON 409):
 * approve or edit sends the call to the client, reject stores a tool message and the agent goes on.
 */
@Injectable()
export class TakeDecision {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly messages: MessagesService,
    private readonly approvals: ApprovalsService,
    private readonly expiry: ApprovalExpiry,
    private readonly results: AwaitResults,
    private readonly lifetime: TurnLifetime,
  ) {}

  async run(turn: Turn, approval: ApprovalEntity, input: DecisionInput): Promise<Kickoff> {
    let decided: ApprovalEntity;
    let results: MessageEntity[];
    try {
      ({ decided, results } = await this.txHost.transaction('update_approval', async () => {
        // Other approvals of the same answer that expired are closed first, or the LLM would wait for them forever.
        const expired = await this.expiry.closeExpired(turn.sessionId, { turnId: turn.id, agent: turn.agent });
        const decided = await this.approvals.decide(approval, input.decision, {
          approvedArguments: input.decision === 'edit' ? input.arguments : undefined,
          feedback: input.feedback,
        });
        if (input.decision !== 'reject') return { decided, results: expired };
        const rejection = await this.messages.append(turn.sessionId, [
          {
            role: 'tool',
            toolCallId: approval.toolCallId,
            turnId: turn.id,
            agent: turn.agent,
            content: `rejected by the user: ${input.feedback?.trim() || 'no reason given'}`,
          },
        ]);
        return { decided, results: [...expired, ...rejection] };
      }));
    } catch (error) {
      await this.lifetime.refuse(turn, 'decision refused');
      throw error;
    }
    this.approvals.decisionCounted(decided);
    return async (t) => {
      for (const message of results) t.emit(events.message(message));
      if (decided.status === 'rejected') return this.results.afterResults(t);
      t.emit(events.toolCall(decided.toolCallId, decided.toolName, decided.approvedArguments ?? decided.arguments));
      return this.results.waitingStatus(t);
    };
  }
}
