/**
 * The bare floor: the floor's turn (`floor-shared.ts`) with the LLM stream read as barely as Node
 * allows — the global `fetch` (undici), the body's bytes decoded and split into SSE events by
 * `eventsource-parser`, one `JSON.parse` per chunk. The benchmark's targets are against this one.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { llmSettings, serveFloor } from './floor-shared.js';

interface ChatChunk {
  choices?: Array<{ delta?: { content?: string | null } }>;
}

const url = `${llmSettings.baseUrl.replace(/\/$/, '')}/chat/completions`;
const headers = { 'content-type': 'application/json', authorization: `Bearer ${llmSettings.apiKey}` };

await serveFloor('floor-bare-server', async (content, signal, onDelta) => {
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      model: llmSettings.model,
      messages: [{ role: 'user', content }],
      stream: true,
      stream_options: { include_usage: true },
    }),
    signal,
  });
  if (!response.ok || !response.body) {
    throw new Error(`LLM answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  }
  const parser = createParser({
    onEvent(event: EventSourceMessage) {
      if (event.data === '[DONE]') return;
      const delta = (JSON.parse(event.data) as ChatChunk).choices?.[0]?.delta?.content;
      if (delta) onDelta(delta);
    },
  });
  const decoder = new TextDecoder();
  for await (const bytes of response.body) parser.feed(decoder.decode(bytes, { stream: true }));
});
