import { ParseUUIDPipe } from '@nestjs/common';
import { DomainError } from './domain-error.js';
import type { ErrorCode } from './error-codes.js';

/** A path parameter that must be a UUID: 400 with `code` and the parameter's name otherwise. */
export function uuidParam(name: string, code: ErrorCode, version?: '4'): ParseUUIDPipe {
  return new ParseUUIDPipe({
    version,
    exceptionFactory: () => new DomainError(code, `${name} must be a UUID`),
  });
}

/** `:id` of the session routes (sessions get version 4 ids). */
export const SessionIdPipe = uuidParam('id', 'bad_session_id', '4');
/** `:approvalId` of the decision route. */
export const ApprovalIdPipe = uuidParam('approvalId', 'bad_approval_id');
/** `:turnId` of a turn's stream. */
export const TurnIdPipe = uuidParam('turnId', 'bad_turn_id');
