import type { ErrorCode } from '../../common/error-codes.js';
import { LLM_ERROR_CODES } from '../../llm/llm-errors.js';
import type { MessageView } from '../../messages/message.dto.js';
import type { Usage } from '../../common/usage.js';
import type { DoneStatus } from '../../common/turn-statuses.js';

export type { DoneStatus };

/** The codes a stream's `error` event may carry: a part of the service's one list (`common/error-codes.ts`). */
export const STREAM_ERROR_CODES = [
  ...LLM_ERROR_CODES,
  'step_limit',
  'database_unavailable',
  'session_deleted',
  'internal_error',
] as const satisfies readonly ErrorCode[];
export type StreamErrorCode = (typeof STREAM_ERROR_CODES)[number];

export function isStreamErrorCode(code: string): code is StreamErrorCode {
  return (STREAM_ERROR_CODES as readonly string[]).includes(code);
}

export type { Usage };

/** The events of a turn's stream, in the design's names and shapes (dates go out as ISO strings). */
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
  | { type: 'error'; data: { code: StreamErrorCode; message: string } }
  | { type: 'done'; data: { turnId: string; status: DoneStatus; usage?: Usage } };

export type TurnEventType = TurnEvent['type'];
export type TurnEventData<T extends TurnEventType> = Extract<TurnEvent, { type: T }>['data'];

/** An event with its id: the SSE `id:`, increasing over the whole session (`event-log/event-ids.ts`). */
export type StampedEvent = TurnEvent & { id: number };
