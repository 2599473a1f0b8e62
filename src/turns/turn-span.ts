import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { DoneStatus } from './protocol/turn-event.js';
import type { Turn } from './turn.js';

const tracer = trace.getTracer('agent-runtime/turns');

/**
 * Runs a turn's stream, from `turn` to `done`, as the active span `turn`: its LLM calls and
 * micro-transactions are its children, and it is the child of the request that started it (the
 * stream is subscribed inside the request's context, and AsyncLocalStorage carries that into the
 * work). Admission (`start_turn`) and what is stored before the stream belong to the request.
 */
export function inTurnSpan(turn: Turn, drive: () => Promise<DoneStatus>): Promise<DoneStatus> {
  const attributes = { 'session.id': turn.sessionId, 'turn.id': turn.id, 'turn.kind': turn.kind, 'turn.agent': turn.agent };
  return tracer.startActiveSpan('turn', { attributes }, async (span) => {
    try {
      const status = await drive();
      span.setAttributes({ 'turn.status': status, 'turn.steps': turn.steps });
      if (status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR });
      return status;
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}
