import type { BaseEvent } from '@ag-ui/core';
import { AGUI_MEDIA_TYPE, EventEncoder } from '@ag-ui/encoder';
import type { Request, Response } from 'express';
import { concatMap, from, Observable } from 'rxjs';
import { DomainError } from '../common/domain-error.js';
import { SSE_PING } from '../turns/protocol/sse-frame.js';
import type { StampedEvent } from '../turns/protocol/turn-event.js';
import type { EventTranslation, RunEnding } from './event-translation.js';

const SSE = 'text/event-stream';

/**
 * The format of the answer, from `Accept` and its q-values: Server-Sent Events or the protocol's
 * protobuf, the two `@ag-ui/encoder` writes. SSE on a tie (any type accepted, or no header), where the encoder
 * itself would pick protobuf for anything that admits it; 406 when the client takes neither.
 */
export function negotiatedMediaType(req: Request): string {
  const chosen = req.accepts([SSE, AGUI_MEDIA_TYPE]);
  if (!chosen) {
    throw new DomainError('not_acceptable', `Accept: this endpoint answers ${SSE} or ${AGUI_MEDIA_TYPE}, and the request takes neither`);
  }
  return chosen;
}

/** Turn events → AG-UI events; the last `done` waits for what the run's end reports from the database. */
function translated(
  events$: Observable<StampedEvent>,
  translation: EventTranslation,
  ending: () => Promise<RunEnding>,
): Observable<BaseEvent> {
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
 * Writes a run's AG-UI events to the response with `@ag-ui/encoder`, in the negotiated format:
 * Server-Sent Events, or the protocol's length-prefixed protobuf. As with the native stream, the
 * status line goes out with the first event (a refusal before it is a JSON error), SSE pings keep
 * proxies from closing an idle stream, and unsubscribing (the client left) stops the turn unless it
 * was started with `onDisconnect: continue`.
 */
export function writeAgUiStream(
  events$: Observable<StampedEvent>,
  translation: EventTranslation,
  ending: () => Promise<RunEnding>,
  res: Response,
  mediaType: string,
  pingSeconds: number,
): Observable<null> {
  // Given the one type chosen, the encoder writes that one.
  const encoder = new EventEncoder({ accept: mediaType });
  const sse = encoder.getContentType() === SSE;
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
