import type { StampedEvent } from './turn-event.js';

/**
 * A comment line that keeps a quiet stream alive through proxies. It ends with ONE newline, never
 * with the blank line that ends an event: it then belongs to the next event's block, which every
 * parser ignores the comment of. `@microsoft/fetch-event-source` dispatches a message with empty
 * data for every blank line, a comment-only block included (clients' `JSON.parse` then throws).
 */
export const SSE_PING = ': ping\n';

/** The stream's first line: how long an EventSource waits before it reconnects. Also a field without its blank line, for the same reason. */
export function sseRetry(ms: number): string {
  return `retry: ${ms}\n`;
}

/** One event as Server-Sent Events bytes: `id:`, `event:` (the type) and one `data:` line of JSON. */
export function frameSse(event: StampedEvent): string {
  // JSON.stringify escapes newlines inside strings, so the data always fits on one line.
  // A token (nearly every event) is framed from its delta alone: a string is quicker to stringify than an object.
  const data = event.type === 'token' ? `{"delta":${JSON.stringify(event.data.delta)}}` : JSON.stringify(event.data);
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${data}\n\n`;
}
