import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { ExponentialBackoff, IBackoff } from 'cockatiel';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { Settings } from '../config/settings.js';
import { CircuitPhase, CircuitTicket, LlmCircuit } from './llm-circuit.js';
import { IdleTimer } from './idle-timer.js';
import {
  classifyLlmError,
  isProviderFailure,
  isRetryable,
  LlmCallAborted,
  LlmError,
  LlmStreamBrokeOff,
  LlmStreamEndedEarly,
  LlmTimeoutError,
} from './llm-errors.js';
import { LlmEvent, LlmProvider, LlmRequest } from './llm-provider.js';
import { LlmSpan } from './llm-span.js';

const CIRCUIT_STATE: Record<CircuitPhase, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * The LLM as a turn sees it: the configured provider behind a circuit breaker, retried with
 * exponential backoff and jitter on 429, 5xx, timeouts and connection errors before the first
 * token (never after: the user has seen it), with a request timeout and an idle timeout.
 * Each attempt goes through the breaker; a turn that stopped never counts in it.
 */
@Injectable()
export class LlmClient implements OnModuleDestroy {
  private readonly logger = new Logger(LlmClient.name);
  private readonly circuit: LlmCircuit;
  private readonly backoff: ExponentialBackoff<unknown>;
  private readonly labels: { gen_ai_provider_name: string; gen_ai_request_model: string };

  constructor(
    @Inject(LlmProvider) private readonly provider: LlmProvider,
    private readonly settings: Settings,
    @InjectMetric('gen_ai_client_operation_duration_seconds') private readonly duration: Histogram<string>,
    @InjectMetric('gen_ai_client_operation_time_to_first_chunk_seconds') private readonly firstChunk: Histogram<string>,
    @InjectMetric('gen_ai_client_token_usage') private readonly tokens: Histogram<string>,
    @InjectMetric('llm_errors_total') private readonly errors: Counter<string>,
    @InjectMetric('llm_retries_total') private readonly retries: Counter<string>,
    @InjectMetric('llm_circuit_state') state: Gauge<string>,
    @InjectMetric('llm_circuit_samples_total') samples: Counter<string>,
  ) {
    this.labels = { gen_ai_provider_name: provider.name, gen_ai_request_model: provider.model };
    const byProvider = { gen_ai_provider_name: provider.name };
    state.set(byProvider, 0);
    samples.inc({ ...byProvider, outcome: 'success' }, 0);
    samples.inc({ ...byProvider, outcome: 'failure' }, 0);
    this.circuit = new LlmCircuit({
      failureRate: settings.LLM_BREAKER_FAILURE_PERCENT / 100,
      windowMs: settings.LLM_BREAKER_WINDOW_MS,
      minCalls: settings.LLM_BREAKER_MIN_CALLS,
      cooldownMs: settings.LLM_BREAKER_COOLDOWN_MS,
      onPhase: (phase) => {
        state.set(byProvider, CIRCUIT_STATE[phase]);
        this.logger.warn({ msg: 'LLM circuit breaker changed state', provider: provider.name, state: phase });
      },
      onSample: (outcome) => samples.inc({ ...byProvider, outcome }),
    });
    this.backoff = new ExponentialBackoff({ initialDelay: settings.LLM_RETRY_BASE_MS, maxDelay: 10_000 });
  }

  onModuleDestroy(): void {
    this.circuit.dispose();
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
    const span = new LlmSpan(this.provider.name, this.provider.model);
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
      span.observe(event);
      onEvent(event);
    };
    try {
      await this.withRetries({ ...request, signal }, deliver, () => delivered, span);
      span.succeeded();
    } catch (error) {
      if (request.signal.aborted) {
        span.abandoned();
        throw request.signal.reason;
      }
      const failure = classifyLlmError(deadline.signal.aborted ? deadline.signal.reason : error);
      this.errors.inc({ gen_ai_provider_name: this.provider.name, error_type: failure.type });
      span.failed(failure.type, failure.code);
      throw failure;
    } finally {
      clearTimeout(total);
      this.duration.observe(this.labels, (performance.now() - started) / 1000);
    }
  }

  /**
   * Attempts until one succeeds or fails for good. The wait between attempts ends as soon as the
   * turn stops (cockatiel's retry policy waits it out, and then runs the next attempt anyway).
   */
  private async withRetries(
    request: LlmRequest,
    deliver: (event: LlmEvent) => void,
    delivered: () => boolean,
    span: LlmSpan,
  ): Promise<void> {
    let backoff: IBackoff<unknown> | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(request, deliver, delivered);
      } catch (error) {
        const failure = classifyLlmError(error);
        const retryable = !(error instanceof LlmStreamBrokeOff) && isRetryable(failure);
        if (!retryable || request.signal.aborted || attempt > this.settings.LLM_MAX_RETRIES) throw error;
        backoff = (backoff ?? this.backoff).next(undefined);
        this.retries.inc({ gen_ai_provider_name: this.provider.name });
        span.retrying(attempt, failure.type);
        await sleep(backoff.duration, undefined, { signal: request.signal });
      }
    }
  }

  /** One call to the provider through the breaker, bounded by the idle timeout between events. */
  private async attempt(request: LlmRequest, deliver: (event: LlmEvent) => void, delivered: () => boolean): Promise<void> {
    // A turn stopped before its call (a slow database, a cancel) never reaches the breaker.
    request.signal.throwIfAborted();
    const ticket = this.circuit.admit();
    const controller = new AbortController();
    const idle = new IdleTimer(this.settings.LLM_FIRST_TOKEN_TIMEOUT_MS, this.settings.LLM_IDLE_TIMEOUT_MS, (e) => controller.abort(e));
    try {
      const signal = AbortSignal.any([request.signal, controller.signal]);
      // Any byte from the provider (a delta of any kind, a keep-alive comment) proves it alive.
      await this.provider.stream({ ...request, signal, onAlive: () => idle.alive() }, (event) => {
        idle.alive();
        // The provider answers: what happens later in the stream does not change that.
        ticket.succeeded();
        deliver(event);
      });
      // The SDK ends a stream quietly when its signal aborts: an abort is not a complete answer.
      request.signal.throwIfAborted();
      controller.signal.throwIfAborted();
      ticket.succeeded();
    } catch (error) {
      throw this.failureOf(error, request.signal, controller.signal, ticket, delivered());
    } finally {
      idle.stop();
      controller.abort();
    }
  }

  /** What a failed attempt was, told to the breaker: only the provider's own failures count. */
  private failureOf(error: unknown, turn: AbortSignal, idle: AbortSignal, ticket: CircuitTicket, delivered: boolean): Error {
    const reason: unknown = turn.aborted ? turn.reason : idle.reason;
    if (turn.aborted && !(reason instanceof LlmError)) {
      ticket.ignored();
      return new LlmCallAborted();
    }
    let failure = reason instanceof LlmError ? reason : classifyLlmError(error);
    // 5xx, 429, timeouts and connection failures; a refused request or an incomplete answer is no failure of the provider.
    if (isProviderFailure(failure)) ticket.failed();
    else ticket.ignored();
    if (!delivered) return failure;
    // The user has seen tokens: trying again would show them twice. However the provider worded the
    // cut ("could not be reached", "the stream broke off"), the client is told that it came mid-answer;
    // a stream that closed cleanly but early says so.
    if (failure.type === 'connection' && !(failure instanceof LlmStreamEndedEarly))
      failure = new LlmError('connection', 'The connection to the LLM provider broke off mid-answer.', {
        code: failure.code,
        detail: failure.detail,
      });
    return new LlmStreamBrokeOff(failure);
  }
}
