import type { Response } from 'express';
import { Observable } from 'rxjs';
import type { TurnEvent } from './turn-event.js';

const HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  // nginx and most proxies would otherwise buffer the stream.
  'X-Accel-Buffering': 'no',
};

/**
 * Writes a turn's events to the response as Server-Sent Events, each with an increasing `id:`, with a
 * `: ping` comment every `pingSeconds`. The status line goes out with the first event, so a turn refused
 * before it started answers with a JSON error instead. Writes made in one tick leave in one packet.
 * Completes once the response has ended; unsubscribing (the client left) stops the turn's events.
 */
export function writeEventStream(events$: Observable<TurnEvent>, res: Response, pingSeconds: number): Observable<null> {
  return new Observable<null>((subscriber) => {
    let nextId = 1;
    let corked = false;
    let ping: NodeJS.Timeout | undefined;
    let turnId = '';
    let finished = false;

    // Node 22 drops what was written while corked if end() comes in the same tick: uncork first.
    const uncork = () => {
      if (!corked) return;
      corked = false;
      res.uncork();
    };
    const write = (chunk: string) => {
      if (res.writableEnded || res.destroyed) return;
      if (!corked) {
        corked = true;
        res.cork();
        process.nextTick(uncork);
      }
      res.write(chunk);
    };
    const send = (event: TurnEvent) => {
      if (!res.headersSent) {
        res.writeHead(200, HEADERS);
        ping = setInterval(() => write(': ping\n\n'), pingSeconds * 1000);
        ping.unref();
      }
      if (event.type === 'turn') turnId = event.data.turnId;
      write(`id: ${nextId++}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
    };
    const end = () => {
      finished = true;
      clearInterval(ping);
      uncork();
      res.end();
      subscriber.next(null);
      subscriber.complete();
    };

    const subscription = events$.subscribe({
      next: send,
      error: (error: unknown) => {
        if (!res.headersSent) {
          // Nothing was sent yet: the exception filters answer with the error's status and JSON.
          finished = true;
          subscriber.error(error);
          return;
        }
        send({ type: 'error', data: { code: 'internal_error', message: 'The turn failed unexpectedly.' } });
        send({ type: 'done', data: { turnId, status: 'failed' } });
        end();
      },
      complete: end,
    });
    return () => {
      clearInterval(ping);
      subscription.unsubscribe();
      if (!finished && !res.writableEnded) {
        uncork();
        res.end();
      }
    };
  });
}
