import { Logger } from '@nestjs/common';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { Settings } from '../config/settings.js';
import { AnswerTally } from './answer-tally.js';
import { LlmError, LlmTimeoutError, providerError } from './llm-errors.js';
import { ChatMessage, LlmEvent, LlmProvider, LlmRequest } from './llm-provider.js';
import { OpenAiChunks } from './openai-chunks.js';
import { adaptOpenAiResponse, DoneMarker } from './openai-wire.js';
import { watched, watchedFetch } from './watched-fetch.js';

/** Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, LM Studio, OpenRouter, LiteLLM) through the official SDK. */
export class OpenAiProvider extends LlmProvider {
  readonly name: string;
  readonly model: string;
  private readonly client: OpenAI;
  private readonly logger = new Logger(OpenAiProvider.name);
  private readonly secrets: string[];

  constructor(private readonly settings: Settings) {
    super();
    this.model = settings.LLM_MODEL;
    const url = new URL(settings.LLM_BASE_URL!);
    this.name = url.hostname === 'api.openai.com' ? 'openai' : 'openai_compatible';
    this.secrets = settings.LLM_API_KEY ? [settings.LLM_API_KEY] : [];
    // Retries and timeouts are the runtime's (before the first token only), not the SDK's.
    this.client = new OpenAI({
      baseURL: settings.LLM_BASE_URL,
      apiKey: settings.LLM_API_KEY ?? 'not-set',
      maxRetries: 0,
      timeout: settings.LLM_TIMEOUT_MS,
      fetch: watchedFetch(adaptOpenAiResponse),
    });
  }

  async stream(request: LlmRequest, onEvent: (event: LlmEvent) => void): Promise<void> {
    const answer = new AnswerTally(onEvent);
    const chunks = new OpenAiChunks(answer);
    const done = new DoneMarker();
    try {
      await watched({ onAlive: request.onAlive, onChunk: (bytes) => done.feed(bytes) }, async () => {
        const stream = await this.client.chat.completions.create(
          {
            model: this.model,
            messages: request.messages.map(toOpenAiMessage),
            ...(request.tools?.length ? { tools: request.tools as ChatCompletionTool[] } : {}),
            stream: true,
            ...(this.settings.LLM_STREAM_USAGE ? { stream_options: { include_usage: true } } : {}),
          },
          { signal: request.signal },
        );
        for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) chunks.add(chunk);
      });
    } catch (error) {
      throw this.failure(error);
    }
    // The SDK ends quietly when the request is aborted: that is no answer to judge.
    if (request.signal.aborted) return;
    answer.complete ||= done.seen;
    answer.end();
  }

  private failure(error: unknown): unknown {
    if (error instanceof APIUserAbortError || error instanceof LlmError) return error;
    if (error instanceof APIConnectionTimeoutError) return new LlmTimeoutError('The LLM did not answer in time.');
    if (error instanceof APIConnectionError) return new LlmError('connection', 'The LLM provider could not be reached.');
    if (!(error instanceof APIError)) {
      if (error instanceof SyntaxError) return new LlmError('server_error', 'The LLM provider sent a stream that could not be read.');
      // undici's `terminated`: the connection closed in the middle of the body.
      if (error instanceof TypeError) return new LlmError('connection', 'The LLM stream broke off.');
      return error;
    }
    const body = (typeof error.error === 'object' && error.error ? error.error : {}) as { message?: unknown };
    const message = typeof body.message === 'string' ? body.message : typeof error.error === 'string' ? error.error : error.message;
    const failure = providerError(
      { status: error.status, code: asText(error.code), type: asText(error.type), message: message || undefined },
      this.secrets,
    );
    this.logger.warn({
      msg: 'LLM provider call failed',
      provider: this.name,
      status: error.status,
      code: failure.code,
      providerMessage: failure.detail,
    });
    return failure;
  }
}

function asText(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/** Another provider's state stays home: OpenAI-compatible servers refuse fields they do not know. */
function toOpenAiMessage(message: ChatMessage): ChatCompletionMessageParam {
  if (!message.providerState) return message;
  const copy = { ...message };
  delete copy.providerState;
  return copy;
}
