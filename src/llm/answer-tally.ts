import { randomUUID } from 'node:crypto';
import { LlmError, LlmStreamEndedEarly } from './llm-errors.js';
import type { LlmEvent, LlmToolCall } from './llm-provider.js';

/** Why the provider says its answer ended, in one vocabulary for every provider. */
export type FinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter';

/**
 * One answer as it streams, for any provider: what it said, how it ended, what it cost. `end`
 * tells the truth about it — an answer cut at the output limit, one whose stream stopped without
 * its end marker, or one with nothing in it is an error, and its tool calls are never handed on.
 */
export class AnswerTally {
  readonly calls: LlmToolCall[] = [];
  finish?: FinishReason;
  /** The provider sent its end marker (`[DONE]`, `message_stop`) or a finish reason. */
  complete = false;
  private said = false;
  private inputTokens?: number;
  private outputTokens?: number;

  constructor(private readonly onEvent: (event: LlmEvent) => void) {}

  text(delta: string | null | undefined): void {
    if (!delta) return;
    this.said = true;
    this.onEvent({ type: 'text', delta });
  }

  reasoning(delta: unknown): void {
    if (typeof delta === 'string' && delta) this.onEvent({ type: 'reasoning', delta });
  }

  /**
   * Usage as it comes: a provider that repeats running totals is not counted twice (the largest
   * figure wins), and one that sends only some fields leaves the others to a later chunk.
   */
  usage(input: unknown, output: unknown): void {
    if (typeof input === 'number' && Number.isFinite(input)) this.inputTokens = Math.max(this.inputTokens ?? 0, input);
    if (typeof output === 'number' && Number.isFinite(output)) this.outputTokens = Math.max(this.outputTokens ?? 0, output);
  }

  /** A new tool call, its id made up when the provider sent none. */
  newCall(id?: string | null, name?: string | null): LlmToolCall {
    const call = { id: id || `call_${randomUUID().replaceAll('-', '')}`, name: name ?? '', arguments: '' };
    this.calls.push(call);
    return call;
  }

  end(): void {
    if (this.inputTokens !== undefined || this.outputTokens !== undefined) {
      this.onEvent({ type: 'usage', inputTokens: this.inputTokens ?? 0, outputTokens: this.outputTokens ?? 0 });
    }
    const calls = this.calls.filter((c) => c.name);
    if (!this.complete) throw new LlmStreamEndedEarly();
    if (this.finish === 'length') {
      throw new LlmError(
        'incomplete_answer',
        calls.length
          ? 'The model reached its output limit in the middle of a tool call; the call was not run.'
          : "The answer was cut off at the model's output limit.",
        { code: 'llm_output_truncated' },
      );
    }
    if (this.finish === 'content_filter') {
      throw new LlmError('incomplete_answer', "The provider's content filter stopped the answer.", { code: 'llm_content_filtered' });
    }
    if (!this.said && calls.length === 0)
      throw new LlmError('incomplete_answer', 'The model answered nothing.', { code: 'llm_empty_answer' });
    if (calls.length) this.onEvent({ type: 'tool_calls', calls });
  }
}
