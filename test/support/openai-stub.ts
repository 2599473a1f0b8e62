import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the stub answers to one chat completion request. */
export interface StubReply {
  /** Text chunks streamed as `delta.content` (a string is split into words). */
  text?: string | string[];
  /** Thinking streamed before the text, as `delta.reasoning_content` chunks (vLLM, DeepSeek). */
  reasoning?: string[];
  toolCalls?: Array<{ id?: string; name: string; arguments: Record<string, unknown> | string }>;
  /** Delay before each chunk. */
  delayMs?: number;
  /** Answer with this HTTP error status instead of a stream. */
  status?: number;
  /** The error body's `message` with `status` (a provider's own words). */
  errorMessage?: string;
  /** Destroy the connection after this many chunks. */
  breakAfter?: number;
  /** Hold the stream after `chunks` chunks (0: before the status line) until `until` settles. */
  pause?: { chunks: number; until: Promise<unknown> };
  usage?: { prompt: number; completion: number };
}

export interface RecordedRequest {
  body: {
    model: string;
    stream: boolean;
    messages: Array<{
      role: string;
      content?: unknown;
      tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
      tool_call_id?: string;
    }>;
    tools?: Array<{ function: { name: string } }>;
  };
  /** Set once the client closed the request before the stream ended. */
  aborted: boolean;
}

type Script = (request: RecordedRequest, index: number) => StubReply;

/**
 * A local OpenAI-compatible server for tests: streams what the test scripts, records every request,
 * notices aborted requests, and rejects histories the OpenAI API would reject (a tool call without its
 * tool message, or a tool message answering no call).
 */
export class OpenAiStub {
  readonly requests: RecordedRequest[] = [];
  private server?: Server;
  private script: Script = () => ({ text: 'Hello from the stub.' });

  /** Replies in order; the last one repeats. */
  reply(...replies: StubReply[]): this {
    this.script = (_req, index) => replies[Math.min(index, replies.length - 1)];
    return this;
  }

  respond(script: Script): this {
    this.script = script;
    return this;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/v1`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** Chat requests that were not routing classifications. */
  get agentRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.body.tools !== undefined);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const recorded: RecordedRequest = { body: JSON.parse(Buffer.concat(chunks).toString('utf8')), aborted: false };
    const index = this.requests.push(recorded) - 1;
    res.on('close', () => {
      if (!res.writableFinished) recorded.aborted = true;
    });
    const invalid = invalidHistory(recorded.body.messages);
    if (invalid) {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: invalid, type: 'invalid_request_error' } }));
      return;
    }
    const reply = this.script(recorded, index);
    if (reply.pause?.chunks === 0) await reply.pause.until;
    if (res.destroyed) return;
    if (reply.status) {
      res.writeHead(reply.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: reply.errorMessage ?? `stub error ${reply.status}`, type: 'server_error' } }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const id = `chatcmpl-${index}`;
    const send = (delta: Record<string, unknown>, finish: string | null = null) =>
      res.write(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: recorded.body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`,
      );
    const words = typeof reply.text === 'string' ? reply.text.split(/(?<=\s)/) : (reply.text ?? []);
    for (const thought of reply.reasoning ?? []) send({ reasoning_content: thought });
    let sent = 0;
    for (const word of words) {
      if (reply.pause && reply.pause.chunks > 0 && sent === reply.pause.chunks) await reply.pause.until;
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
      if (res.destroyed) return;
      if (reply.breakAfter !== undefined && sent >= reply.breakAfter) {
        res.destroy();
        return;
      }
      send({ content: word });
      sent++;
    }
    (reply.toolCalls ?? []).forEach((call, i) => {
      const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
      send({
        tool_calls: [{ index: i, id: call.id ?? `call_${index}_${i}`, type: 'function', function: { name: call.name, arguments: args } }],
      });
    });
    send({}, reply.toolCalls?.length ? 'tool_calls' : 'stop');
    const usage = reply.usage ?? { prompt: 10, completion: words.length };
    res.write(
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: recorded.body.model, choices: [], usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion } })}\n\n`,
    );
    res.end('data: [DONE]\n\n');
  }
}

/** Why the OpenAI API would refuse this message list, if it would. */
export function invalidHistory(messages: RecordedRequest['body']['messages']): string | undefined {
  let open = new Set<string>();
  for (const [i, m] of messages.entries()) {
    if (m.role === 'tool') {
      if (!m.tool_call_id || !open.has(m.tool_call_id))
        return `messages[${i}]: tool message answers no preceding tool call (${m.tool_call_id})`;
      open.delete(m.tool_call_id);
      continue;
    }
    if (open.size > 0) return `messages[${i}]: tool calls ${[...open].join(', ')} have no tool message`;
    open = new Set((m.role === 'assistant' ? (m.tool_calls ?? []) : []).map((c) => c.id));
  }
  return open.size > 0 ? `the last tool calls ${[...open].join(', ')} have no tool message` : undefined;
}
