import { inspect } from 'node:util';

/**
 * Errors as they may be logged: no user content. A TypeORM QueryFailedError carries the statement's
 * parameters (a message's text), PostgreSQL's `detail` and `where` quote row values, and an LLM SDK
 * error carries the request and the provider's answer. So an error is logged by an allow-list of
 * fields that describe it, never by its own enumerable properties.
 */
export interface LoggedError {
  type: string;
  message: string;
  code?: string;
  status?: number;
  constraint?: string;
  table?: string;
  stack?: string;
  cause?: LoggedError | string;
}

// PostgreSQL ends some messages with the offending value: `invalid input syntax for type uuid: "…"`.
const QUOTED_VALUE = /(:\s*)"(?:[^"]|"")*"\s*$/;

export function redactText(text: string): string {
  return text.replace(QUOTED_VALUE, '$1[redacted]');
}

const pick = <T>(value: unknown, type: string): T | undefined => (typeof value === type ? (value as T) : undefined);

type ErrorLike = {
  name?: unknown;
  type?: unknown;
  message?: unknown;
  stack?: unknown;
  code?: unknown;
  status?: unknown;
  constraint?: unknown;
  table?: unknown;
  cause?: unknown;
  driverError?: Record<string, unknown>;
};

/** An Error, or what pino's standard serializer made of one (pino-http runs it before ours on `err`). */
export function redactError(error: unknown, depth = 0): LoggedError | string {
  if (typeof error === 'string') return redactText(error);
  if (typeof error !== 'object' || error === null || typeof (error as ErrorLike).message !== 'string') {
    return { type: typeof error, message: '[not an error]' };
  }
  const e = error as ErrorLike;
  const driver = e.driverError ?? {};
  const type = pick<string>(e.type, 'string') ?? (error instanceof Error ? error.constructor.name : 'Error');
  const message = redactText(e.message as string);
  // The stack's first lines repeat the unredacted message: only its frames are kept.
  const frames = pick<string>(e.stack, 'string')
    ?.split('\n')
    .filter((line) => /^\s+at /.test(line));
  return {
    type,
    message,
    code: pick<string>(driver.code, 'string') ?? pick<string>(e.code, 'string'),
    status: pick<number>(e.status, 'number'),
    constraint: pick<string>(driver.constraint, 'string') ?? pick<string>(e.constraint, 'string'),
    table: pick<string>(driver.table, 'string') ?? pick<string>(e.table, 'string'),
    stack: frames?.length ? [`${type}: ${message}`, ...frames].join('\n') : undefined,
    cause: e.cause !== undefined && depth < 3 ? redactError(e.cause, depth + 1) : undefined,
  };
}

const NON_ERROR_CHARS = 200;

/**
 * A thrown or rejected value that is not an Error, as it may be logged (at most 200 characters): a
 * primitive as it is (a string too: `reject('cancelled')` is a programming error's own words), an
 * object or a function by its shape only, since it could be a request body or an answer: its
 * strings by their lengths, nested objects and arrays unexpanded, its own `inspect` not called.
 */
export function describeNonError(value: unknown): string {
  const text =
    (typeof value === 'object' && value !== null) || typeof value === 'function'
      ? inspect(value, { depth: 0, maxStringLength: 0, maxArrayLength: 3, breakLength: Infinity, customInspect: false, getters: false })
      : inspect(value, { maxStringLength: NON_ERROR_CHARS, breakLength: Infinity });
  return text.length > NON_ERROR_CHARS ? `${text.slice(0, NON_ERROR_CHARS - 1)}…` : text;
}

/** pino serializers for the keys errors are logged under. */
export const errorSerializers = { err: (e: unknown) => redactError(e), error: (e: unknown) => redactError(e) };
