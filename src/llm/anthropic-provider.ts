import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages/messages';
import { Logger } from '@nestjs/common';
import { Settings } from '../config/settings.js';
import { AnswerTally, FinishReason } from './answer-tally.js';
import { toAnthropicMessages, toAnthropicTools } from './anthropic-messages.js';
import { LlmError, LlmTimeoutError, providerError } from './llm-errors.js';
import { LlmEvent, LlmProvider, LlmRequest, LlmToolCall } from './llm-provider.js';
import { watched, watchedFetch } from './watched-fetch.js';

const FINISH: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  tool_use: 'tool_calls',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  refusal: 'content_filter',
};

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
    });
  }

  async stream(request: LlmRequest, onEvent: (event: LlmEvent) => void): Promise<void> {
    const answer = new AnswerTally(onEvent);
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
        const blocks = new Map<number, { call: LlmToolCall; json: string }>();
        for await (const event of stream as AsyncIterable<RawMessageStreamEvent>) read(event, answer, blocks);
      });
    } catch (error) {
      throw this.failure(error);
    }
    if (request.signal.aborted) return;
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

/** One event of the Messages stream into the answer; tool-use input arrives as JSON pieces per content block. */
function read(event: RawMessageStreamEvent, answer: AnswerTally, blocks: Map<number, { call: LlmToolCall; json: string }>): void {
  switch (event.type) {
    case 'message_start':
      answer.usage(inputOf(event.message.usage), event.message.usage.output_tokens);
      break;
    case 'content_block_start':
      if (event.content_block.type === 'tool_use') {
        const call = answer.newCall(event.content_block.id, event.content_block.name);
        const input = event.content_block.input;
        blocks.set(event.index, { call, json: input && Object.keys(input).length ? JSON.stringify(input) : '' });
      }
      break;
    case 'content_block_delta':
      if (event.delta.type === 'text_delta') answer.text(event.delta.text);
      else if (event.delta.type === 'thinking_delta') answer.reasoning(event.delta.thinking);
      else if (event.delta.type === 'input_json_delta') {
        const block = blocks.get(event.index);
        if (block) block.json += event.delta.partial_json;
      }
      break;
    case 'content_block_stop': {
      const block = blocks.get(event.index);
      if (block) block.call.arguments = block.json || '{}';
      break;
    }
    case 'message_delta':
      answer.usage(inputOf(event.usage), event.usage.output_tokens);
      if (event.delta.stop_reason) answer.finish = FINISH[event.delta.stop_reason] ?? 'stop';
      break;
    case 'message_stop':
      answer.complete = true;
      break;
  }
}

/** Anthropic counts cached input apart; the runtime's input is all of it. */
function inputOf(usage: {
  input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}) {
  if (typeof usage.input_tokens !== 'number') return undefined;
  return usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}
