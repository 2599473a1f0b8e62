import { QueryFailedError } from 'typeorm';

/** Why a micro-transaction rolled back, as a bounded label value. */
export type RollbackReason =
  | 'serialization_failure'
  | 'deadlock'
  | 'connection_error'
  | 'foreign_key_violation'
  | 'unique_violation'
  | 'query_error'
  | 'stream_aborted'
  | 'other';

const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

function codeOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isConnectionError(error: unknown): boolean {
  const code = codeOf(error);
  if (code && CONNECTION_CODES.has(code)) return true;
  const message = (error as Error)?.message ?? '';
  // "timeout expired": pg's client gave up opening a connection (DB_CONNECT_TIMEOUT_MS).
  return /Connection terminated|connection timeout|timeout expired|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    message,
  );
}

export function rollbackReason(error: unknown): RollbackReason {
  switch (codeOf(error)) {
    case '40001':
      return 'serialization_failure';
    case '40P01':
      return 'deadlock';
    case '23503':
      return 'foreign_key_violation';
    case '23505':
      return 'unique_violation';
  }
  if (error instanceof StreamEndedError) return 'stream_aborted';
  if (isConnectionError(error)) return 'connection_error';
  if (error instanceof QueryFailedError) return 'query_error';
  return 'other';
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (codeOf(error) !== '23505') return false;
  if (!constraint) return true;
  const e = error as { constraint?: string; driverError?: { constraint?: string } };
  return (e.driverError?.constraint ?? e.constraint) === constraint;
}

/** The stream ended (client gone or failed) while this micro-transaction was under way: it is rolled back. */
export class StreamEndedError extends Error {
  constructor(operation: string) {
    super(`the stream ended before ${operation} could commit`);
  }
}

/** Database work where no Unit of Work (or, for a write, no micro-transaction) is active: a programming error. */
export class NoUnitOfWorkError extends Error {
  constructor(what: string) {
    super(
      `${what} outside a micro-transaction of a Unit of Work: run it in TransactionHost.transaction() or statement() ` +
        '(routes get their Unit of Work from the interceptor, background jobs from TransactionHost.run())',
    );
  }
}
