import { LLM_ERROR_CODES } from '../llm/llm-errors.js';

/**
 * Every `code` the service answers with: in the JSON body of a 4xx/5xx, and in a stream's `error`
 * event (the subset in `turns/protocol/turn-event.ts`). One closed list; the HTTP status of each is
 * in `errors/http-status.ts`.
 */
export const ERROR_CODES = [
  // 400
  'bad_request',
  'invalid_input',
  'invalid_json',
  'bad_session_id',
  'bad_approval_id',
  'bad_cursor',
  'bad_turn_id',
  'bad_last_event_id',
  'unknown_last_event_id',
  'bad_idempotency_key',
  'unknown_agent',
  'invalid_arguments',
  'nothing_to_run',
  // 401, 404, 406
  'unauthorized',
  'not_found',
  'session_not_found',
  'approval_not_found',
  'tool_call_not_found',
  'turn_not_found',
  'not_acceptable',
  // 409, 410
  'session_busy',
  'tool_result_exists',
  'awaiting_approval',
  'approval_decided',
  'approval_expired',
  // 422
  'idempotency_key_reused',
  // 413, 429
  'payload_too_large',
  'rate_limited',
  // the service's or a dependency's trouble
  'shutting_down',
  'database_unavailable',
  'session_deleted',
  ...LLM_ERROR_CODES,
  'step_limit',
  'internal_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
