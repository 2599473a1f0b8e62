import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import {
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  retry,
  RetryPolicy,
} from 'cockatiel';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { Settings } from '../config/settings.js';
import {
  classifyLlmError,
  isProviderFailure,
  isRetryable,
  LlmCallAborted,
  LlmError,
  LlmStreamBrokeOff,
  LlmTimeoutError,
} from './llm-errors.js';
import { IdleTimer } from './idle-timer.js';
import { LlmEvent, LlmProvider, LlmRequest } from './llm-provider.js';

const CIRCUIT_STATE: Record<CircuitState, number> = {
  [CircuitState.Closed]: 0,
  [CircuitState.HalfOpen]: 1,
  [CircuitState.Open]: 2,
  [CircuitState.Isolated]: 2,
};

/**
 * The LLM as a turn sees it: the configured provider behind a circuit breaker, retried with
 * exponential backoff and jitter on 429, 5xx, timeouts and connection errors before the first
 * token (never after: the user has seen it), with a request timeout and an idle timeout.
 */
@Injectable()
export class LlmClient {
  private readonly logger = new Logger(LlmClient.name);
  private readonly breaker: CircuitBreakerPolicy;
  private readonly retryPolicy: RetryPolicy;
  private readonly labels: { gen_ai_provider_name: string; gen_ai_request_model: string };

  constructor(
    @Inject(LlmProvider) private readonly provider: LlmProvider,
    private readonly settings: Settings,
    @InjectMetric('gen_ai_client_operation_duration_seconds') private readonly duration: Histogram<string>,
    @InjectMetric('gen_ai_client_operation_time_to_first_chunk_seconds') private readonly firstChunk: Histogram<string>,
    @InjectMetric('gen_ai_client_token_usage') private readonly tokens: Histogram<string>,
    @InjectMetric('llm_errors_total') private readonly errors: Counter<string>,
    @InjectMetric('llm_retries_total') private readonly retries: Counter<string>,
    @InjectMetric('llm_circuit_state') private readonly circuit: Gauge<string>,
  ) {
    this.labels = { gen_ai_provider_name: provider.name, gen_ai_request_model: provider.model };
    // A turn that stopped while waiting, a refused request or an incomplete answer is no failure of the provider.
    this.breaker = circuitBreaker(
      handleWhen((error) => !(error instanceof LlmCallAborted) && isProviderFailure(classifyLlmError(error))),
      {
        halfOpenAfter: settings.LLM_BREAKER_COOLDOWN_MS,
        breaker: new ConsecutiveBreaker(settings.LLM_BREAKER_THRESHOLD),
      },
    );
    this.circuit.set({ gen_ai_provider_name: provider.name }, 0);
    this.breaker.onStateChange((state) => {
      this.circuit.set({ gen_ai_provider_name: provider.name }, CIRCUIT_STATE[state]);
      this.logger.warn({ msg: 'LLM circuit breaker changed state', provider: provider.name, state: CircuitState[state] });
    });
    this.retryPolicy = retry(
      handleWhen((error) => !(error instanceof LlmStreamBrokeOff) && isRetryable(classifyLlmError(error))),
      {
        maxAttempts: settings.LLM_MAX_RETRIES,
        backoff: new ExponentialBackoff({ initialDelay: settings.LLM_RETRY_BASE_MS, maxDelay: 10_000 }),
      },
    );
    this.retryPolicy.onRetry(() => this.retries.inc({ gen_ai_provider_name: provider.name }));
  }

  get providerName(): string {
    return this.provider.name;
  }

  /**
   * Streams one completion, handing each event to `onEvent` as it arrives (callbacks rather than
   * async iterators all the way from the provider: no promise per token on the hottest path).
   * Attempts that fail before their first event are retried; once an event went out, a failure is
   * final. Throws `LlmError`, or the turn's abort reason when its signal aborts.
   */
  async stream(request: LlmRequest, onEvent: (event: LlmEvent) => void): Promise<void> {
    const started = performance.now();
    // The whole answer's bound, retries and waits for the first token included.
    const deadline = new AbortController();
    const total = setTimeout(() => deadline.abort(new LlmTimeoutError('The LLM answer took too long.')), this.settings.LLM_TIMEOUT_MS);
    const signal = AbortSignal.any([request.signal, deadline.signal]);
    let delivered = false;
    const deliver = (event: LlmEvent) => {
      if (!delivered) {
        delivered = true;
        this.firstChunk.observe(this.labels, (performance.now() - started) / 1000);
      }
      if (event.type === 'usage') {
        this.tokens.observe({ ...this.labels, gen_ai_token_type: 'input' }, event.inputTokens);
        this.tokens.observe({ ...this.labels, gen_ai_token_type: 'output' }, event.outputTokens);
      }
      onEvent(event);
    };
    try {
      await this.untilStopped(
        signal,
        this.breaker.execute(() => this.retryPolicy.execute(() => this.attempt({ ...request, signal }, deliver, () => delivered), signal)),
      );
    } catch (error) {
      if (request.signal.aborted) throw request.signal.reason;
      const failure = classifyLlmError(deadline.signal.aborted ? deadline.signal.reason : error);
      this.errors.inc({ gen_ai_provider_name: this.provider.name, error_type: failure.type });
      throw failure;
    } finally {
      clearTimeout(total);
      this.duration.observe(this.labels, (performance.now() - started) / 1000);
    }
  }

  /** One call to the provider, bounded by the idle timeout between events. */
  private async attempt(request: LlmRequest, deliver: (event: LlmEvent) => void, delivered: () => boolean): Promise<void> {
    request.signal.throwIfAborted();
    const controller = new AbortController();
    const idle = new IdleTimer(this.settings.LLM_FIRST_TOKEN_TIMEOUT_MS, this.settings.LLM_IDLE_TIMEOUT_MS, (e) => controller.abort(e));
    try {
      const signal = AbortSignal.any([request.signal, controller.signal]);
      await this.provider.stream({ ...request, signal, onAlive: () => idle.alive() }, (event) => {
        idle.alive();
        deliver(event);
      });
      // The SDK ends a stream quietly when its signal aborts: an abort is not a complete answer.
      request.signal.throwIfAborted();
      controller.signal.throwIfAborted();
    } catch (error) {
      if (request.signal.aborted) throw new LlmCallAborted();
      const reason: unknown = controller.signal.reason;
      const failure = reason instanceof LlmError ? reason : classifyLlmError(error);
      // The user has seen tokens: trying again would show them twice.
      throw delivered() ? new LlmStreamBrokeOff(failure) : failure;
    } finally {
      idle.stop();
      controller.abort();
    }
  }

  /** Rejects as soon as the turn stops: cockatiel's wait between attempts does not listen to the signal. */
  private untilStopped<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const stopped = () => reject(signal.reason);
      if (signal.aborted) return stopped();
      signal.addEventListener('abort', stopped, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener('abort', stopped));
    });
  }
}
