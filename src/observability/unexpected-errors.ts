import { Injectable, Logger } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { Settings } from '../config/settings.js';
import { describeNonError } from './log-redaction.js';
import { ShutdownState } from './shutdown-state.js';

type Kind = 'unhandled_rejection' | 'uncaught_exception';

/**
 * A rejection nobody handled or an exception nobody caught is a bug whose damage is unknown. Node's
 * default is to die on the spot, mid-write, taking every stream of the instance with it. Instead it is
 * logged with its context, counted, and the process stops the way SIGTERM stops it: new turns are
 * refused, running turns are interrupted with their partial answers stored, leases are released.
 * It then exits with code 1 so that the orchestrator starts a fresh one.
 */
@Injectable()
export class UnexpectedErrors {
  private readonly logger = new Logger(UnexpectedErrors.name);
  private stopping = false;

  constructor(
    private readonly settings: Settings,
    private readonly shutdown: ShutdownState,
    @InjectMetric('process_unhandled_errors_total') private readonly counter: Counter<string>,
  ) {
    for (const kind of ['unhandled_rejection', 'uncaught_exception']) this.counter.inc({ kind }, 0);
  }

  /** Installs the process-wide handlers; `stop` is the graceful stop (`app.close()`). */
  stopOnThem(stop: () => Promise<void>): void {
    process.on('unhandledRejection', (reason) => this.fail('unhandled_rejection', reason, stop));
    process.on('uncaughtException', (error, origin) => this.fail('uncaught_exception', error, stop, origin));
  }

  private fail(kind: Kind, error: unknown, stop: () => Promise<void>, origin?: string): void {
    this.counter.inc({ kind });
    this.logger.fatal({
      msg: this.stopping ? 'unexpected error while stopping' : 'unexpected error: stopping the process gracefully',
      kind,
      origin,
      err: error instanceof Error ? error : new Error(`non-error value: ${typeof error} ${describeNonError(error)}`),
      uptimeSeconds: Math.round(process.uptime()),
    });
    if (this.stopping) return;
    this.stopping = true;
    // At once, not when the shutdown hooks reach it: readiness fails and new turns are refused meanwhile.
    this.shutdown.stopping = true;
    // A stop that hangs must not keep the broken process alive.
    setTimeout(() => process.exit(1), this.settings.SHUTDOWN_TIMEOUT_MS + 5_000).unref();
    stop().then(
      () => process.exit(1),
      (stopError: unknown) => {
        this.logger.error({ msg: 'the graceful stop failed', err: stopError });
        process.exit(1);
      },
    );
  }
}
