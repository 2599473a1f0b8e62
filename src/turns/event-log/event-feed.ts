import { Injectable } from '@nestjs/common';
import { Observable, Subscriber } from 'rxjs';
import type { StampedEvent } from '../protocol/turn-event.js';
import { EventLog } from './event-log.js';
import { LocalTurns } from './local-turns.js';
import { RemoteTail } from './remote-tail.js';
import type { TurnEventRecorder } from './turn-event-recorder.js';

/** Sends events after `last` once each, in order, and completes after `done`. */
function sinkOf(subscriber: Subscriber<StampedEvent>, after: number) {
  const sink = {
    last: after,
    send(events: StampedEvent[]) {
      for (const event of events) {
        if (subscriber.closed || event.id <= sink.last) continue;
        sink.last = event.id;
        subscriber.next(event);
        if (event.type === 'done') subscriber.complete();
      }
    },
    fail: (error: unknown) => subscriber.error(error),
  };
  return sink;
}

/**
 * A running turn's events after `after`, until its `done`, wherever it runs. On this instance
 * they come from the turn itself: what it stored, what it has not stored yet, then what it sends.
 * On another one, from the database: the stored rows, then each row as it is announced
 * (`RemoteTail`). Ids are consecutive within a turn, so both ways send each event once, in order.
 */
@Injectable()
export class EventFeed {
  constructor(
    private readonly log: EventLog,
    private readonly local: LocalTurns,
    private readonly remote: RemoteTail,
  ) {}

  follow(turn: { id: string; seq: number }, after: number): Observable<StampedEvent> {
    return new Observable<StampedEvent>((subscriber) => {
      const sink = sinkOf(subscriber, after);
      const recorder = this.local.get(turn.id);
      let stop: (() => void) | undefined;
      if (recorder) {
        stop = this.followHere(turn.seq, recorder, sink);
      } else {
        this.remote.follow(turn, sink).then(
          (unfollow) => (subscriber.closed ? unfollow() : (stop = unfollow)),
          (error: unknown) => subscriber.error(error),
        );
      }
      return () => stop?.();
    });
  }

  private followHere(seq: number, recorder: TurnEventRecorder, sink: ReturnType<typeof sinkOf>): () => void {
    let caughtUp = false;
    const sentMeanwhile: StampedEvent[] = [];
    // In this order, in one tick: every event is then in the rows read, the unsaved ones, or told.
    const unwatch = recorder.watch((event) => (caughtUp ? sink.send([event]) : sentMeanwhile.push(event)));
    const unsaved = recorder.unsaved();
    this.log.read(seq, sink.last).then(
      (stored) => {
        const all = new Map([...stored, ...unsaved, ...sentMeanwhile].map((event) => [event.id, event]));
        sink.send([...all.values()].sort((a, b) => a.id - b.id));
        caughtUp = true;
      },
      (error: unknown) => sink.fail(error),
    );
    return unwatch;
  }
}
