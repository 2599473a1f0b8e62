import { createParser } from 'eventsource-parser';

/**
 * Reads a `text/event-stream` body, handing each event's `data` to `onData` as it is parsed (no
 * promise or async iterator per event: one `read()` per network chunk), and calling `onAlive` for
 * every chunk, comment keep-alives included. A last event without its blank line is handed on only
 * if it is `[DONE]` (a cut-off JSON chunk is a broken stream, not an unreadable one).
 * Whatever `onData` throws ends the read and cancels the body, which closes the connection.
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array> | null,
  onData: (data: string) => void,
  onAlive?: () => void,
): Promise<void> {
  if (!body) return;
  let ended = false;
  const parser = createParser({ onEvent: (event) => (!ended || isDone(event.data) ? onData(event.data) : undefined) });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onAlive?.();
      parser.feed(decoder.decode(value, { stream: true }));
    }
    finished = true;
    ended = true;
    parser.feed(`${decoder.decode()}\n\n`);
  } finally {
    if (!finished) reader.cancel().catch(() => undefined);
    else reader.releaseLock();
  }
}

/** `[DONE]`, the end marker of an OpenAI-compatible stream (some servers put spaces before it). */
export function isDone(data: string): boolean {
  return data.charCodeAt(0) !== 123 /* { */ && /^\s*\[DONE\]/.test(data);
}
