import { createParser } from 'eventsource-parser';
import type { TurnEventData, TurnEventType } from '../../src/turns/protocol/turn-event.js';

/** A value as it arrives in JSON: dates are ISO strings. */
type Json<T> = T extends Date ? string : T extends Array<infer U> ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;

/** One parsed event, typed by the service's own `TurnEvent` union. */
export type SseEvent = { [K in TurnEventType]: { id?: string; event: K; data: Json<TurnEventData<K>> } }[TurnEventType];
export type SseEventOf<K extends TurnEventType> = Extract<SseEvent, { event: K }>;

export interface StreamResult {
  status: number;
  headers: Headers;
  /** The parsed events of an event stream. */
  events: SseEvent[];
  /** The JSON body of a refused request (no stream). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json?: any;
}

interface StreamOptions {
  headers?: Record<string, string>;
  stopWhen?: (event: SseEvent, events: SseEvent[]) => boolean;
  /** The client goes away when it aborts, events or not. */
  leave?: AbortSignal;
}

/**
 * A turn request over real HTTP, parsing the real SSE bytes. `stopWhen` ends the request early
 * (the client goes away) once an event matches.
 */
export function postStream(url: string, body: unknown, options: StreamOptions = {}): Promise<StreamResult> {
  return readStream(url, { method: 'POST', body: JSON.stringify(body), contentType: 'application/json' }, options);
}

/** A stream joined or resumed with GET (`.../stream`), read as `postStream` reads a turn's. */
export function getStream(url: string, options: StreamOptions = {}): Promise<StreamResult> {
  return readStream(url, { method: 'GET' }, options);
}

async function readStream(
  url: string,
  request: { method: string; body?: string; contentType?: string },
  options: StreamOptions,
): Promise<StreamResult> {
  const controller = new AbortController();
  let stop = false;
  options.leave?.addEventListener('abort', () => {
    stop = true;
    controller.abort();
  });
  const res = await fetch(url, {
    method: request.method,
    headers: { ...(request.contentType ? { 'Content-Type': request.contentType } : {}), Accept: 'text/event-stream', ...options.headers },
    body: request.body,
    signal: controller.signal,
  }).catch((error: unknown) => {
    if (stop) return undefined;
    throw error;
  });
  if (!res) return { status: 0, headers: new Headers(), events: [] };
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    const text = await res.text();
    if (res.status === 204) return { status: 204, headers: res.headers, events: [] };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, events: [], json };
  }
  const events: SseEvent[] = [];
  const parser = createParser({
    onEvent: (message) => {
      const event = { id: message.id, event: message.event ?? 'message', data: JSON.parse(message.data) } as SseEvent;
      events.push(event);
      if (options.stopWhen?.(event, events)) stop = true;
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (stop) {
        controller.abort();
        break;
      }
    }
  } catch (error) {
    if (!stop) throw error;
  }
  return { status: res.status, headers: res.headers, events };
}

export function eventsOf<K extends TurnEventType>(result: StreamResult, name: K): SseEventOf<K>[] {
  return result.events.filter((e): e is SseEventOf<K> => e.event === name);
}

/** The `done` event's data; a stream without one fails the test. */
export function doneOf(result: StreamResult): SseEventOf<'done'>['data'] {
  const done = eventsOf(result, 'done')[0];
  if (!done) throw new Error(`the stream ended without done (${result.status}, events: ${result.events.map((e) => e.event).join(', ')})`);
  return done.data;
}

/** Polls until `check` returns a truthy value (for effects that land after a response). */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
