import { Injectable, Logger } from '@nestjs/common';
import type { StampedEvent, TurnEvent } from '../protocol/turn-event.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';
import type { UnitOfWork } from '../../unit-of-work/unit-of-work.js';
import { recoveredDoneIdSql, spanOf } from './event-ids.js';
import { EventRow, TurnEventRecorder } from './turn-event-recorder.js';

/** PostgreSQL refuses a notification payload of 8,000 bytes or more; a bigger row is announced without its events. */
const MAX_PAYLOAD_BYTES = 7_900;

/** What a notification on a turn's channel carries: the row's ids, and its events when they fit. */
export interface RowNotice {
  first: number;
  last: number;
  events?: TurnEvent[];
}

/** The channel on which the rows of one turn are announced (see `DatabaseNotifications`). */
export function channelOf(turnId: string): string {
  return `turn_events_${turnId.replaceAll('-', '')}`;
}

const CHANNEL_SQL = (turnId: string) => `'turn_events_' || replace(${turnId}::text, '-', '')`;

/** The events of stored rows with their ids (`first_id` + position), after `after`. */
export function eventsOfRows(rows: Array<{ first_id: string | number; events: TurnEvent[] }>, after: number): StampedEvent[] {
  return rows.flatMap((row) =>
    row.events.map((event, i) => ({ ...event, id: Number(row.first_id) + i }) as StampedEvent).filter((event) => event.id > after),
  );
}

/**
 * The stored events of turns (`turn_events`, owned by the turns module): rows written behind a
 * running turn, the SQL that the turn's end and the recovery of dead turns embed, and replay.
 * Every row is announced on its turn's channel (NOTIFY, sent at commit) for live followers.
 */
@Injectable()
export class EventLog {
  private readonly logger = new Logger(EventLog.name);

  constructor(private readonly txHost: TransactionHost) {}

  /** The recorder of a turn that just started: its rows are micro-transactions of the turn's Unit of Work. */
  recorder(turn: { id: string; seq: number; uow: UnitOfWork }): TurnEventRecorder {
    return new TurnEventRecorder(
      turn.seq,
      (row) =>
        this.txHost.within(turn.uow, () =>
          this.txHost.statement('save_events', async () => {
            const params: unknown[] = [];
            const save = this.saveRowSql(turn.id, row, params);
            await this.txHost.tx.query(`WITH ${save.cte} ${save.select}`, params);
          }),
        ),
      (error) =>
        this.logger.warn({
          msg: 'turn events not stored yet; tried again with the next',
          turnId: turn.id,
          error: (error as Error).message,
        }),
    );
  }

  /**
   * SQL that stores `row` for `turnId` and announces it: a CTE named `saved` (comma-free, to follow
   * `WITH` or a comma) and the final `SELECT`. Its values are appended to `params`.
   */
  saveRowSql(turnId: string, row: EventRow, params: unknown[]): { cte: string; select: string } {
    const events = row.events.map(({ type, data }) => ({ type, data }) as TurnEvent);
    const json = JSON.stringify(events);
    const notice = `{"first":${row.firstId},"last":${row.lastId},"events":${json}}`;
    const payload = Buffer.byteLength(notice) < MAX_PAYLOAD_BYTES ? notice : JSON.stringify({ first: row.firstId, last: row.lastId });
    const p = (value: unknown) => `$${params.push(value)}`;
    return {
      cte: `saved AS (INSERT INTO turn_events (id, first_id, turn_id, events) VALUES (${p(row.lastId)}, ${p(row.firstId)}, ${p(turnId)}, ${p(json)}::jsonb) RETURNING 1)`,
      select: `SELECT pg_notify(${p(channelOf(turnId))}, ${p(payload)}) FROM saved`,
    };
  }

  /** The events of the turn `seq` after `after`, in order. */
  async read(seq: number, after: number): Promise<StampedEvent[]> {
    const { before, last } = spanOf(seq);
    // A turn's rows lie in its own range of ids: the primary key alone finds them.
    const rows: Array<{ first_id: string; events: TurnEvent[] }> = await this.txHost.tx.query(
      `SELECT first_id, events FROM turn_events WHERE id > $1 AND id <= $2 ORDER BY id`,
      [Math.max(after, before), last],
    );
    return eventsOfRows(rows, after);
  }
}

/**
 * SQL for the end of turns whose process died: a CTE named `dead_done` that records
 * `done{interrupted}` in each turn's kept slot, for the turns the CTE `dead` returns (`id`, `seq`);
 * and an expression that announces those rows (it must be selected for the notifications to go out).
 */
export const deadTurnEvents = {
  cte: `dead_done AS (
    INSERT INTO turn_events (id, first_id, turn_id, events)
    SELECT ${recoveredDoneIdSql('d.seq')}, ${recoveredDoneIdSql('d.seq')}, d.id,
           jsonb_build_array(jsonb_build_object('type', 'done', 'data', jsonb_build_object('turnId', d.id, 'status', 'interrupted')))
    FROM dead d
    RETURNING id, first_id, turn_id, events)`,
  announced: `(SELECT count(pg_notify(${CHANNEL_SQL('r.turn_id')}, json_build_object('first', r.first_id, 'last', r.id, 'events', r.events)::text)) FROM dead_done r)`,
};
