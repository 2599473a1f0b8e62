import { Injectable } from '@nestjs/common';
import { concat, from, Observable } from 'rxjs';
import { DomainError } from '../common/domain-error.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';
import { parseLastEventId, spanOf, turnSeqOf } from './event-log/event-ids.js';
import { EventFeed } from './event-log/event-feed.js';
import { EventLog } from './event-log/event-log.js';
import type { StampedEvent } from './protocol/turn-event.js';

interface TurnRow {
  id: string;
  seq: number;
  running: boolean;
}

const TURN_COLUMNS = `id, seq::float8 AS seq, status = 'running' AS running`;

/**
 * The streams a client joins or resumes (`GET .../stream`, `GET .../turns/:turnId/stream`, and the
 * repeat of an idempotent turn request): the stored events after `Last-Event-ID`, then the running
 * turn live until its `done`, from whichever instance runs it. An empty stream (nothing after the
 * id, the session never had a turn) is answered 204, which tells EventSource clients to stop.
 */
@Injectable()
export class TurnStreams {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly sessions: SessionsService,
    private readonly log: EventLog,
    private readonly feed: EventFeed,
  ) {}

  /** After `lastEventId`: every later event of the session; without it: the running turn's, or the last turn's. */
  async ofSession(owner: string, sessionId: string, lastEventId?: string): Promise<Observable<StampedEvent>> {
    await this.sessions.get(owner, sessionId);
    const after = await this.checkedAfter(sessionId, lastEventId);
    const turns: TurnRow[] =
      after === undefined
        ? await this.txHost.tx.query(`SELECT ${TURN_COLUMNS} FROM turns WHERE session_id = $1 ORDER BY seq DESC LIMIT 1`, [sessionId])
        : await this.txHost.tx.query(`SELECT ${TURN_COLUMNS} FROM turns WHERE session_id = $1 AND seq >= $2 ORDER BY seq`, [
            sessionId,
            turnSeqOf(after),
          ]);
    return this.streamOf(turns, after ?? 0);
  }

  /** One turn's events, after `lastEventId` when given. */
  async ofTurn(owner: string, sessionId: string, turnId: string, lastEventId?: string): Promise<Observable<StampedEvent>> {
    await this.sessions.get(owner, sessionId);
    const after = await this.checkedAfter(sessionId, lastEventId);
    const [turn]: TurnRow[] = await this.txHost.tx.query(`SELECT ${TURN_COLUMNS} FROM turns WHERE id = $1 AND session_id = $2`, [
      turnId,
      sessionId,
    ]);
    if (!turn) throw new DomainError('turn_not_found', `no turn ${turnId} in session ${sessionId}`);
    return this.streamOf([turn], after ?? 0);
  }

  /** The id as a position in this session: 400 when malformed, or when no turn of this session sent it. */
  private async checkedAfter(sessionId: string, raw: string | undefined): Promise<number | undefined> {
    const after = parseLastEventId(raw);
    if (after === undefined) return undefined;
    const [known] = await this.txHost.tx.query(`SELECT 1 FROM turns WHERE session_id = $1 AND seq = $2`, [sessionId, turnSeqOf(after)]);
    if (!known) throw new DomainError('unknown_last_event_id', `Last-Event-ID ${after} is not an event of session ${sessionId}`);
    return after;
  }

  /** Finished turns are read now (so that an empty answer is known before the status line); a running one is followed. */
  private async streamOf(turns: TurnRow[], after: number): Promise<Observable<StampedEvent>> {
    const parts: Array<Observable<StampedEvent>> = [];
    for (const turn of turns) {
      const start = Math.max(after, spanOf(turn.seq).before);
      if (turn.running) {
        parts.push(this.feed.follow(turn, start));
        continue;
      }
      const stored = await this.log.read(turn.seq, start);
      if (stored.length) parts.push(from(stored));
    }
    return concat(...parts);
  }
}
