import { Injectable } from '@nestjs/common';
import { ApprovalsService } from '../../approvals/approvals.service.js';
import { MessagesService, NewMessage, unansweredCalls } from '../../messages/messages.service.js';
import { titleFrom } from '../../sessions/sessions.service.js';
import { commitMessages, type Turn } from '../turn.js';
import { RouteMessage } from './route-message.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';

const NOT_RUN_AFTER_NEW_MESSAGE = 'Not run: the user sent a new message before this tool call was answered.';

/**
 * Stores the user's message — first closing tool calls still waiting for a result or a decision,
 * so the history stays valid for any OpenAI-compatible API — then routes it.
 */
@Injectable()
export class TakeUserMessage {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly messages: MessagesService,
    private readonly approvals: ApprovalsService,
    private readonly route: RouteMessage,
  ) {}

  async run(turn: Turn, content: string, agentType?: string): Promise<'continue'> {
    const message: NewMessage = { role: 'user', content, turnId: turn.id, agent: turn.agent };
    // Read outside the write: the lease keeps every other turn, result and decision off this session.
    // The same read then serves the first LLM step.
    const history = await this.messages.history(turn.sessionId);
    const unanswered = unansweredCalls(history);
    const title = titleFrom(content);
    const saved = unanswered.length
      ? await commitMessages(this.txHost, turn, 'save_user_message', async () => {
          // Calls held for approval are outstanding calls too: the user moved on without deciding.
          await this.approvals.close(turn.sessionId, 'all');
          const closing: NewMessage[] = unanswered.map((call) => ({
            role: 'tool',
            toolCallId: call.id,
            content: NOT_RUN_AFTER_NEW_MESSAGE,
            turnId: turn.id,
            agent: turn.agent,
          }));
          return this.messages.append(turn.sessionId, [...closing, message], title);
        })
      : await commitMessages(this.txHost, turn, 'save_user_message', () => this.messages.append(turn.sessionId, [message], title), true);
    turn.history = [...history, ...saved];
    await this.route.run(turn, content, agentType);
    return 'continue';
  }
}
