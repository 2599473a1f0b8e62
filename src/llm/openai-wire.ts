import type { ChatCompletion } from 'openai/resources/chat/completions';

const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

/** Turns a whole chat completion (a server that ignored `stream: true`) into the stream it stands for. */
function completionAsStream(completion: ChatCompletion & { error?: unknown }): string {
  if (completion.error !== undefined || !Array.isArray(completion.choices)) return `${sse(completion)}data: [DONE]\n\n`;
  const chunk = {
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
    }),
    usage: completion.usage,
  };
  return `${sse(chunk)}data: [DONE]\n\n`;
}

/** Error bodies as servers write them (`{error: "…"}`, `{message, type, code}`, `{detail}`), in the `{error: {…}}` shape the SDK reads. */
function normalisedError(body: unknown): unknown {
  if (!body || typeof body !== 'object') return body;
  const b = body as Record<string, unknown>;
  if (b.error && typeof b.error === 'object') return body;
  if (typeof b.error === 'string') return { error: { message: b.error } };
  const message = b.message ?? (typeof b.detail === 'string' ? b.detail : JSON.stringify(b.detail ?? body));
  return { error: { message, type: b.type, code: b.code } };
}

/**
 * Rewrites answers the OpenAI SDK would misread: a JSON completion to a streaming request (the SDK
 * would find no events in it and report an empty answer), and error bodies in other servers' shapes
 * (the SDK would drop their message).
 */
export async function adaptOpenAiResponse(response: Response): Promise<Response> {
  if (!(response.headers.get('content-type') ?? '').includes('json')) return response;
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
  }
  const headers = new Headers(response.headers);
  if (response.ok) {
    headers.set('content-type', 'text/event-stream');
    return new Response(completionAsStream(body as ChatCompletion), { status: response.status, headers });
  }
  return new Response(JSON.stringify(normalisedError(body)), { status: response.status, statusText: response.statusText, headers });
}

/** Notices `data: [DONE]` in the raw bytes (the SDK swallows it), across chunk boundaries. */
export class DoneMarker {
  seen = false;
  private tail = '';
  private readonly decoder = new TextDecoder();

  feed(chunk: Uint8Array): void {
    if (this.seen) return;
    const text = this.tail + this.decoder.decode(chunk, { stream: true });
    this.seen = /data:\s*\[DONE\]/.test(text);
    this.tail = text.slice(-16);
  }
}
