import { Injectable, OnApplicationShutdown, BeforeApplicationShutdown } from '@nestjs/common';

/** Whether a stop is under way: readiness fails and new turns are refused while it is. */
@Injectable()
export class ShutdownState implements BeforeApplicationShutdown, OnApplicationShutdown {
  stopping = false;

  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  onApplicationShutdown(): void {
    this.stopping = true;
  }
}
