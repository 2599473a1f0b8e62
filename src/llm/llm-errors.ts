import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { BrokenCircuitError } from 'cockatiel';

export type LlmErrorType = 'rate_limit' | 'server_error' | 'timeout' | 'connection' | 'circuit_open' | 'bad_request' | 'other';

/** A failed LLM call, with a message fit for the client (no internals). */
export class LlmError extends Error {
  constructor(
    readonly type: LlmErrorType,
    message: string,
  ) {
    super(message);
  }

  /** The `code` of the stream's `error` event. */
  get code(): string {
    return this.type === 'circuit_open' ? 'llm_unavailable' : this.type === 'timeout' ? 'llm_timeout' : 'llm_error';
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

export function classifyLlmError(error: unknown): LlmError {
  if (error instanceof LlmError) return error;
  if (error instanceof LlmStreamBrokeOff) return error.failure;
  if (error instanceof BrokenCircuitError) {
    return new LlmError('circuit_open', 'The LLM provider is failing and calls to it are paused for a while; try again shortly.');
  }
  if (error instanceof APIConnectionTimeoutError) return new LlmTimeoutError('The LLM did not answer in time.');
  if (error instanceof APIConnectionError) return new LlmError('connection', 'The LLM provider could not be reached.');
  if (error instanceof APIError) {
    const status = error.status ?? 0;
    if (status === 429) return new LlmError('rate_limit', 'The LLM provider is rate limiting requests (429).');
    if (status >= 500) return new LlmError('server_error', `The LLM provider failed (${status}).`);
    if (status === 408) return new LlmTimeoutError('The LLM provider timed out (408).');
    if (status >= 400) return new LlmError('bad_request', `The LLM provider refused the request (${status}).`);
    return new LlmError('connection', 'The LLM stream broke off.');
  }
  const code = (error as { code?: string })?.code;
  if (code && /^(ECONN|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR)/.test(code)) {
    return new LlmError('connection', 'The LLM provider could not be reached.');
  }
  return new LlmError('other', 'The LLM call failed.');
}

/** Worth another attempt, as long as no token has reached the user. */
export function isRetryable(error: LlmError): boolean {
  return ['rate_limit', 'server_error', 'timeout', 'connection'].includes(error.type);
}
