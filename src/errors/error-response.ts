import type { FieldProblem } from '../common/domain-error.js';
import type { ErrorCode } from '../common/error-codes.js';

/** The one body of every 4xx and 5xx answer. */
export interface ErrorResponse {
  statusCode: number;
  code: ErrorCode;
  message: string;
  details?: FieldProblem[];
}

export function errorResponse(statusCode: number, code: ErrorCode, message: string, details?: FieldProblem[]): ErrorResponse {
  return { statusCode, code, message, ...(details?.length ? { details } : {}) };
}
