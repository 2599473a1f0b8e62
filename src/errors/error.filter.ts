import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError } from '../common/domain-error.js';
import { ERROR_CODES, type ErrorCode } from '../common/error-codes.js';
import { isConnectionError } from '../unit-of-work/transaction-errors.js';
import { errorResponse, type ErrorResponse } from './error-response.js';
import { codeForStatus, httpStatusOf } from './http-status.js';

/** An error from Express middleware (body-parser): a status and a type, no Nest exception. */
interface HttpError {
  status: number;
  type?: string;
  expose?: boolean;
  message: string;
}

function isHttpError(error: unknown): error is HttpError {
  const e = error as Partial<HttpError> | null;
  return typeof e?.status === 'number' && e.status >= 400 && e.status < 600 && typeof e.message === 'string';
}

function bodyParserError(error: unknown): ErrorResponse | undefined {
  switch ((error as { type?: unknown } | undefined)?.type) {
    case 'entity.parse.failed':
      return errorResponse(400, 'invalid_json', 'the body is not valid JSON');
    case 'entity.too.large':
      return errorResponse(413, 'payload_too_large', 'the body is larger than 1 MB');
    default:
      return undefined;
  }
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

/**
 * The one exception filter: every error becomes `{statusCode, code, message, details?}`. Domain
 * errors get the status of their code; Nest's and body-parser's HTTP errors a code for their status;
 * an unreachable database 503 `database_unavailable`; anything else 500 `internal_error`, logged
 * (message and stack only: an error's fields may hold SQL parameters, i.e. user text).
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(ErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const res = host.switchToHttp().getResponse<Response>();
    const body = this.toResponse(exception);
    if (res.headersSent) {
      // A stream already started; its bytes cannot become JSON any more.
      if (!res.writableEnded) res.end();
      return;
    }
    res.status(body.statusCode).json(body);
  }

  toResponse(exception: unknown): ErrorResponse {
    if (exception instanceof DomainError) {
      return errorResponse(httpStatusOf(exception.code), exception.code, exception.message, exception.details);
    }
    // Nest wraps body-parser's errors; its type says which.
    const parserError = bodyParserError(exception instanceof HttpException ? exception.cause : exception);
    if (parserError) return parserError;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const given = exception.getResponse() as { code?: unknown; message?: unknown } | string;
      const code = typeof given === 'object' && isErrorCode(given.code) ? given.code : codeForStatus(status);
      const message = typeof given === 'object' && typeof given.message === 'string' ? given.message : exception.message;
      return errorResponse(status, code, message);
    }
    if (isHttpError(exception)) {
      const code = codeForStatus(exception.status);
      return errorResponse(exception.status, code, exception.expose ? exception.message : code.replace(/_/g, ' '));
    }
    if (isConnectionError(exception)) {
      this.logger.warn({ msg: 'database unavailable', error: (exception as Error).message });
      return errorResponse(503, 'database_unavailable', 'the database is unavailable; retry shortly');
    }
    const error = exception instanceof Error ? exception : new Error(String(exception));
    this.logger.error({ msg: 'unhandled error', error: error.message, stack: error.stack });
    return errorResponse(500, 'internal_error', 'the service failed unexpectedly');
  }
}
