import type { MessageView } from './message.dto.js';

export type DoneStatus = 'completed' | 'awaiting_tool_result' | 'awaiting_approval' | 'cancelled' | 'interrupted' | 'failed';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** The events of a turn's stream, in the design's names and shapes. */
export type TurnEvent =
  | { type: 'turn'; data: { turnId: string; sessionId: string; agent: string } }
  | { type: 'agent_switched'; data: { from: string; to: string; reason: string } }
  | { type: 'token'; data: { delta: string } }
  | { type: 'reasoning'; data: { delta: string } }
  | { type: 'message'; data: { message: MessageView } }
  | { type: 'tool_call'; data: { toolCallId: string; name: string; arguments: Record<string, unknown> } }
  | {
      type: 'approval_required';
      data: { approvalId: string; toolCallId: string; name: string; arguments: Record<string, unknown>; reason: string; expiresAt: Date };
    }
  | { type: 'error'; data: { code: string; message: string } }
  | { type: 'done'; data: { turnId: string; status: DoneStatus; usage?: Usage } };
