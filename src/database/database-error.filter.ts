import { ArgumentsHost, Catch, HttpException, Logger, ServiceUnavailableException } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { isConnectionError } from '../unit-of-work/transaction-errors.js';

/**
 * A database that cannot be reached is the service's trouble, not a bug: 503 with a message a client
 * can act on, instead of a 500. Every other error keeps Nest's answer (no stack, no SQL in bodies).
 */
@Catch()
export class DatabaseErrorFilter extends BaseExceptionFilter {
  private readonly logger = new Logger(DatabaseErrorFilter.name);

  override catch(exception: unknown, host: ArgumentsHost): void {
    if (!(exception instanceof HttpException) && isConnectionError(exception)) {
      this.logger.warn({ msg: 'database unavailable', error: (exception as Error).message });
      return super.catch(
        new ServiceUnavailableException({
          statusCode: 503,
          code: 'database_unavailable',
          message: 'the database is unavailable; retry shortly',
        }),
        host,
      );
    }
    super.catch(exception, host);
  }
}
