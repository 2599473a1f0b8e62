import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ATTR_DB_SYSTEM_NAME, ATTR_ERROR_TYPE, DB_SYSTEM_NAME_VALUE_POSTGRESQL } from '@opentelemetry/semantic-conventions';
import { rollbackReason } from './transaction-errors.js';

const tracer = trace.getTracer('agent-runtime/unit-of-work');

/**
 * Runs a micro-transaction as a client span named by its operation (`start_turn`, …), retries
 * included, with `transaction.name` and, when it rolled back, the reason as `error.type`: never
 * its SQL or parameters. Only inside a traced request or turn: background work has no trace.
 */
export function inTransactionSpan<T>(operation: string, kind: 'transaction' | 'statement', work: () => Promise<T>): Promise<T> {
  if (!trace.getActiveSpan()) return work();
  const attributes = { [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL, 'transaction.name': operation, 'transaction.kind': kind };
  return tracer.startActiveSpan(operation, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      return await work();
    } catch (error) {
      span.setAttribute(ATTR_ERROR_TYPE, rollbackReason(error));
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs background work outside any trace. A timer set during a request runs in its context: the
 * lease renewal every second, or the event writer's batch of many turns' events, would otherwise
 * become spans of whichever request first started them.
 */
export function untraced<T>(work: () => T): T {
  return context.with(ROOT_CONTEXT, work);
}
