import type { ErrorCode } from '../common/error-codes.js';

/** Codes of a failed LLM call: the provider's trouble, told in the stream, rarely over HTTP. */
type LlmCode = Extract<ErrorCode, `llm_${string}`>;

/** The HTTP status of each error code but the LLM's (see `httpStatusOf`). */
export const HTTP_STATUS: Readonly<Record<Exclude<ErrorCode, LlmCode>, number>> = {
  bad_request: 400,
  invalid_input: 400,
  invalid_json: 400,
  bad_session_id: 400,
  bad_approval_id: 400,
  bad_cursor: 400,
  bad_turn_id: 400,
  bad_last_event_id: 400,
  unknown_last_event_id: 400,
  bad_idempotency_key: 400,
  unknown_agent: 400,
  invalid_arguments: 400,
  nothing_to_run: 400,
  unauthorized: 401,
  not_found: 404,
  session_not_found: 404,
  approval_not_found: 404,
  tool_call_not_found: 404,
  turn_not_found: 404,
  not_acceptable: 406,
  session_busy: 409,
  tool_result_exists: 409,
  awaiting_approval: 409,
  approval_decided: 409,
  approval_expired: 410,
  idempotency_key_reused: 422,
  payload_too_large: 413,
  rate_limited: 429,
  shutting_down: 503,
  database_unavailable: 503,
  session_deleted: 404,
  step_limit: 500,
  internal_error: 500,
};

export function httpStatusOf(code: ErrorCode): number {
  if (!code.startsWith('llm_')) return HTTP_STATUS[code as Exclude<ErrorCode, LlmCode>];
  // A gateway's words: the provider did not answer in time, is paused by the circuit breaker, or failed.
  return code === 'llm_timeout' ? 504 : code === 'llm_unavailable' ? 503 : 502;
}

/** The code of an error that came with a status only (Nest's own exceptions, body-parser's). */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 404:
      return 'not_found';
    case 413:
      return 'payload_too_large';
    case 429:
      return 'rate_limited';
    case 503:
      return 'database_unavailable';
    default:
      return status >= 500 ? 'internal_error' : 'bad_request';
  }
}
