import { DomainError } from '../../common/domain-error.js';

/**
 * Event ids: `turn seq × TURN_SPAN + n`, n counting a turn's events from 1. Turns take their `seq`
 * from one sequence and a session runs one turn at a time, so the ids of a session increase over
 * the whole session, across turns, reconnects and instances, and an id names its turn (and so its
 * session). The turn's last slot is kept for the `done` that recovery records for a turn whose
 * process died: it is above every id the turn may have sent (docs/decisions/0012-turn-events.md).
 */
export const TURN_SPAN = 1_000_000;

/** The slot of the `done{interrupted}` recorded for a dead turn, as a SQL expression of the turn's `seq`. */
export const recoveredDoneIdSql = (seq: string): string => `(${seq} * ${TURN_SPAN} + ${TURN_SPAN - 1})`;

export function eventIdOf(seq: number, n: number): number {
  if (n < 1 || n >= TURN_SPAN - 1) throw new Error(`a turn may send at most ${TURN_SPAN - 2} events`);
  return seq * TURN_SPAN + n;
}

/** The ids a turn may use: (before, last]. */
export function spanOf(seq: number): { before: number; last: number } {
  return { before: seq * TURN_SPAN, last: seq * TURN_SPAN + TURN_SPAN - 1 };
}

export function turnSeqOf(eventId: number): number {
  return Math.floor(eventId / TURN_SPAN);
}

/** `Last-Event-ID` as sent, or undefined when absent: 400 `bad_last_event_id` unless it is an id this service could have sent. */
export function parseLastEventId(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const id = /^\d{1,16}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(id) || id < TURN_SPAN) {
    throw new DomainError('bad_last_event_id', 'Last-Event-ID must be the id of an event this service sent');
  }
  return id;
}
