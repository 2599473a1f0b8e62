import { Injectable } from '@nestjs/common';
import { events } from '../protocol/events.js';
import type { StampedEvent } from '../protocol/turn-event.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';
import { EventAnnouncer, TURN_EVENTS_CHANNEL } from './event-announcer.js';
import { messageWrites } from '../../messages/message-writes.js';
import { recoveredDoneIdSql, spanOf, TURN_SPAN } from './event-ids.js';
import { EventRow, TurnEventRecorder } from './turn-event-recorder.js';
import { EventWriter } from './event-writer.js';
import { eventsOfRows, storedEventsJson, type StoredEvent } from './stored-events.js';

/**
 * The stored events of turns (`turn_events`, owned by the turns module): the recorders whose rows
 * `EventWriter` stores behind the running turns, the SQL that the turn's end and the recovery of
 * dead turns embed, and replay. Each row, once committed, is announced to the other instances
 * (`EventAnnouncer`).
 */
@Injectable()
export class EventLog {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly announcer: EventAnnouncer,
    private readonly writer: EventWriter,
  ) {}

  /** The recorder of a turn that just started: `EventWriter` stores its rows. */
  recorder(turn: { id: string; seq: number }): TurnEventRecorder {
    return new TurnEventRecorder(turn.id, turn.seq, this.writer.wake);
  }

  /** An INSERT of `row` for `turnId`, its values appended to `params`: a statement of its own, or the end of a CTE. */
  insertSql(turnId: string, row: Omit<EventRow, 'turnId'>, params: unknown[]): string {
    const p = (value: unknown) => `$${params.push(value)}`;
    return `INSERT INTO turn_events (id, first_id, turn_id, events) VALUES (${p(row.lastId)}, ${p(row.firstId)}, ${p(turnId)}, ${p(storedEventsJson(row.events))}::jsonb)`;
  }

  /** Tells the other instances, once the row up to `lastId` has committed. */
  stored(turnId: string, lastId: number): void {
    this.announcer.stored(turnId, lastId);
  }

  /** The events of the turn `seq` after `after`, in order. */
  async read(seq: number, after: number): Promise<StampedEvent[]> {
    const { before, last } = spanOf(seq);
    // A turn's rows lie in its own range of ids: the primary key alone finds them.
    const rows: Array<{ first_id: string; events: StoredEvent[] }> = await this.txHost.tx.query(
      `SELECT first_id, events FROM turn_events WHERE id > $1 AND id <= $2 ORDER BY id`,
      [Math.max(after, before), last],
    );
    return eventsOfRows(rows, after);
  }
}

/**
 * The stored `events` of a dead turn's row, built by the protocol's constructor (`events.done`) and
 * stored as every row is (`storedEventsJson`), as a SQL literal whose `turnId` the statement fills in.
 */
const deadDoneEventsSql = `'${storedEventsJson([{ ...events.done('', 'interrupted', { input: 0, output: 0 }), id: 0 }]).replaceAll("'", "''")}'::jsonb`;

/**
 * SQL for the end of turns whose process died, for the turns the CTE `dead` returns (`id`, `seq`): a
 * CTE named `dead_done` that records `done{interrupted}` in each turn's kept slot; and an expression
 * that announces those rows (it must be selected for the notifications to go out).
 */
export const deadTurnEvents = {
  cte: `dead_done AS (
    INSERT INTO turn_events (id, first_id, turn_id, events)
    SELECT ${recoveredDoneIdSql('d.seq')}, ${recoveredDoneIdSql('d.seq')}, d.id,
           jsonb_set(${deadDoneEventsSql}, '{0,data,turnId}', to_jsonb(d.id))
    FROM dead d
    RETURNING id, turn_id)`,
  announced: `(SELECT count(pg_notify('${TURN_EVENTS_CHANNEL}', r.turn_id || ':' || r.id)) FROM dead_done r)`,
};

/**
 * A CTE named `dead_answers` that keeps, for each turn of the CTE `dead` (`id`, `seq`, `session_id`,
 * `agent`), the text it had streamed since its last stored message as an interrupted answer: its
 * stored `token` events (not what it sent after the last write behind the stream: every 100 ms,
 * later under load), unless an answer
 * stored after the last stored `message` event already holds it (events are stored behind the
 * stream: an answer's row may have committed before its event was stored). It returns a
 * `session_id` per message, which the caller counts on its session.
 */
export const deadTurnAnswers = {
  cte: `dead_partial AS (
    SELECT d.id AS turn_id, d.session_id, m.after_message,
           COALESCE((array_agg(x.ev->'data'->>'to' ORDER BY e.id DESC, x.n DESC) FILTER (WHERE jsonb_typeof(x.ev) = 'object' AND x.ev->>'type' = 'agent_switched'))[1], d.agent) AS agent,
           -- A token is stored as its bare delta (stored-events.ts), or as {type, data} in older rows.
           string_agg(CASE WHEN jsonb_typeof(x.ev) = 'string' THEN x.ev #>> '{}' ELSE x.ev->'data'->>'delta' END, '' ORDER BY e.id, x.n)
             FILTER (WHERE (jsonb_typeof(x.ev) = 'string' OR x.ev->>'type' = 'token') AND e.first_id + x.n > COALESCE(m.last_message, 0)) AS content
    FROM dead d
    JOIN turn_events e ON e.id > d.seq * ${TURN_SPAN} AND e.id < ${recoveredDoneIdSql('d.seq')}
    CROSS JOIN LATERAL jsonb_array_elements(e.events) WITH ORDINALITY AS x(ev, n)
    LEFT JOIN LATERAL (
      SELECT e2.first_id + y.n AS last_message, y.ev->'data'->'message'->>'id' AS after_message
      FROM turn_events e2 CROSS JOIN LATERAL jsonb_array_elements(e2.events) WITH ORDINALITY AS y(ev, n)
      WHERE e2.id > d.seq * ${TURN_SPAN} AND e2.id < ${recoveredDoneIdSql('d.seq')}
        AND jsonb_typeof(y.ev) = 'object' AND y.ev->>'type' = 'message'
      ORDER BY e2.id DESC, y.n DESC LIMIT 1) m ON true
    GROUP BY d.id, d.session_id, d.agent, m.last_message, m.after_message)
  , dead_answers AS (${messageWrites.interruptedAnswers('dead_partial')})`,
};
