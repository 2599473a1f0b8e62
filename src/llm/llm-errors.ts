import { BrokenCircuitError } from 'cockatiel';
import { redactSecrets } from './redact-secrets.js';

/** What kind of failure, for retries, the breaker and `llm_errors_total{error_type}`. */
export type LlmErrorType =
  | 'rate_limit'
  | 'server_error'
  | 'timeout'
  | 'connection'
  | 'circuit_open'
  /** The provider refused this request (a 4xx): the request is at fault, not the provider. */
  | 'bad_request'
  /** The provider answered, but not a complete answer: cut at the output limit, or nothing at all. */
  | 'incomplete_answer'
  | 'other';

/** The `code`s of the stream's `error` event for the LLM: what the operator or user has to fix. */
export const LLM_ERROR_CODES = [
  'llm_error',
  'llm_timeout',
  'llm_unavailable',
  'llm_rate_limited',
  'llm_bad_request',
  'llm_context_too_long',
  'llm_tools_unsupported',
  'llm_auth_failed',
  'llm_model_not_found',
  'llm_output_truncated',
  'llm_content_filtered',
  'llm_empty_answer',
] as const;
export type LlmErrorCode = (typeof LLM_ERROR_CODES)[number];

const DEFAULT_CODE: Record<LlmErrorType, LlmErrorCode> = {
  rate_limit: 'llm_rate_limited',
  server_error: 'llm_error',
  timeout: 'llm_timeout',
  connection: 'llm_error',
  circuit_open: 'llm_unavailable',
  bad_request: 'llm_bad_request',
  incomplete_answer: 'llm_error',
  other: 'llm_error',
};

/** A failed LLM call: a message fit for the client (no internals), and the provider's own words for the logs. */
export class LlmError extends Error {
  readonly code: LlmErrorCode;
  /** The provider's own message, secrets removed: for the log line and the turn's stored error, never the client. */
  readonly detail?: string;
  readonly status?: number;

  constructor(
    readonly type: LlmErrorType,
    message: string,
    options: { code?: LlmErrorCode; detail?: string; status?: number } = {},
  ) {
    super(message);
    this.code = options.code ?? DEFAULT_CODE[type];
    this.detail = options.detail;
    this.status = options.status;
  }

  /** What the turn records as its error. */
  get recorded(): string {
    return this.detail ? `${this.message} Provider: ${this.detail}` : this.message;
  }
}

/** The stream closed without error but before the answer's end (no `[DONE]`, no stop reason). */
export class LlmStreamEndedEarly extends LlmError {
  constructor() {
    super('connection', 'The LLM stream ended before the answer was complete.');
  }
}

export class LlmTimeoutError extends LlmError {
  constructor(message: string) {
    super('timeout', message);
  }
}

/** The turn stopped (cancel, client gone, shutdown) while its call was being opened: says nothing of the provider. */
export class LlmCallAborted extends Error {}

/** A stream that failed after its first event: never retried, as the user has seen part of it. */
export class LlmStreamBrokeOff extends Error {
  constructor(readonly failure: LlmError) {
    super(failure.message);
  }
}

/** A provider's refusal or failure as the wire told it: an HTTP status (none inside a 200 stream), and the body's fields. */
export interface ProviderFailure {
  status?: number;
  /** `error.code` (OpenAI: `context_length_exceeded`, `invalid_api_key`, …). */
  code?: string;
  /** `error.type` (Anthropic: `overloaded_error`, `authentication_error`, …). */
  type?: string;
  message?: string;
}

const CONTEXT_TOO_LONG =
  /context[_ ]length|context window|maximum context|prompt is too long|too many tokens|input is too long|reduce the length|exceeds the (model'?s )?(max|context)/i;
const TOOLS_UNSUPPORTED =
  /does not support tools|tools? (are|is) not supported|support tool use|tool[_ ]?(use|calling|choice)[^.]*(not supported|unsupported|requires)|enable-auto-tool-choice|tool-call-parser/i;
const AUTH = /invalid_api_key|authentication|permission|unauthori[sz]ed|api key/i;
const RATE = /rate_limit|rate limit/i;

/** Maps a refusal or failure to what the turn should do and say; the same rules for every provider. */
export function providerError(failure: ProviderFailure, secrets: readonly string[] = []): LlmError {
  const { status } = failure;
  const words = `${failure.code ?? ''} ${failure.type ?? ''} ${failure.message ?? ''}`;
  const detail = failure.message ? redactSecrets(failure.message, secrets).slice(0, 500) : undefined;
  const said = (type: LlmErrorType, message: string, code?: LlmErrorCode) => new LlmError(type, message, { code, detail, status });
  const tag = status ? ` (${status})` : '';

  if (status === 429 || (!status && RATE.test(words))) return said('rate_limit', `The LLM provider is rate limiting requests${tag}.`);
  if (status === 408) return said('timeout', 'The LLM provider timed out (408).', 'llm_timeout');
  if ((status && status >= 500) || (!status && /overloaded|api_error|server_error/i.test(`${failure.type} ${failure.code}`))) {
    return said('server_error', status ? `The LLM provider failed (${status}).` : 'The LLM provider failed while answering.');
  }
  // From here on the provider refused this request: a 4xx, or an error event that says so.
  if (status === 413 || CONTEXT_TOO_LONG.test(words)) {
    return said(
      'bad_request',
      `The conversation is longer than the model's context window${tag}; start a new session or use a model with a longer context.`,
      'llm_context_too_long',
    );
  }
  if (TOOLS_UNSUPPORTED.test(words)) {
    return said(
      'bad_request',
      `The model or its server does not support tool calling${tag}; use a model that does (vLLM: --enable-auto-tool-choice --tool-call-parser).`,
      'llm_tools_unsupported',
    );
  }
  if (status === 401 || status === 403 || (!status && AUTH.test(words))) {
    return said('bad_request', `The LLM provider refused the API key${tag}; check LLM_API_KEY.`, 'llm_auth_failed');
  }
  if (status === 404 || /model_not_found|not_found_error/.test(words)) {
    return said('bad_request', `The LLM provider does not know the model${tag}; check LLM_MODEL and LLM_BASE_URL.`, 'llm_model_not_found');
  }
  if (status && status >= 400) return said('bad_request', `The LLM provider refused the request (${status}).`);
  // An error object inside a 200 stream that names nothing we know: the provider failed mid-answer.
  return said('server_error', 'The LLM provider failed while answering.');
}

export function classifyLlmError(error: unknown): LlmError {
  if (error instanceof LlmError) return error;
  if (error instanceof LlmStreamBrokeOff) return error.failure;
  if (error instanceof BrokenCircuitError) {
    return new LlmError('circuit_open', 'The LLM provider is failing and calls to it are paused for a while; try again shortly.');
  }
  // A connection cut mid-stream surfaces from fetch as TypeError('terminated') with the socket error as its cause.
  const code = (error as { code?: unknown })?.code ?? (error as { cause?: { code?: unknown } })?.cause?.code;
  if (typeof code === 'string' && /^(ECONN|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR)/.test(code)) {
    return new LlmError('connection', 'The LLM provider could not be reached.');
  }
  return new LlmError('other', 'The LLM call failed.');
}

/** Worth another attempt, as long as no token has reached the user. */
export function isRetryable(error: LlmError): boolean {
  return ['rate_limit', 'server_error', 'timeout', 'connection'].includes(error.type);
}

/** Says the provider is unhealthy (what a circuit breaker should count): never a refused request or an incomplete answer. */
export function isProviderFailure(error: LlmError): boolean {
  return isRetryable(error);
}
