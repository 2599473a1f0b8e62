import { HttpException } from '@nestjs/common';
import { Observable, Subscription } from 'rxjs';
import type { TurnEvent } from '../turns/protocol/turn-event.js';

/**
 * A later answer of the same input refused when its turn was to start (the session was taken meanwhile,
 * the interrupt was answered elsewhere): told as the run's error with the refusal's own code.
 */
export type RunEvent = TurnEvent | { type: 'refused'; data: { code: string; message: string } };

/** Statuses after which the next answer of the same input may still be taken. */
const GOES_ON = new Set(['awaiting_tool_result', 'awaiting_approval', 'completed']);

function refusalOf(error: unknown): RunEvent {
  const body = error instanceof HttpException ? (error.getResponse() as { code?: string; message?: string }) : undefined;
  return body?.code
    ? { type: 'refused', data: { code: body.code, message: body.message ?? body.code } }
    : { type: 'error', data: { code: 'internal_error', message: 'The turn failed unexpectedly.' } };
}

/**
 * One run's events when its input answers several things at once (two tool results, a result and a
 * decision): each answer is its own turn, started once the one before has ended, and only the last
 * turn's `done` reaches the client. A turn that fails, is cancelled or refused ends the sequence there.
 */
export function inSequence(first: Observable<TurnEvent>, rest: Array<() => Promise<Observable<TurnEvent>>>): Observable<RunEvent> {
  return new Observable<RunEvent>((subscriber) => {
    let current: Subscription | undefined;
    let stopped = false;
    const follow = (events$: Observable<TurnEvent>, remaining: typeof rest) => {
      let goesOn = remaining.length > 0;
      current = events$.subscribe({
        next: (event) => {
          if (event.type === 'done' && goesOn && GOES_ON.has(event.data.status)) return;
          if (event.type === 'done') goesOn = false;
          subscriber.next(event);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          if (!goesOn || stopped) return subscriber.complete();
          remaining[0]().then(
            (next) => {
              // Admitted after the client left: subscribed once so that it records its end and frees the session.
              if (stopped) next.subscribe().unsubscribe();
              else follow(next, remaining.slice(1));
            },
            (error: unknown) => {
              subscriber.next(refusalOf(error));
              subscriber.next({ type: 'done', data: { turnId: '', status: 'failed' } });
              subscriber.complete();
            },
          );
        },
      });
    };
    follow(first, rest);
    return () => {
      stopped = true;
      current?.unsubscribe();
    };
  });
}
