import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionTool } from 'openai/resources/chat/completions';
import { Settings } from '../config/settings.js';
import { LlmEvent, LlmProvider, LlmRequest, LlmToolCall } from './llm-provider.js';

/** Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, LiteLLM) through the official SDK. */
export class OpenAiProvider extends LlmProvider {
  readonly name: string;
  readonly model: string;
  private readonly client: OpenAI;

  constructor(settings: Settings) {
    super();
    this.model = settings.LLM_MODEL;
    const url = new URL(settings.LLM_BASE_URL!);
    this.name = url.hostname === 'api.openai.com' ? 'openai' : 'openai_compatible';
    // Retries and timeouts are the runtime's (before the first token only), not the SDK's.
    this.client = new OpenAI({
      baseURL: settings.LLM_BASE_URL,
      apiKey: settings.LLM_API_KEY ?? 'not-set',
      maxRetries: 0,
      timeout: settings.LLM_TIMEOUT_MS,
    });
  }

  async stream(request: LlmRequest, onEvent: (event: LlmEvent) => void): Promise<void> {
    const stream = await this.client.chat.completions.create(
      {
        model: this.model,
        messages: request.messages,
        ...(request.tools?.length ? { tools: request.tools as ChatCompletionTool[] } : {}),
        stream: true,
        stream_options: { include_usage: true },
      },
      { signal: request.signal },
    );
    const calls: Array<LlmToolCall | undefined> = [];
    for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) {
      const delta = chunk.choices?.[0]?.delta;
      if (delta?.content) onEvent({ type: 'text', delta: delta.content });
      for (const part of delta?.tool_calls ?? []) {
        const call = (calls[part.index] ??= { id: '', name: '', arguments: '' });
        if (part.id) call.id = part.id;
        if (part.function?.name) call.name += part.function.name;
        if (part.function?.arguments) call.arguments += part.function.arguments;
      }
      if (chunk.usage) {
        onEvent({ type: 'usage', inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens });
      }
    }
    const complete = calls.filter((c): c is LlmToolCall => !!c && !!c.name);
    if (complete.length) onEvent({ type: 'tool_calls', calls: complete });
  }
}
