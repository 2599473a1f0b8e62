import { SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import type { LlmEvent } from './llm-provider.js';

/**
 * The GenAI semantic conventions are still incubating: their names are copied here, as the
 * semantic-conventions package advises, rather than imported from its unstable entry point.
 * `gen_ai.system` is the older name of `gen_ai.provider.name`; both are set for backends that read either.
 */
const GEN_AI = {
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  system: 'gen_ai.system',
  requestModel: 'gen_ai.request.model',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  finishReasons: 'gen_ai.response.finish_reasons',
} as const;

/** Finish reasons of answers the providers raise as incomplete, by their error code. */
const ENDINGS: Record<string, string> = { llm_output_truncated: 'length', llm_content_filtered: 'content_filter' };

const tracer = trace.getTracer('agent-runtime/llm');

/**
 * The span of one LLM call, its retries included (a client span, `chat {model}`): provider, model,
 * tokens, finish reason, and the error type when it failed. Never the prompt or the answer.
 */
export class LlmSpan {
  private readonly span: Span;
  private askedForTools = false;

  constructor(provider: string, model: string) {
    this.span = tracer.startSpan(`chat ${model}`, {
      kind: SpanKind.CLIENT,
      attributes: { [GEN_AI.operation]: 'chat', [GEN_AI.provider]: provider, [GEN_AI.system]: provider, [GEN_AI.requestModel]: model },
    });
  }

  observe(event: LlmEvent): void {
    if (event.type === 'usage') {
      this.span.setAttributes({ [GEN_AI.inputTokens]: event.inputTokens, [GEN_AI.outputTokens]: event.outputTokens });
    } else if (event.type === 'tool_calls') {
      this.askedForTools = true;
    }
  }

  /** An attempt failed before its first token and the call tries again. */
  retrying(attempt: number, errorType: string): void {
    this.span.addEvent('retry', { attempt, [ATTR_ERROR_TYPE]: errorType });
  }

  /**
   * A complete answer either stops or asks for tools: the providers raise every other ending (cut at
   * the output limit, filtered, broken off) as an `LlmError`, which ends the span as failed instead.
   */
  succeeded(): void {
    this.span.setAttribute(GEN_AI.finishReasons, [this.askedForTools ? 'tool_calls' : 'stop']);
    this.span.end();
  }

  /** The `LlmError`'s type (`rate_limit`, `timeout`, `incomplete_answer`, …) and code; an answer cut short still says why it ended. */
  failed(errorType: string, code?: string): void {
    const ending = code ? ENDINGS[code] : undefined;
    if (ending) this.span.setAttribute(GEN_AI.finishReasons, [ending]);
    this.span.setAttribute(ATTR_ERROR_TYPE, errorType);
    this.span.setStatus({ code: SpanStatusCode.ERROR });
    this.span.end();
  }

  /** The turn stopped (a cancel, the client gone): not the provider's failure. */
  abandoned(): void {
    this.span.addEvent('abandoned');
    this.span.end();
  }
}
