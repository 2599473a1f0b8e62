import { LlmTimeoutError } from './llm-errors.js';

/**
 * The silence an answer may keep: a long wait for its first byte (a local server may be loading
 * the model), then a shorter one between any two bytes. Fires `onSilent` with the timeout error.
 */
export class IdleTimer {
  private heard = false;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly firstByteMs: number,
    private readonly idleMs: number,
    private readonly onSilent: (error: LlmTimeoutError) => void,
  ) {
    this.timer = setTimeout(() => onSilent(new LlmTimeoutError('The LLM sent nothing in time.')), firstByteMs);
  }

  /** Anything arrived: a delta, a keep-alive comment, one byte. */
  alive(): void {
    if (this.heard) {
      this.timer.refresh();
      return;
    }
    this.heard = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onSilent(new LlmTimeoutError('The LLM stopped sending tokens.')), this.idleMs);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
