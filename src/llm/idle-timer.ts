import { LlmTimeoutError } from './llm-errors.js';

/**
 * The silence an answer may keep: a long wait for its first byte (a local server may be loading
 * the model), then a shorter one between any two bytes. Fires `onSilent` with the timeout error.
 */
export class IdleTimer {
  private heard = false;
  private lastHeard = 0;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly firstByteMs: number,
    private readonly idleMs: number,
    private readonly onSilent: (error: LlmTimeoutError) => void,
  ) {
    this.timer = setTimeout(() => onSilent(new LlmTimeoutError('The LLM sent nothing in time.')), firstByteMs);
  }

  /**
   * Anything arrived: a delta, a keep-alive comment, one byte. Called for every event, so it only
   * notes the time; the timer looks at it when it fires (a `refresh()` per token cost more).
   */
  alive(): void {
    this.lastHeard = performance.now();
    if (this.heard) return;
    this.heard = true;
    clearTimeout(this.timer);
    this.wait(this.idleMs);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private wait(ms: number): void {
    this.timer = setTimeout(() => {
      const quiet = performance.now() - this.lastHeard;
      if (quiet >= this.idleMs) this.onSilent(new LlmTimeoutError('The LLM stopped sending tokens.'));
      else this.wait(this.idleMs - quiet);
    }, ms);
  }
}
