import { Injectable } from '@nestjs/common';
import type { TurnEventRecorder } from './turn-event-recorder.js';

/** The recorders of the turns running on this instance: a joiner here follows them in memory, not through the database. */
@Injectable()
export class LocalTurns {
  private readonly turns = new Map<string, TurnEventRecorder>();

  add(turnId: string, recorder: TurnEventRecorder): void {
    this.turns.set(turnId, recorder);
  }

  /** Called once the turn has sent its `done`. */
  remove(turnId: string): void {
    this.turns.delete(turnId);
  }

  get(turnId: string): TurnEventRecorder | undefined {
    return this.turns.get(turnId);
  }
}
