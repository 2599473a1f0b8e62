import type { TurnEvent } from './turn-event.js';

/** A comment line: EventSource clients ignore it, proxies see traffic. */
export const SSE_PING = ': ping\n\n';

/** One event as Server-Sent Events bytes: `id:`, `event:` (the type) and one `data:` line of JSON. */
export function frameSse(id: number, event: TurnEvent): string {
  // JSON.stringify escapes newlines inside strings, so the data always fits on one line.
  return `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
}
