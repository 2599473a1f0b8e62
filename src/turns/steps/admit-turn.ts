import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import { DomainError } from '../../common/domain-error.js';
import { EarlierRequest, IdempotencyClaim, IdempotencyKeys } from '../../idempotency/idempotency-keys.js';
import { ShutdownState } from '../../observability/shutdown-state.js';
import { SessionLease } from '../../sessions/session-lease.js';
import { sessionWrites } from '../../sessions/session-writes.js';
import { sessionBusy, SessionsService } from '../../sessions/sessions.service.js';
import type { Turn, TurnKind } from '../turn.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';
import { deadTurnAnswers, deadTurnEvents, EventLog } from '../event-log/event-log.js';
import { TurnLifetime } from './turn-lifetime.js';

/** How long a new turn waits for the turn its client just left (or cancelled) to close here. */
const STOPPED_TURN_WAIT_MS = 3_000;

/**
 * Admission: once `CheckTurnInput` has checked the route's input, the session's lease taken and the
 * turn recorded with one conditional statement (`start_turn`).
 */
@Injectable()
export class AdmitTurn {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly shutdown: ShutdownState,
    private readonly lease: SessionLease,
    private readonly sessions: SessionsService,
    private readonly lifetime: TurnLifetime,
    private readonly eventLog: EventLog,
    private readonly keys: IdempotencyKeys,
    @InjectMetric('session_busy_rejections_total') private readonly busyRejections: Counter<string>,
  ) {}

  /**
   * Takes the session's lease with one conditional UPDATE and records the turn: 404 or 409 before any
   * stream. With an `Idempotency-Key` the key is claimed in the same micro-transaction; a key another
   * request holds throws `RepeatedRequest` with what that request started.
   */
  async admit(owner: string, sessionId: string, kind: TurnKind, idempotency?: IdempotencyClaim, waited = false): Promise<Turn> {
    if (this.shutdown.stopping) {
      throw new DomainError('shutting_down', 'the service is stopping; retry on another instance');
    }
    const uow = this.txHost.unitOfWork;
    const id = randomUUID();
    // An unreachable database surfaces as 503 `database_unavailable` from the error filter.
    const started = idempotency
      ? await this.startClaimed(owner, sessionId, id, kind, idempotency)
      : await this.txHost.statement('start_turn', () => this.start(owner, sessionId, id, kind));
    if (!started) {
      // A client that posts right after leaving would otherwise get 409 while its abandoned turn stores what it had.
      if (!waited && (await this.lifetime.stoppedTurnEnded(sessionId, STOPPED_TURN_WAIT_MS)))
        return this.admit(owner, sessionId, kind, idempotency, true);
      await this.sessions.get(owner, sessionId); // 404 when it is gone
      // A request with the same key may have taken the session meanwhile: this one is its repeat.
      const earlier = idempotency && (await this.keys.find(owner, idempotency));
      if (earlier) throw new RepeatedRequest(earlier);
      this.busyRejections.inc();
      throw sessionBusy(sessionId);
    }
    if (started.dead) await this.keepDeadAnswers(started.dead);
    const stop = new AbortController();
    const seq = Number(started.seq);
    return {
      id,
      seq,
      owner,
      sessionId,
      agent: started.agent,
      kind,
      uow,
      stop,
      signal: AbortSignal.any([uow.signal, stop.signal]),
      emit: () => undefined,
      events: this.eventLog.recorder({ id, seq }),
      idempotency,
      usage: { input: 0, output: 0 },
      steps: 0,
      switches: 0,
      partial: '',
      reasoning: '',
      startedAt: performance.now(),
    };
  }

  /**
   * Keeps what the dead turns that `start_turn` ended had streamed. Its own statement, on this rare
   * path only, so that starting a turn never touches `messages`; a crash right before it loses only that text.
   */
  private async keepDeadAnswers(turnIds: string[]): Promise<void> {
    await this.txHost.statement('keep_dead_answers', () =>
      this.txHost.tx.query(
        `WITH dead AS (SELECT id, seq, session_id, agent FROM turns WHERE id = ANY($1::uuid[]))
         , ${deadTurnAnswers.cte}
         , counted AS (${sessionWrites.countStoredMessages('dead_answers')})
         SELECT count(*) FROM dead_answers`,
        [turnIds],
      ),
    );
  }

  /** The key and the turn in one transaction: the key claimed, or a repeat; the lease taken, or neither is kept. */
  private async startClaimed(owner: string, sessionId: string, id: string, kind: TurnKind, claim: IdempotencyClaim) {
    let repeatOf: EarlierRequest | undefined;
    try {
      const started = await this.txHost.transaction('start_turn', async () => {
        if (await this.keys.claim(owner, claim, { sessionId, turnId: id }))
          return (await this.start(owner, sessionId, id, kind)) ?? leaseTaken();
        repeatOf = await this.keys.find(owner, claim);
        return undefined;
      });
      if (repeatOf) throw new RepeatedRequest(repeatOf);
      return started;
    } catch (error) {
      if (error instanceof LeaseTaken) return undefined;
      throw error;
    }
  }

  /** The one statement that starts a turn: the lease, the end of a dead turn left running (with its `done`), the turn's row. */
  private async start(
    owner: string,
    sessionId: string,
    id: string,
    kind: TurnKind,
  ): Promise<{ agent: string; seq: string; dead: string[] | null } | undefined> {
    const rows: Array<{ agent: string; seq: string; dead: string[] | null }> = await this.txHost.tx.query(
      `WITH taken AS (${sessionWrites.takeLease({ session: '$1', turn: '$2', seconds: '$3', owner: '$4' })})
       , dead AS (
         -- A turn whose process died left its lease to expire; it is over.
         UPDATE turns SET status = 'interrupted', finished_at = now(), error = 'its lease expired'
         WHERE session_id = $1 AND status = 'running' AND EXISTS (SELECT 1 FROM taken)
         RETURNING id, seq, session_id, agent)
       , ${deadTurnEvents.cte}
       , started AS (
         INSERT INTO turns (id, session_id, kind, agent, status)
         SELECT $2, id, $5, current_agent, 'running' FROM taken
         RETURNING agent, seq)
       SELECT agent, seq, ${deadTurnEvents.announced} AS announced, (SELECT array_agg(id) FROM dead) AS dead FROM started`,
      [sessionId, id, this.lease.seconds, owner, kind],
    );
    return rows[0];
  }
}

/** Thrown inside `start_turn` to roll back a claimed key when the session was busy. */
class LeaseTaken extends Error {}
function leaseTaken(): never {
  throw new LeaseTaken('the session is busy');
}

/** The request repeats an earlier one with the same `Idempotency-Key`: its answer is that request's turn stream. */
export class RepeatedRequest extends Error {
  constructor(readonly earlier: EarlierRequest) {
    super('a repeat of an earlier request');
  }
}
