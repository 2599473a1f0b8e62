import { Logger } from '@nestjs/common';
import type { Response } from 'express';
import { Observable } from 'rxjs';
import { frameSse, SSE_PING, sseRetry } from './sse-frame.js';
import type { StampedEvent } from './turn-event.js';

const HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  // nginx and most proxies would otherwise buffer the stream.
  'X-Accel-Buffering': 'no',
};

const logger = new Logger('EventStream');

export interface StreamTiming {
  pingSeconds: number;
  retryMs: number;
}

/**
 * Writes events to the response as Server-Sent Events, each with its own `id:`, after a `retry:`
 * line, with a `: ping` comment every `pingSeconds`. The status line goes out with the first event
 * or the first ping, so a turn refused before it started answers with a JSON error instead, and a
 * stream that ends before either (nothing to replay) is a 204, which stops EventSource reconnecting.
 * The frames of one tick leave as one write. Completes once the response has ended; unsubscribing
 * (the client left) stops the events. The events, `done` last, come from the turn's lifetime or its
 * stored rows; this only frames and sends them.
 */
export function writeEventStream(events$: Observable<StampedEvent>, res: Response, timing: StreamTiming): Observable<null> {
  return new Observable<null>((subscriber) => {
    let finished = false;
    // The frames of one tick, sent as one write: one chunk of the chunked body, not one (and four
    // buffered pieces) per token.
    let queued = '';
    let scheduled = false;

    const flush = () => {
      scheduled = false;
      if (!queued) return;
      const chunk = queued;
      queued = '';
      if (!res.writableEnded && !res.destroyed) res.write(chunk);
    };
    const write = (chunk: string) => {
      if (res.writableEnded || res.destroyed) return;
      if (!res.headersSent) {
        res.writeHead(200, HEADERS);
        queued = sseRetry(timing.retryMs);
      }
      queued += chunk;
      if (!scheduled) {
        scheduled = true;
        process.nextTick(flush);
      }
    };
    const ping = setInterval(() => write(SSE_PING), timing.pingSeconds * 1000);
    ping.unref();
    const end = () => {
      finished = true;
      clearInterval(ping);
      flush();
      if (!res.headersSent) res.status(204);
      res.end();
      subscriber.next(null);
      subscriber.complete();
    };
    const subscription = events$.subscribe({
      next: (event) => write(frameSse(event)),
      error: (error: unknown) => {
        if (!res.headersSent) {
          // Nothing was sent yet: the exception filter answers with the error's status and JSON.
          finished = true;
          clearInterval(ping);
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
        flush();
        res.end();
      }
    };
  });
}
