import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { Observable } from 'rxjs';
import { Settings } from '../../config/settings.js';
import { SessionLease } from '../../sessions/session-lease.js';
import { sessionWrites } from '../../sessions/session-writes.js';
import { events } from '../protocol/events.js';
import type { DoneStatus, StampedEvent } from '../protocol/turn-event.js';
import type { Kickoff, StopReason, Turn } from '../turn.js';
import { AgentLoop } from './agent-loop.js';
import { FailurePolicy } from './failure-policy.js';
import { EventLog } from '../event-log/event-log.js';
import { spanOf } from '../event-log/event-ids.js';
import { LocalTurns } from '../event-log/local-turns.js';
import { IdempotencyKeys } from '../../idempotency/idempotency-keys.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';
import { inTurnSpan } from '../turn-span.js';

/**
 * A turn's stream from its first event to its last: `turn` first, then the kick-off and the agent
 * loop, the failure policy when they throw, the turn's end committed (`finish_turn`: status, usage,
 * lease released), and only then `done` — sent here and nowhere else. A stop (SIGTERM) interrupts the
 * running turns within SHUTDOWN_TIMEOUT_MS.
 */
@Injectable()
export class TurnLifetime implements BeforeApplicationShutdown {
  private readonly logger = new Logger(TurnLifetime.name);
  /** This process's turns and the promise of each one's end. */
  private readonly running = new Map<string, { turn: Turn; work: Promise<unknown> }>();

  constructor(
    private readonly txHost: TransactionHost,
    private readonly settings: Settings,
    private readonly lease: SessionLease,
    private readonly loop: AgentLoop,
    private readonly failures: FailurePolicy,
    private readonly eventLog: EventLog,
    private readonly local: LocalTurns,
    private readonly keys: IdempotencyKeys,
    @InjectMetric('sse_streams_active') private readonly streamsActive: Gauge<string>,
    @InjectMetric('sse_stream_duration_seconds') private readonly streamDuration: Histogram<string>,
    @InjectMetric('turns_total') private readonly turnsTotal: Counter<string>,
  ) {}

  /** The turn's events; the work starts when the stream is subscribed and is kept until it has ended. */
  stream(turn: Turn, kickoff: Kickoff): Observable<StampedEvent> {
    return new Observable<StampedEvent>((subscriber) => {
      // Once the client has left (unsubscribed) the events are still stored and told, for whoever joins.
      const deliver = (event: StampedEvent) => {
        turn.events.sent(event);
        subscriber.next(event);
      };
      this.local.add(turn.id, turn.events);
      turn.emit = (event) => deliver(turn.events.record(event));
      this.lease.hold(turn.id, { sessionId: turn.sessionId, stop: (reason) => turn.stop.abort(reason) });
      this.streamsActive.inc();
      // The turn's writes go to its stream's Unit of Work wherever the subscription runs.
      const work = this.txHost
        .within(turn.uow, () => inTurnSpan(turn, () => this.drive(turn, kickoff, deliver)))
        .finally(() => {
          this.local.remove(turn.id);
          this.running.delete(turn.id);
          this.lease.forget(turn.id);
          this.streamsActive.dec();
        });
      this.running.set(turn.id, { turn, work });
      turn.uow.keepOpenUntil(work).then(
        () => subscriber.complete(),
        (error: unknown) => subscriber.error(error),
      );
    });
  }

  /**
   * Ends the turn in the database in one statement: its status and usage, the released lease, and
   * its last events with `done`. Returns `done`, to be sent once this has committed.
   */
  async finish(turn: Turn, status: DoneStatus, error?: string): Promise<StampedEvent> {
    if (turn.endedElsewhere) return this.endedElsewhere(turn);
    this.turnsTotal.inc({ status });
    const rest = await turn.events.drain();
    const done = turn.events.stamp(events.done(turn.id, status, turn.usage));
    const last = [...rest, done];
    try {
      await this.txHost.statement('finish_turn', async () => {
        const params: unknown[] = [turn.sessionId, turn.id, status, turn.usage.input || null, turn.usage.output || null, error ?? null];
        const save = this.eventLog.insertSql(turn.id, { firstId: last[0].id, lastId: done.id, events: last }, params);
        await this.txHost.tx.query(
          `WITH finished AS (
             UPDATE turns SET status = $3, prompt_tokens = $4, completion_tokens = $5, error = $6, finished_at = now() WHERE id = $2)
           , released AS (${sessionWrites.releaseLease({ session: '$1', turn: '$2' })})
           ${save}`,
          params,
        );
      });
    } finally {
      turn.events.written();
    }
    this.eventLog.stored(turn.id, done.id);
    return done;
  }

