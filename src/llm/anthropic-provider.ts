import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages/messages';
import { Logger } from '@nestjs/common';
import { Settings } from '../config/settings.js';
import { AnswerTally } from './answer-tally.js';
import { AnthropicEvents } from './anthropic-events.js';
import { toAnthropicMessages, toAnthropicTools } from './anthropic-messages.js';
import { LlmError, LlmTimeoutError, providerError } from './llm-errors.js';
import { LlmEvent, LlmProvider, LlmRequest } from './llm-provider.js';
import { watched, watchedFetch } from './watched-fetch.js';

/** Anthropic's Messages API through the official SDK: text, tool use, extended thinking as reasoning, usage. */
export class AnthropicProvider extends LlmProvider {
  readonly name = 'anthropic';
  readonly model: string;
  private readonly client: Anthropic;
  private readonly logger = new Logger(AnthropicProvider.name);
  private readonly secrets: string[];

  constructor(private readonly settings: Settings) {
    super();
    this.model = settings.LLM_MODEL;
    this.secrets = settings.LLM_API_KEY ? [settings.LLM_API_KEY] : [];
    // Retries and timeouts are the runtime's (before the first token only), not the SDK's.
    this.client = new Anthropic({
      baseURL: settings.LLM_BASE_URL ?? 'https://api.anthropic.com',
      apiKey: settings.LLM_API_KEY ?? 'not-set',
      maxRetries: 0,
      timeout: settings.LLM_TIMEOUT_MS,
      fetch: watchedFetch(),
      // The SDK's own spans (and the `traceparent` it would send to Anthropic) would repeat the runtime's LLM span (`llm-span.ts`).
      openTelemetry: false,
    });
  }

  async stream(request: LlmRequest, onEvent: (event: LlmEvent) => void): Promise<void> {
    const answer = new AnswerTally(onEvent);
    const events = new AnthropicEvents(answer);
    const { system, messages } = toAnthropicMessages(request.messages);
    const budget = this.settings.LLM_THINKING_BUDGET;
    try {
      await watched({ onAlive: request.onAlive }, async () => {
        const stream = await this.client.messages.create(
          {
            model: this.model,
            max_tokens: this.settings.LLM_MAX_TOKENS,
            ...(system ? { system } : {}),
            messages,
            ...(request.tools?.length ? { tools: toAnthropicTools(request.tools) } : {}),
            ...(budget > 0 ? { thinking: { type: 'enabled' as const, budget_tokens: budget } } : {}),
            stream: true,
          },
          { signal: request.signal },
        );
        for await (const event of stream as AsyncIterable<RawMessageStreamEvent>) events.add(event);
      });
    } catch (error) {
      throw this.failure(error);
    }
    if (request.signal.aborted) return;
    const state = events.state;
    if (state) onEvent({ type: 'provider_state', state });
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
    const body = error.error as { error?: { message?: unknown } } | undefined;
    const message = typeof body?.error?.message === 'string' ? body.error.message : error.message;
    const failure = providerError({ status: error.status, type: error.type ?? undefined, message }, this.secrets);
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
