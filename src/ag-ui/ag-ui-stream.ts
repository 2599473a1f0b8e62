import type { BaseEvent } from '@ag-ui/core';
import { EventEncoder } from '@ag-ui/encoder';
import type { Response } from 'express';
import { concatMap, from, Observable } from 'rxjs';
import { SSE_PING } from '../turns/protocol/sse-frame.js';
import type { RunEvent } from './turn-sequence.js';
import type { EventTranslation, RunEnding } from './event-translation.js';

/** Turn events → AG-UI events; the last `done` waits for what the run's end reports from the database. */
function translated(events$: Observable<RunEvent>, translation: EventTranslation, ending: () => Promise<RunEnding>): Observable<BaseEvent> {
  return events$.pipe(
    concatMap(async (event) => {
      if (event.type !== 'done' || !translation.open) return translation.next(event);
      try {
        return translation.end(event.data.status, event.data.usage, await ending());
      } catch {
        return translation.fail('database_unavailable', 'The end of the run could not be read.');
      }
    }),
    concatMap((events) => from(events)),
  );
}

/**
 * Writes a run's AG-UI events to the response with `@ag-ui/encoder`, which picks the format from
 * `Accept`: Server-Sent Events, or the protocol's length-prefixed protobuf when the client asks for
 * `application/vnd.ag-ui.event+proto`. As with the native stream, the status line goes out with the
 * first event (a refusal before it is a JSON error), SSE pings keep proxies from closing an idle
 * stream, and unsubscribing (the client left) stops the turn.
 */
export function writeAgUiStream(
  events$: Observable<RunEvent>,
  translation: EventTranslation,
  ending: () => Promise<RunEnding>,
  res: Response,
  accept: string | undefined,
  pingSeconds: number,
): Observable<null> {
  const encoder = new EventEncoder({ accept });
  const sse = encoder.getContentType() === 'text/event-stream';
  return new Observable<null>((subscriber) => {
    let ping: NodeJS.Timeout | undefined;
    let finished = false;
    const write = (chunk: string | Uint8Array) => {
      if (!res.writableEnded && !res.destroyed) res.write(chunk);
    };
    const send = (event: BaseEvent) => {
      if (!res.headersSent) {
        res.writeHead(200, {
          'Content-Type': encoder.getContentType(),
          'Cache-Control': 'no-cache, no-transform',
          Connection: 'keep-alive',
          'X-Accel-Buffering': 'no',
        });
        if (sse) {
          ping = setInterval(() => write(SSE_PING), pingSeconds * 1000);
          ping.unref();
        }
      }
      write(encoder.encodeBinary(event));
    };
    const end = () => {
      finished = true;
      clearInterval(ping);
      res.end();
      subscriber.next(null);
      subscriber.complete();
    };
    const subscription = translated(events$, translation, ending).subscribe({
      next: send,
      error: (error: unknown) => {
        if (!res.headersSent) {
          finished = true;
          subscriber.error(error);
          return;
        }
        for (const event of translation.fail('internal_error', 'The turn failed unexpectedly.')) send(event);
        end();
      },
      complete: end,
    });
    return () => {
      clearInterval(ping);
      subscription.unsubscribe();
      if (!finished && !res.writableEnded) res.end();
    };
  });
}