  /**
   * The end of a lapsed turn that the sweep or a new turn's start recorded: its events not stored yet
   * go in below the `done` recorded for it, which is the one its client gets.
   */
  private async endedElsewhere(turn: Turn): Promise<StampedEvent> {
    const rest = await turn.events.drain();
    try {
      if (rest.length > 0) {
        await this.txHost.statement('store_last_events', async () => {
          const params: unknown[] = [];
          const row = { firstId: rest[0].id, lastId: rest[rest.length - 1].id, events: rest };
          await this.txHost.tx.query(this.eventLog.insertSql(turn.id, row, params), params);
        });
        this.eventLog.stored(turn.id, rest[rest.length - 1].id);
      }
    } finally {
      turn.events.written();
    }
    return { ...events.done(turn.id, 'interrupted', { input: 0, output: 0 }), id: spanOf(turn.seq).last };
  }

  /** Ends a turn refused before its stream started (its input could not be stored); its key may be used again. */
  async refuse(turn: Turn, reason: string): Promise<void> {
    await this.finish(turn, 'failed', reason);
    if (turn.idempotency) await this.keys.forget(turn.owner, turn.idempotency.key);
  }

  /**
   * A stop (SIGTERM) interrupts the running turns: each stores its partial answer, records itself
   * `interrupted`, releases its lease and ends its stream with `done{interrupted}` — within the bound.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const running = [...this.running.values()];
    if (running.length === 0) return;
    this.logger.warn({
      msg: 'stopping: interrupting running turns',
      count: running.length,
      turns: running.map(({ turn }) => ({ turnId: turn.id, sessionId: turn.sessionId, agent: turn.agent })),
    });
    for (const { turn } of running) turn.stop.abort('shutdown' satisfies StopReason);
    let settled = 0;
    const ended = await Promise.race([
      Promise.allSettled(running.map(({ work }) => work.finally(() => settled++))).then(() => true),
      sleep(this.settings.SHUTDOWN_TIMEOUT_MS, false, { ref: false }),
    ]);
    this.logger.warn({
      msg: ended ? 'running turns interrupted and recorded' : 'stop timed out with turns running',
      recorded: settled,
      cut: running.length - settled,
    });
  }

  /**
   * Waits, at most `ms`, for this process's turn on the session to end when it is already stopping
   * (its client left, or it was cancelled); true once it has ended.
   */
  async stoppedTurnEnded(sessionId: string, ms: number): Promise<boolean> {
    const turnId = this.lease.localTurnOf(sessionId);
    const running = turnId ? this.running.get(turnId) : undefined;
    if (!turnId || !running?.turn.signal.aborted) return false;
    await Promise.race([running.work.catch(() => undefined), sleep(ms, undefined, { ref: false })]);
    return !this.running.has(turnId);
  }

  private async drive(turn: Turn, kickoff: Kickoff, deliver: (event: StampedEvent) => void): Promise<DoneStatus> {
    turn.emit(events.turn(turn.id, turn.sessionId, turn.agent));
    let status: DoneStatus;
    let error: string | undefined;
    try {
      const next = await kickoff(turn);
      status = next === 'continue' ? await this.loop.run(turn) : next;
      // A stop that came while the last writes committed still ends the turn as stopped.
      turn.signal.throwIfAborted();
    } catch (failure) {
      ({ status, error } = await this.failures.settle(turn, failure));
    }
    let done: StampedEvent;
    try {
      done = await this.finish(turn, status, error);
    } catch (failure) {
      this.logger.error({ msg: 'could not record the end of a turn', turnId: turn.id, error: (failure as Error).message });
      if (status !== 'failed') turn.emit(events.error('database_unavailable', 'The turn could not be recorded.'));
      status = 'failed';
      done = turn.events.stamp(events.done(turn.id, status, turn.usage));
    }
    deliver(done);
    this.streamDuration.observe({ outcome: status }, (performance.now() - turn.startedAt) / 1000);
    return status;
  }
}
