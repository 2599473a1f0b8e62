import type { ApprovalEntity } from '../../approvals/approval.entity.js';
import { toApprovalView } from '../../approvals/approvals.service.js';
import { usageOf } from '../../common/usage.js';
import type { MessageEntity } from '../../messages/message.entity.js';
import { toMessageView } from '../../messages/messages.service.js';
import type { DoneStatus, StreamErrorCode, TurnEvent } from './turn-event.js';

/** The event constructors: every event of a turn is built here, in the protocol's shapes. */
export const events = {
  turn: (turnId: string, sessionId: string, agent: string): TurnEvent => ({ type: 'turn', data: { turnId, sessionId, agent } }),

  agentSwitched: (from: string, to: string, reason: string): TurnEvent => ({ type: 'agent_switched', data: { from, to, reason } }),

  token: (delta: string): TurnEvent => ({ type: 'token', data: { delta } }),

  reasoning: (delta: string): TurnEvent => ({ type: 'reasoning', data: { delta } }),

  /** A committed message; see `commitMessages`, which sends these only after their transaction. */
  message: (message: MessageEntity): TurnEvent => ({ type: 'message', data: { message: toMessageView(message) } }),

  toolCall: (toolCallId: string, name: string, args: Record<string, unknown>): TurnEvent => ({
    type: 'tool_call',
    data: { toolCallId, name, arguments: args },
  }),

  approvalRequired: (approval: ApprovalEntity): TurnEvent => {
    const view = toApprovalView(approval);
    return {
      type: 'approval_required',
      data: {
        approvalId: view.id,
        toolCallId: view.toolCallId,
        name: view.toolName,
        arguments: view.arguments,
        reason: view.reason,
        expiresAt: view.expiresAt,
      },
    };
  },

  error: (code: StreamErrorCode, message: string): TurnEvent => ({ type: 'error', data: { code, message } }),

  /**
   * Only the turn's lifetime (`TurnLifetime`) sends this, once, after the turn's end has committed.
   * For a turn whose process died, recovery stores one built here (`deadTurnEvents` in `event-log.ts`).
   */
  done: (turnId: string, status: DoneStatus, usage: { input: number; output: number }): TurnEvent => {
    const used = usageOf(usage.input, usage.output);
    return { type: 'done', data: { turnId, status, ...(used ? { usage: used } : {}) } };
  },
};
