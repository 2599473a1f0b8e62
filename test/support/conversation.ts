import { expect } from 'expect';
import { postStream, SseEvent, StreamResult } from './sse.js';

export interface JsonAnswer {
  status: number;
  contentType: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** One JSON request over real HTTP; `body` is sent as given when it is a string. */
export async function api(baseUrl: string, method: string, path: string, body?: unknown): Promise<JsonAnswer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: kept as text for the assertion to show
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: parsed };
}

export async function createSession(baseUrl: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api(baseUrl, 'POST', '/v1/sessions', body);
  expect(res.status).toBe(201);
  return res.body.id as string;
}

/**
 * Starts a turn and resolves `reached` once `until` matches an event, while the stream goes on:
 * for acting on a session in the middle of its turn.
 */
export function streamInBackground(
  url: string,
  body: unknown,
  until: (event: SseEvent, events: SseEvent[]) => boolean,
): { reached: Promise<void>; result: Promise<StreamResult> } {
  let reachedResolve!: () => void;
  const reached = new Promise<void>((resolve) => (reachedResolve = resolve));
  const result = postStream(url, body, {
    stopWhen: (event, events) => {
      if (until(event, events)) reachedResolve();
      return false;
    },
  });
  // A stream that ends (or fails) first must not leave the test waiting for `reached` forever.
  void result.then(reachedResolve, reachedResolve);
  return { reached, result };
}

/** Stops at the first `count` tokens of a stream. */
export const afterTokens = (count: number) => (_event: SseEvent, events: SseEvent[]) =>
  events.filter((e) => e.event === 'token').length >= count;
