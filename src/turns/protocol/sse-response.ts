import { Logger } from '@nestjs/common';
import type { Response } from 'express';
import { Observable } from 'rxjs';
import { frameSse, SSE_PING } from './sse-frame.js';
import type { TurnEvent } from './turn-event.js';

const HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  // nginx and most proxies would otherwise buffer the stream.
  'X-Accel-Buffering': 'no',
};

const logger = new Logger('EventStream');

/**
 * Writes a turn's events to the response as Server-Sent Events, each with an increasing `id:`, with a
 * `: ping` comment every `pingSeconds`. The status line goes out with the first event, so a turn refused
 * before it started answers with a JSON error instead. Writes made in one tick leave in one packet.
 * Completes once the response has ended; unsubscribing (the client left) stops the turn's events.
 * The events themselves, `done` last, come from the turn's lifetime; this only frames and sends them.
 */
export function writeEventStream(events$: Observable<TurnEvent>, res: Response, pingSeconds: number): Observable<null> {
  return new Observable<null>((subscriber) => {
    let nextId = 1;
    let corked = false;
    let ping: NodeJS.Timeout | undefined;
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
        ping = setInterval(() => write(SSE_PING), pingSeconds * 1000);
        ping.unref();
      }
      write(frameSse(nextId++, event));
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
          // Nothing was sent yet: the exception filter answers with the error's status and JSON.
          finished = true;
          subscriber.error(error);
          return;
        }
        // The lifetime never fails a started stream (it ends it with `done`); if it did, the bytes stop here.
        logger.error({ msg: 'turn stream failed after it started', error: (error as Error).message });
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
