import { Logger } from '@nestjs/common';
import type { ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { Settings } from '../config/settings.js';
import { AnswerTally } from './answer-tally.js';
import { readEventStream } from './event-stream-reader.js';
import { LlmError, LlmTimeoutError, providerError } from './llm-errors.js';
import { ChatMessage, LlmEvent, LlmProvider, LlmRequest } from './llm-provider.js';
import { OpenAiChunks } from './openai-chunks.js';
import { completionAsChunk, httpFailure, OpenAiRefusal, UnreadableAnswer } from './openai-wire.js';
import { redactSecrets } from './redact-secrets.js';

/** `fetch` could not get an answer's head: no connection, a refused or timed-out connect. */
class Unreachable extends Error {}

/**
 * Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, LM Studio, OpenRouter, LiteLLM): one `fetch`
 * POST to `/chat/completions`, its event stream parsed with `eventsource-parser` (decision 0017:
 * the SDK's stream parser cost more CPU than the rest of the service's work per token).
 */
export class OpenAiProvider extends LlmProvider {
  readonly name: string;
  readonly model: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly logger = new Logger(OpenAiProvider.name);
  private readonly secrets: string[];

  constructor(private readonly settings: Settings) {
    super();
    this.model = settings.LLM_MODEL;
    const base = settings.LLM_BASE_URL!;
    this.name = new URL(base).hostname === 'api.openai.com' ? 'openai' : 'openai_compatible';
    this.url = `${base.replace(/\/+$/, '')}/chat/completions`;
    this.secrets = settings.LLM_API_KEY ? [settings.LLM_API_KEY] : [];
    this.headers = {
      'content-type': 'application/json',
      accept: 'text/event-stream, application/json',
      ...(settings.LLM_API_KEY ? { authorization: `Bearer ${settings.LLM_API_KEY}` } : {}),
    };
  }

  async stream(request: LlmRequest, onEvent: (event: LlmEvent) => void): Promise<void> {
    const answer = new AnswerTally(onEvent);
    const chunks = new OpenAiChunks(answer);
    try {
      const response = await this.post(request);
      if (!response.ok) throw new OpenAiRefusal(httpFailure(response.status, await response.text()));
      if ((response.headers.get('content-type') ?? '').includes('json')) {
        request.onAlive?.();
        chunks.add(completionAsChunk(await readJson(response)));
        answer.complete = true;
      } else {
        await readEventStream(response.body, (data) => chunks.addData(data), request.onAlive);
      }
    } catch (error) {
      // A stopped turn (its signal aborts the request) is no answer to judge; the caller knows why it stopped.
      if (request.signal.aborted) return;
      throw this.failure(error);
    }
    if (request.signal.aborted) return;
    answer.end();
  }

  /** Retries and timeouts are the runtime's (LlmClient), so this is one plain request. */
  private async post(request: LlmRequest): Promise<Response> {
    const body: ChatCompletionCreateParamsStreaming = {
      model: this.model,
      messages: request.messages.map(toOpenAiMessage),
      ...(request.tools?.length ? { tools: request.tools as ChatCompletionCreateParamsStreaming['tools'] } : {}),
      stream: true,
      ...(this.settings.LLM_STREAM_USAGE ? { stream_options: { include_usage: true } } : {}),
    };
    try {
      return await fetch(this.url, { method: 'POST', headers: this.headers, body: JSON.stringify(body), signal: request.signal });
    } catch (error) {
      if (request.signal.aborted) throw error;
      // undici: TypeError('fetch failed') with the socket's or the connect timeout's error as its cause.
      const cause = (error as { cause?: unknown }).cause;
      throw new Unreachable(`${String(error)} ${String(cause)}`);
    }
  }

  private failure(error: unknown): unknown {
    if (error instanceof LlmError) return error;
    if (error instanceof Unreachable) {
      this.logConnectionFailure(error);
      return /timed? ?out/i.test(error.message)
        ? new LlmTimeoutError('The LLM did not answer in time.')
        : new LlmError('connection', 'The LLM provider could not be reached.');
    }
    if (error instanceof UnreadableAnswer) return new LlmError('server_error', 'The LLM provider sent a stream that could not be read.');
    // undici's `terminated`: the connection closed in the middle of the body.
    if (error instanceof TypeError) {
      this.logConnectionFailure(error);
      return new LlmError('connection', 'The LLM stream broke off.');
    }
    if (!(error instanceof OpenAiRefusal)) return error;
    const failure = providerError(error.failure, this.secrets);
    this.logger.warn({
      msg: 'LLM provider call failed',
      provider: this.name,
      status: error.failure.status,
      code: failure.code,
      providerMessage: failure.detail,
    });
    return failure;
  }

  /** What the network said (undici's message and its cause): no request or answer text is in it. */
  private logConnectionFailure(error: Error): void {
    const cause = (error as { cause?: unknown }).cause;
    this.logger.warn({
      msg: 'LLM provider connection failed',
      provider: this.name,
      error: redactSecrets(`${error.message}${cause ? ` (${String(cause)})` : ''}`, this.secrets),
    });
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new UnreadableAnswer('The JSON answer does not parse.');
  }
}

/** Another provider's state stays home: OpenAI-compatible servers refuse fields they do not know. */
function toOpenAiMessage(message: ChatMessage): ChatCompletionMessageParam {
  if (!message.providerState) return message;
  const copy = { ...message };
  delete copy.providerState;
  return copy;
}
