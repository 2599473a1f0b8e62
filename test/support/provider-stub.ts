import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One recorded answer of a provider, replayed byte for byte. */
export interface Shape {
  /** HTTP status; 200 unless given. */
  status?: number;
  contentType?: string;
  /** Written one after another (each frame is raw bytes: SSE events, comments, a JSON body). */
  frames: string[];
  /** Pause before each frame. */
  delayMs?: number;
  /** Drop the connection after the frames instead of ending the response. */
  cut?: boolean;
}

export interface StubRequest {
  path: string;
  headers: IncomingMessage['headers'];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/**
 * A provider at its HTTP boundary for the conformance suite: answers every request (OpenAI's
 * `/chat/completions` or Anthropic's `/v1/messages`) with the next scripted shape, the last one
 * repeating, and records what it was sent.
 */
export class ProviderStub {
  readonly requests: StubRequest[] = [];
  private shapes: Shape[] = [];
  private served = 0;
  private server?: Server;

  /** Shapes for the next requests, in order; the last one repeats. */
  play(...shapes: Shape[]): void {
    this.shapes = shapes;
    this.served = 0;
  }

  async start(path = '/v1'): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}${path}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.requests.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') });
    const shape = this.shapes[Math.min(this.served++, this.shapes.length - 1)] ?? { status: 500, frames: [] };
    res.writeHead(shape.status ?? 200, { 'Content-Type': shape.contentType ?? 'text/event-stream' });
    for (const frame of shape.frames) {
      if (shape.delayMs) await new Promise((resolve) => setTimeout(resolve, shape.delayMs));
      if (res.destroyed) return;
      res.write(frame);
    }
    if (!shape.cut) {
      res.end();
      return;
    }
    // Long enough for the last frame to be read before the connection drops.
    await new Promise((resolve) => setTimeout(resolve, 50));
    res.destroy();
  }
}

/** OpenAI's wire format: `data:` chunks, a usage-only last chunk, `[DONE]`. */
export const openai = {
  chunk(delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}): string {
    return `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
  },
  usage(usage: Record<string, unknown>): string {
    return `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage })}\n\n`;
  },
  data(body: unknown): string {
    return `data: ${JSON.stringify(body)}\n\n`;
  },
  done: 'data: [DONE]\n\n',
  /** A stream of text words, then `stop`, usage and `[DONE]`. */
  text(text: string, usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }): Shape {
    return {
      frames: [
        openai.chunk({ role: 'assistant', content: '' }),
        ...text.split(/(?<= )/).map((word) => openai.chunk({ content: word })),
        openai.chunk({}, 'stop'),
        openai.usage(usage),
        openai.done,
      ],
    };
  },
  error(status: number, error: Record<string, unknown>): Shape {
    return { status, contentType: 'application/json', frames: [JSON.stringify({ error })] };
  },
};

/** Anthropic's Messages stream: named events from `message_start` to `message_stop`. */
export const anthropic = {
  event(type: string, data: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  },
  start(inputTokens = 11): string {
    return anthropic.event('message_start', {
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: 1 },
      },
    });
  },
  block(index: number, block: Record<string, unknown>): string {
    return anthropic.event('content_block_start', { index, content_block: block });
  },
  delta(index: number, delta: Record<string, unknown>): string {
    return anthropic.event('content_block_delta', { index, delta });
  },
  stop(index: number): string {
    return anthropic.event('content_block_stop', { index });
  },
  end(stopReason: string, outputTokens = 7): string[] {
    return [
      anthropic.event('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } }),
      anthropic.event('message_stop', {}),
    ];
  },
  text(text: string): Shape {
    return {
      frames: [
        anthropic.start(),
        anthropic.block(0, { type: 'text', text: '' }),
        ...text.split(/(?<= )/).map((word) => anthropic.delta(0, { type: 'text_delta', text: word })),
        anthropic.stop(0),
        ...anthropic.end('end_turn'),
      ],
    };
  },
  error(status: number, type: string, message: string): Shape {
    return { status, contentType: 'application/json', frames: [JSON.stringify({ type: 'error', error: { type, message } })] };
  },
};
