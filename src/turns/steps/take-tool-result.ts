import { Injectable } from '@nestjs/common';
import { DomainError } from '../../common/domain-error.js';
import { ApprovalExpiry } from '../../approvals/approval-expiry.js';
import type { MessageEntity } from '../../messages/message.entity.js';
import { MessagesService } from '../../messages/messages.service.js';
import { isUniqueViolation } from '../../unit-of-work/transaction-errors.js';
import { events } from '../protocol/events.js';
import type { Kickoff, Turn } from '../turn.js';
import { AwaitResults } from './await-results.js';
import { TurnLifetime } from './turn-lifetime.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';

export interface ToolResultInput {
  toolCallId: string;
  output?: string;
  error?: string;
}

/** Stores a client's tool result before the stream starts (a refusal is still a JSON error), then goes on once all results are in. */
@Injectable()
export class TakeToolResult {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly messages: MessagesService,
    private readonly expiry: ApprovalExpiry,
    private readonly results: AwaitResults,
    private readonly lifetime: TurnLifetime,
  ) {}

  async run(turn: Turn, input: ToolResultInput): Promise<Kickoff> {
    const content = input.error !== undefined ? `Error: ${input.error}${input.output ? `\n${input.output}` : ''}` : (input.output ?? '');
    let stored: MessageEntity[];
    try {
      // Expired approvals of the same answer are closed first, or the LLM would wait for them forever.
      stored = await this.txHost.transaction('save_tool_result', async () => [
        ...(await this.expiry.closeExpired(turn.sessionId, { turnId: turn.id, agent: turn.agent })),
        ...(await this.messages.append(turn.sessionId, [
          { role: 'tool', content, toolCallId: input.toolCallId, turnId: turn.id, agent: turn.agent },
        ])),
      ]);
    } catch (error) {
      await this.lifetime.refuse(turn, 'tool result refused');
      if (isUniqueViolation(error)) {
        throw new DomainError('tool_result_exists', `tool call ${input.toolCallId} already has a result`);
      }
      throw error;
    }
    // Committed already; told once the stream is open.
    return async (t) => {
      for (const message of stored) t.emit(events.message(message));
      return this.results.afterResults(t);
    };
  }
}
