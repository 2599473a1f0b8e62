import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { ProviderFailure } from './llm-errors.js';

/** What the provider said went wrong: an error reply, or an error object inside a 200 stream or JSON answer. */
export class OpenAiRefusal extends Error {
  constructor(readonly failure: ProviderFailure) {
    super(failure.message ?? 'The LLM provider refused the request.');
  }
}

/** An answer that cannot be read: a chunk that is not JSON, a JSON answer that is no object. */
export class UnreadableAnswer extends Error {}

function asText(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/** An error object as servers write it: `{message, type, code}` (OpenAI, vLLM), a bare string (Ollama), or anything else. */
export function errorObjectFailure(error: unknown, status?: number): ProviderFailure {
  if (typeof error === 'string') return { status, message: error || undefined };
  const fields = (error && typeof error === 'object' ? error : {}) as Record<string, unknown>;
  const message = typeof fields.message === 'string' ? fields.message : JSON.stringify(fields.message ?? error);
  return { status, code: asText(fields.code), type: asText(fields.type), message: message || undefined };
}

/** An error reply's body in the shapes servers write: `{error: {…}}`, `{error: "…"}`, `{message, type, code}`, `{detail}`, text. */
export function httpFailure(status: number, text: string): ProviderFailure {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!body || typeof body !== 'object') return { status, message: text.trim() || undefined };
  const b = body as Record<string, unknown>;
  if (b.error) return errorObjectFailure(b.error, status);
  const message = b.message ?? (typeof b.detail === 'string' ? b.detail : (b.detail ?? body));
  return errorObjectFailure({ message, type: b.type, code: b.code }, status);
}

/** A whole chat completion (a server that ignored `stream: true`) as the one chunk it stands for. */
export function completionAsChunk(body: unknown): ChatCompletionChunk {
  if (!body || typeof body !== 'object') throw new UnreadableAnswer('The JSON answer is not an object.');
  const completion = body as ChatCompletion & { error?: unknown };
  if (completion.error) throw new OpenAiRefusal(errorObjectFailure(completion.error));
  if (!Array.isArray(completion.choices)) return completion as unknown as ChatCompletionChunk;
  return {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
    choices: completion.choices.map((choice) => {
      const message = choice.message as ChatCompletion.Choice['message'] & { reasoning_content?: string; reasoning?: string };
      return {
        index: choice.index,
        finish_reason: choice.finish_reason,
        delta: {
          role: 'assistant',
          content: message.content,
          reasoning_content: message.reasoning_content ?? message.reasoning,
          tool_calls: message.tool_calls?.map((call, index) => ({ index, ...call })),
        },
      };
    }) as ChatCompletionChunk['choices'],
    usage: completion.usage,
  };
}
