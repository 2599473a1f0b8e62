import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';

/** Whether a stop is under way: readiness fails and new turns are refused while it is. */
@Injectable()
export class ShutdownState implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Shutdown');
  stopping = false;
  private startedAt?: number;

  beforeApplicationShutdown(signal?: string): void {
    this.stopping = true;
    this.startedAt = performance.now();
    // The turn runner logs which turns it interrupts; this line marks the stop itself.
    this.logger.log({ msg: 'stopping', signal: signal ?? 'app.close()' });
  }

  onApplicationShutdown(signal?: string): void {
    this.stopping = true;
    const durationMs = this.startedAt === undefined ? undefined : Math.round(performance.now() - this.startedAt);
    this.logger.log({ msg: 'stopped', signal: signal ?? 'app.close()', durationMs });
  }
}
