import { Injectable } from '@nestjs/common';
import { ApprovalExpiry } from '../../approvals/approval-expiry.js';
import type { ApprovalEntity } from '../../approvals/approval.entity.js';
import { ApprovalsService, Decision } from '../../approvals/approvals.service.js';
import { DomainError } from '../../common/domain-error.js';
import type { MessageEntity } from '../../messages/message.entity.js';
import { MessagesService, NewMessage } from '../../messages/messages.service.js';
import { isUniqueViolation } from '../../unit-of-work/transaction-errors.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';
import { events } from '../protocol/events.js';
import type { Kickoff, Turn } from '../turn.js';
import { AwaitResults } from './await-results.js';
import { TurnLifetime } from './turn-lifetime.js';

export interface ToolResultInput {
  toolCallId: string;
  output?: string;
  error?: string;
}

export interface DecisionInput {
  decision: Decision;
  arguments?: Record<string, unknown>;
  feedback?: string;
}

/** A decision whose approval admission has found. */
export interface CheckedDecision {
  approval: ApprovalEntity;
  input: DecisionInput;
}

function resultContent(input: ToolResultInput): string {
  return input.error !== undefined ? `Error: ${input.error}${input.output ? `\n${input.output}` : ''}` : (input.output ?? '');
}

/**
 * Stores a turn's answers to what its session waits for — tool results the client ran, decisions on
 * held calls; one on the native routes, any number from one AG-UI run — in one micro-transaction
 * before the stream starts, so that a refusal is still a JSON error and a run is all taken or none.
 * Approved and edited calls then go to the client; once nothing is outstanding the agent goes on.
 */
@Injectable()
export class TakeAnswers {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly messages: MessagesService,
    private readonly approvals: ApprovalsService,
    private readonly expiry: ApprovalExpiry,
    private readonly results: AwaitResults,
    private readonly lifetime: TurnLifetime,
  ) {}

  async run(turn: Turn, results: ToolResultInput[], decisions: CheckedDecision[]): Promise<Kickoff> {
    let taken: { stored: MessageEntity[]; decided: ApprovalEntity[] };
    try {
      taken = await this.txHost.transaction(decisions.length ? 'update_approval' : 'save_tool_result', () =>
        this.store(turn, results, decisions),
      );
    } catch (error) {
      await this.lifetime.refuse(turn, 'answer refused');
      if (isUniqueViolation(error)) {
        const calls = results.map((r) => r.toolCallId).join(', ');
        throw new DomainError('tool_result_exists', `a result for tool call ${calls} is stored already`);
      }
      throw error;
    }
    for (const approval of taken.decided) this.approvals.decisionCounted(approval);
    const toClient = taken.decided.filter((a) => a.status !== 'rejected');
    // Committed already; told once the stream is open.
    return async (t) => {
      for (const message of taken.stored) t.emit(events.message(message));
      for (const a of toClient) t.emit(events.toolCall(a.toolCallId, a.toolName, a.approvedArguments ?? a.arguments));
      // A call just sent to the client is outstanding: the turn waits, without reading the history again.
      return toClient.length ? this.results.waitingStatus(t) : this.results.afterResults(t);
    };
  }

  private async store(
    turn: Turn,
    results: ToolResultInput[],
    decisions: CheckedDecision[],
  ): Promise<{ stored: MessageEntity[]; decided: ApprovalEntity[] }> {
    const by = { turnId: turn.id, agent: turn.agent };
    // Other approvals of the same answer that expired are closed first, or the LLM would wait for them forever.
    const expired = await this.expiry.closeExpired(turn.sessionId, by);
    const replies: NewMessage[] = results.map((r) => ({ role: 'tool', toolCallId: r.toolCallId, content: resultContent(r), ...by }));
    const decided: ApprovalEntity[] = [];
    for (const { approval, input } of decisions) {
      decided.push(
        await this.approvals.decide(approval, input.decision, {
          approvedArguments: input.decision === 'edit' ? input.arguments : undefined,
          feedback: input.feedback,
        }),
      );
      if (input.decision === 'reject') {
        const content = `rejected by the user: ${input.feedback?.trim() || 'no reason given'}`;
        replies.push({ role: 'tool', toolCallId: approval.toolCallId, content, ...by });
      }
    }
    const stored = replies.length ? await this.messages.append(turn.sessionId, replies) : [];
    return { stored: [...expired, ...stored], decided };
  }
}
