/**
 * The SDK floor: the floor's turn (`floor-shared.ts`) with the LLM stream read by the official
 * `openai` SDK, as the service's OpenAI provider reads it. Beside the bare floor it shows what the
 * SDK costs.
 */
import OpenAI from 'openai';
import { llmSettings, serveFloor } from './floor-shared.js';

const llm = new OpenAI({ baseURL: llmSettings.baseUrl, apiKey: llmSettings.apiKey, timeout: 120_000 });

await serveFloor('floor-sdk-server', async (content, signal, onDelta) => {
  const stream = await llm.chat.completions.create(
    { model: llmSettings.model, messages: [{ role: 'user', content }], stream: true, stream_options: { include_usage: true } },
    { signal },
  );
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta?.content;
    if (delta) onDelta(delta);
  }
});
