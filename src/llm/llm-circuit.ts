import { BrokenCircuitError, CircuitState, SamplingBreaker } from 'cockatiel';

export type CircuitPhase = 'closed' | 'open' | 'half_open';

/** What one admitted attempt tells the circuit; the first word counts, later ones are ignored. */
export interface CircuitTicket {
  /** The provider answered (its first chunk arrived). */
  succeeded(): void;
  /** The provider failed (5xx, timeout, connection) before answering. */
  failed(): void;
  /** Says nothing of the provider: a cancel, a client gone, a 4xx. */
  ignored(): void;
}

export interface CircuitOptions {
  /** Share of failed calls (0–1, exclusive) over the window that opens the circuit. */
  failureRate: number;
  windowMs: number;
  /** Calls needed in the window before a rate is trusted. */
  minCalls: number;
  cooldownMs: number;
  onPhase: (phase: CircuitPhase) => void;
  onSample: (outcome: 'success' | 'failure') => void;
}

/**
 * The LLM circuit breaker. cockatiel's SamplingBreaker decides, from the failure rate over a sliding
 * window with a minimum of calls, when to open. The phases are kept here rather than in cockatiel's
 * CircuitBreakerPolicy, which queues every call behind the half-open probe (and releases them all
 * at once) and closes when the probe is cancelled: here, once the cooldown has passed the circuit
 * is half-open at once (a timer, so the state metric is true on a quiet service), exactly one call
 * is let through as the probe while the others fail fast, and a probe that says nothing (cancelled)
 * leaves the next call to probe.
 */
export class LlmCircuit {
  private phase: CircuitPhase = 'closed';
  private probing = false;
  private timer?: NodeJS.Timeout;
  private readonly sampler: SamplingBreaker;

  constructor(private readonly options: CircuitOptions) {
    this.sampler = new SamplingBreaker({
      threshold: options.failureRate,
      duration: options.windowMs,
      minimumRps: (options.minCalls * 1000) / options.windowMs,
    });
  }

  get state(): CircuitPhase {
    return this.phase;
  }

  /** Lets one attempt through, or throws `BrokenCircuitError` while open or while the probe runs. */
  admit(): CircuitTicket {
    if (this.phase === 'open' || (this.phase === 'half_open' && this.probing)) throw new BrokenCircuitError();
    const probe = this.phase === 'half_open';
    if (probe) this.probing = true;
    let settled = false;
    const settle = (outcome: 'success' | 'failure' | 'ignored') => {
      if (settled) return;
      settled = true;
      if (outcome !== 'ignored') this.options.onSample(outcome);
      if (probe) {
        this.probing = false;
        if (outcome === 'success') {
          this.sampler.success(CircuitState.HalfOpen); // starts the window afresh
          this.enter('closed');
        } else if (outcome === 'failure') {
          this.open();
        }
      } else if (this.phase === 'closed') {
        // Attempts admitted before the circuit opened and ending after it say nothing new.
        if (outcome === 'success') this.sampler.success(CircuitState.Closed);
        else if (outcome === 'failure' && this.sampler.failure(CircuitState.Closed)) this.open();
      }
    };
    return { succeeded: () => settle('success'), failed: () => settle('failure'), ignored: () => settle('ignored') };
  }

  /** Stops the cooldown timer (the service is stopping). */
  dispose(): void {
    clearTimeout(this.timer);
  }

  private open(): void {
    this.enter('open');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.enter('half_open'), this.options.cooldownMs);
    this.timer.unref();
  }

  private enter(phase: CircuitPhase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.options.onPhase(phase);
  }
}
