import { createParser } from 'eventsource-parser';
import type { SseEvent } from './sse.js';

/** What one request of a client got: the events that arrived, and whether the connection broke before the stream ended. */
export interface Attempt {
  status: number;
  events: SseEvent[];
  cut: boolean;
  /** The body of a refusal (no stream). */
  refusal?: string;
  /** The refusal came from the balancer itself (HAProxy's HTML 503 while it saw no backend ready), not from an instance. */
  balancer?: boolean;
}

/**
 * One streaming request that keeps what arrived when the connection breaks (an instance killed
 * under it), as a client must to resume; `onEvent` sees each event as it comes.
 */
export async function attempt(url: string, init: RequestInit, onEvent?: (event: SseEvent) => void): Promise<Attempt> {
  const events: SseEvent[] = [];
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { Accept: 'text/event-stream', ...init.headers } });
  } catch {
    return { status: 0, events, cut: true };
  }
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/event-stream')) {
    const balancer = res.status === 503 && type.startsWith('text/html');
    return { status: res.status, events, cut: false, refusal: await res.text().catch(() => undefined), balancer };
  }
  const parser = createParser({
    onEvent: (message) => {
      const event = { id: message.id, event: message.event, data: JSON.parse(message.data) } as SseEvent;
      events.push(event);
      onEvent?.(event);
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  } catch {
    return { status: res.status, events, cut: true };
  }
  return { status: res.status, events, cut: events.at(-1)?.event !== 'done' };
}

/**
 * A turn as a careful client runs it through a load balancer: POST with an Idempotency-Key; when
 * the connection breaks, the session's stream after the last event it has (GET .../stream with
 * Last-Event-ID), or the same POST again when it has none; until `done`.
 */
export async function turnToTheEnd(
  baseUrl: string,
  sessionId: string,
  body: Record<string, unknown>,
  key: string,
  onEvent?: (event: SseEvent) => void,
): Promise<{ attempts: Attempt[]; events: SseEvent[] }> {
  const attempts: Attempt[] = [];
  const events: SseEvent[] = [];
  const json = { 'Content-Type': 'application/json', 'Idempotency-Key': key };
  for (let i = 0; i < 10 && events.at(-1)?.event !== 'done'; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    const last = events.at(-1)?.id;
    const next =
      last === undefined
        ? await attempt(
            `${baseUrl}/v1/sessions/${sessionId}/messages`,
            { method: 'POST', headers: json, body: JSON.stringify(body) },
            onEvent,
          )
        : await attempt(`${baseUrl}/v1/sessions/${sessionId}/stream`, { headers: { 'Last-Event-ID': last } }, onEvent);
    attempts.push(next);
    events.push(...next.events);
  }
  return { attempts, events };
}
