import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

export type ChatMessage = ChatCompletionMessageParam;
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
}

export interface LlmToolCall {
  id: string;
  name: string;
  /** The JSON text the model produced, unparsed. */
  arguments: string;
}

export type LlmEvent =
  | { type: 'text'; delta: string }
  | { type: 'tool_calls'; calls: LlmToolCall[] }
  | { type: 'usage'; inputTokens: number; outputTokens: number };

/** A chat model that streams: OpenAI-compatible over HTTP, or the offline scripted one. */
export abstract class LlmProvider {
  /** `gen_ai.provider.name` */
  abstract readonly name: string;
  /** `gen_ai.request.model` */
  abstract readonly model: string;
  /** Calls `onEvent` for each event as it arrives; resolves when the answer is complete. */
  abstract stream(request: LlmRequest, onEvent: (event: LlmEvent) => void): Promise<void>;
}
