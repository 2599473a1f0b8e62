import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

/** What a provider wants back with one of its answers in later requests (Anthropic's signed thinking blocks); opaque to the runtime. */
export type ProviderState = Record<string, unknown>;

/** A message of the context, in OpenAI's shape (every provider translates from it), with the state its provider left on it. */
export type ChatMessage = ChatCompletionMessageParam & { providerState?: ProviderState };
/** A function tool as OpenAI's API takes it. */
export interface ToolSpec {
  type: 'function';
  function: { name: string; description?: string; parameters?: object };
}

export interface LlmRequest {
  messages: ChatMessage[];
  tools?: readonly ToolSpec[];
  /** Aborted when the turn ends early: the provider must stop its HTTP request. */
  signal: AbortSignal;
  /**
   * Called for every byte the provider sends (a delta of any kind, an SSE comment or keep-alive):
   * whatever proves the provider alive, even when it yields no event.
   */
  onAlive?: () => void;
}

export interface LlmToolCall {
  id: string;
  name: string;
  /** The JSON text the model produced, unparsed. */
  arguments: string;
}

/**
 * What a provider streams. An answer that did not end as a complete one (cut at the output limit,
 * a stream that stopped without its end marker, nothing at all) is no event: the provider throws an
 * `LlmError` saying so, after the events that did arrive.
 */
export type LlmEvent =
  | { type: 'text'; delta: string }
  /** A reasoning model's thinking (`reasoning_content`, `reasoning`, Anthropic's thinking blocks): never the answer's text. */
  | { type: 'reasoning'; delta: string }
  | { type: 'tool_calls'; calls: LlmToolCall[] }
  /** Once per answer, the provider's final figures (a field it never sent counts 0). */
  | { type: 'usage'; inputTokens: number; outputTokens: number }
  /** To be stored with the answer and handed back with it (`ChatMessage.providerState`). */
  | { type: 'provider_state'; state: ProviderState };

/** A chat model that streams: OpenAI-compatible or Anthropic over HTTP, or the offline scripted one. */
export abstract class LlmProvider {
  /** `gen_ai.provider.name` */
  abstract readonly name: string;
  /** `gen_ai.request.model` */
  abstract readonly model: string;
  /** Calls `onEvent` for each event as it arrives; resolves when the answer is complete. */
  abstract stream(request: LlmRequest, onEvent: (event: LlmEvent) => void): Promise<void>;
}
