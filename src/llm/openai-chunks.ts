import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { AnswerTally, FinishReason } from './answer-tally.js';
import { isDone } from './event-stream-reader.js';
import type { LlmToolCall } from './llm-provider.js';
import { errorObjectFailure, OpenAiRefusal, UnreadableAnswer } from './openai-wire.js';

type Delta = ChatCompletionChunk.Choice.Delta & { reasoning_content?: unknown; reasoning?: unknown };
type ToolCallPart = Omit<ChatCompletionChunk.Choice.Delta.ToolCall, 'index'> & { index?: number };

const FINISH: Record<string, FinishReason> = {
  stop: 'stop',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  length: 'length',
  content_filter: 'content_filter',
};

/**
 * Reads OpenAI-compatible chunks as servers really send them: reasoning in `reasoning_content`
 * (vLLM, DeepSeek) or `reasoning` (OpenRouter, Ollama), tool-call parts with or without `index`,
 * names and ids repeated in every chunk, usage in a last chunk with no choices, or in every chunk
 * as a running total.
 */
export class OpenAiChunks {
  private readonly byIndex = new Map<number, LlmToolCall>();

  private done = false;

  constructor(private readonly answer: AnswerTally) {}

  /** One event's `data`: a chunk, an error object (thrown as `OpenAiRefusal`), or `[DONE]` (anything after it is ignored). */
  addData(data: string): void {
    if (this.done) return;
    if (isDone(data)) {
      this.done = this.answer.complete = true;
      return;
    }
    let chunk: (ChatCompletionChunk & { error?: unknown }) | null;
    try {
      chunk = JSON.parse(data) as ChatCompletionChunk | null;
    } catch {
      throw new UnreadableAnswer('A stream event is not JSON.');
    }
    if (chunk?.error) throw new OpenAiRefusal(errorObjectFailure(chunk.error));
    if (chunk && typeof chunk === 'object') this.add(chunk);
  }

  add(chunk: ChatCompletionChunk): void {
    const choice = chunk.choices?.[0];
    const delta = choice?.delta as Delta | undefined;
    if (delta) {
      this.answer.reasoning(delta.reasoning_content ?? delta.reasoning);
      this.answer.text(delta.content);
      if (delta.tool_calls) for (const part of delta.tool_calls as ToolCallPart[]) this.addToolCallPart(part);
    }
    if (choice?.finish_reason) {
      this.answer.finish = FINISH[choice.finish_reason] ?? 'stop';
      this.answer.complete = true;
    }
    if (chunk.usage) this.answer.usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens);
  }

  private addToolCallPart(part: ToolCallPart): void {
    const call = this.callFor(part);
    if (part.id) call.id = part.id;
    const name = part.function?.name;
    // A name sent again whole in a later chunk is the same name, not more of it.
    if (name && name !== call.name) call.name += name;
    if (part.function?.arguments) call.arguments += part.function.arguments;
  }

  /**
   * The call a part continues: by `index` when there is one, else the last call unless the part
   * brings a new id, or (with neither) a name after the last call's arguments are whole JSON.
   */
  private callFor(part: ToolCallPart): LlmToolCall {
    if (typeof part.index === 'number') {
      let call = this.byIndex.get(part.index);
      if (!call) this.byIndex.set(part.index, (call = this.answer.newCall(part.id)));
      return call;
    }
    const last = this.answer.calls[this.answer.calls.length - 1];
    if (!last || (part.id && part.id !== last.id)) return this.answer.newCall(part.id);
    // Parallel calls without index or id: a name repeated mid-arguments is the same call, one after whole arguments the next.
    if (!part.id && part.function?.name && last.name && isWholeJson(last.arguments)) return this.answer.newCall();
    return last;
  }
}

function isWholeJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
