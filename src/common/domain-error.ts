import type { ErrorCode } from './error-codes.js';

/** One field's problem in a refused request. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * A refusal the client can act on, by code. Services throw these; the one exception filter
 * (`errors/error.filter.ts`) gives each its HTTP status and the error body. `message` names the
 * problem for people and never carries internals.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: FieldProblem[],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
