import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages/messages';
import { AnswerTally, FinishReason } from './answer-tally.js';
import type { LlmToolCall, ProviderState } from './llm-provider.js';

const FINISH: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  tool_use: 'tool_calls',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  refusal: 'content_filter',
};

type Thinking = { type: 'thinking'; thinking: string; signature: string } | { type: 'redacted_thinking'; data: string };

/** Anthropic counts cached input apart; the runtime's input is all of it. */
function inputOf(usage: {
  input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}) {
  if (typeof usage.input_tokens !== 'number') return undefined;
  return usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}

/**
 * Reads the Messages stream into an answer: text deltas, thinking deltas as reasoning, tool-use
 * input as JSON pieces per content block, usage from `message_start` and `message_delta`, and the
 * thinking blocks with their signatures, which the API wants back with the tool use they led to.
 */
export class AnthropicEvents {
  private readonly tools = new Map<number, { call: LlmToolCall; json: string }>();
  private readonly thinking = new Map<number, Thinking>();

  constructor(private readonly answer: AnswerTally) {}

  /** The signed thinking of an answer that uses tools: the API wants it back with the tool use, and has no use for it otherwise. */
  get state(): ProviderState | undefined {
    return this.thinking.size && this.tools.size ? { thinking: [...this.thinking.values()] } : undefined;
  }

  add(event: RawMessageStreamEvent): void {
    switch (event.type) {
      case 'message_start':
        this.answer.usage(inputOf(event.message.usage), event.message.usage.output_tokens);
        break;
      case 'content_block_start':
        this.start(event.index, event.content_block);
        break;
      case 'content_block_delta':
        this.delta(event.index, event.delta);
        break;
      case 'content_block_stop': {
        const tool = this.tools.get(event.index);
        if (tool) tool.call.arguments = tool.json || '{}';
        break;
      }
      case 'message_delta':
        this.answer.usage(inputOf(event.usage), event.usage.output_tokens);
        if (event.delta.stop_reason) this.answer.finish = FINISH[event.delta.stop_reason] ?? 'stop';
        break;
      case 'message_stop':
        this.answer.complete = true;
        break;
    }
  }

  private start(index: number, block: Extract<RawMessageStreamEvent, { type: 'content_block_start' }>['content_block']): void {
    if (block.type === 'tool_use') {
      const call = this.answer.newCall(block.id, block.name);
      const input = block.input as Record<string, unknown> | undefined;
      this.tools.set(index, { call, json: input && Object.keys(input).length ? JSON.stringify(input) : '' });
    } else if (block.type === 'thinking') {
      this.thinking.set(index, { type: 'thinking', thinking: block.thinking ?? '', signature: block.signature ?? '' });
      this.answer.reasoning(block.thinking);
    } else if (block.type === 'redacted_thinking') {
      this.thinking.set(index, { type: 'redacted_thinking', data: block.data });
    }
  }

  private delta(index: number, delta: Extract<RawMessageStreamEvent, { type: 'content_block_delta' }>['delta']): void {
    const thinking = this.thinking.get(index);
    if (delta.type === 'text_delta') this.answer.text(delta.text);
    else if (delta.type === 'thinking_delta') {
      if (thinking?.type === 'thinking') thinking.thinking += delta.thinking;
      this.answer.reasoning(delta.thinking);
    } else if (delta.type === 'signature_delta') {
      if (thinking?.type === 'thinking') thinking.signature = delta.signature;
    } else if (delta.type === 'input_json_delta') {
      const tool = this.tools.get(index);
      if (tool) tool.json += delta.partial_json;
    }
  }
}
