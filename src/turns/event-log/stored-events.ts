import type { StampedEvent, TurnEvent } from '../protocol/turn-event.js';

/**
 * An event as `turn_events.events` keeps it: a `token` as its bare delta (a JSON string), any other
 * event as `{type, data}`. Tokens are nearly every event of a turn; stored bare they take about a
 * fifth of the bytes to build, send, parse and write (`{"type":"token","data":{"delta":…}}` each before).
 * Rows written before this form, with tokens as objects, read the same.
 */
export type StoredEvent = string | TurnEvent;

/** The JSON array of `events` as a row stores them, built as text: no copy of an event to leave its id out. */
export function storedEventsJson(events: readonly StampedEvent[]): string {
  let json = '[';
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    if (i > 0) json += ',';
    json += event.type === 'token' ? JSON.stringify(event.data.delta) : JSON.stringify({ type: event.type, data: event.data });
  }
  return `${json}]`;
}

/** The events of stored rows with their ids (`first_id` + position), after `after`. */
export function eventsOfRows(rows: Array<{ first_id: string | number; events: StoredEvent[] }>, after: number): StampedEvent[] {
  const out: StampedEvent[] = [];
  for (const row of rows) {
    const first = Number(row.first_id);
    row.events.forEach((stored, i) => {
      const id = first + i;
      if (id <= after) return;
      out.push(typeof stored === 'string' ? { type: 'token', data: { delta: stored }, id } : ({ ...stored, id } as StampedEvent));
    });
  }
  return out;
}
