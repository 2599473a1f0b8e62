import { createParser } from '/playground/vendor/eventsource-parser/index.js';
import { ApiError, send } from './api.js';

/** Re-attach attempts after a dropped stream before the page falls back to the stored history. */
const ATTEMPTS = 5;

/**
 * Calls `onEvent({id, event, data})` for each event of a `text/event-stream` response until its body
 * ends. A dropped connection just ends it; an error of `onEvent` (a bug of the page) is thrown.
 */
async function readEvents(response, onEvent, onRetry) {
  const parser = createParser({
    onEvent: (message) => onEvent({ id: message.id, event: message.event, data: JSON.parse(message.data) }),
    onRetry,
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch {
      return;
    }
    if (chunk.done) return;
    parser.feed(chunk.value);
  }
}

/** The session's running turn as a stream (durable turns): after `lastEventId` when given, else from the turn's first event. */
export function joinTurn(sessionId, { lastEventId, signal } = {}) {
  return send('GET', `/v1/sessions/${sessionId}/stream`, { accept: 'text/event-stream', lastEventId, signal });
}

/**
 * Follows a turn's stream to its `done`. When the connection drops first, it re-attaches with the
 * id of the last event seen (`Last-Event-ID`), so the service sends exactly the events after it.
 * Resolves `done`; `left` when the page stopped following (`signal`); or `lost` when the turn
 * cannot be joined (a service without the stream route answers 404): the caller then shows the
 * stored history instead.
 */
export async function followTurn(sessionId, response, onEvent, signal) {
  let lastEventId;
  let finished = false;
  let retryMs = 1000;
  const take = (event) => {
    // Ids increase over the session: one not after the last seen was already shown.
    if (lastEventId !== undefined && Number(event.id) <= Number(lastEventId)) return;
    if (event.id) lastEventId = event.id;
    if (event.event === 'done') finished = true;
    onEvent(event);
  };
  for (let stream = response; stream;) {
    await readEvents(stream, take, (ms) => (retryMs = ms));
    if (finished) return 'done';
    if (signal?.aborted) return 'left';
    stream = await rejoin(sessionId, lastEventId, retryMs, signal);
  }
  return 'lost';
}

/** The stream again after a drop: at once, then with growing pauses while the service cannot be reached. */
async function rejoin(sessionId, lastEventId, retryMs, signal) {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, retryMs * 2 ** (attempt - 1)));
    try {
      return await joinTurn(sessionId, { lastEventId, signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      const transient = error instanceof ApiError && (error.status === 0 || error.status === 429 || error.status >= 500);
      if (!transient) return undefined;
    }
  }
  return undefined;
}
