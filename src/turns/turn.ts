import type { EntityManager } from 'typeorm';
import type { HistoryEntry, MessageEntity } from '../messages/message.entity.js';
import type { UnitOfWork } from '../unit-of-work/unit-of-work.js';
import { events } from './protocol/events.js';
import type { DoneStatus, TurnEvent } from './protocol/turn-event.js';

export type TurnKind = 'message' | 'tool_result' | 'approval';
export type StopReason = 'cancelled' | 'lease_lost' | 'shutdown';

/** One running turn: what the steps need, passed explicitly from step to step. */
export interface Turn {
  id: string;
  sessionId: string;
  agent: string;
  kind: TurnKind;
  uow: UnitOfWork;
  /** Aborted when the turn must stop: cancel, lost lease, shutdown. */
  stop: AbortController;
  /** The LLM's abort signal: the turn stops, or the client leaves. */
  signal: AbortSignal;
  emit: (event: TurnEvent) => void;
  usage: { input: number; output: number };
  steps: number;
  switches: number;
  /** The history as the turn's first step will send it, when the turn has just read it. */
  history?: HistoryEntry[];
  /** Text streamed by the current LLM step and not yet stored. */
  partial: string;
  startedAt: number;
}

/** What starts a turn once its lease is taken: the status to end with, or `continue` into the agent loop. */
export type Kickoff = (turn: Turn) => Promise<DoneStatus | 'continue'>;

export function addUsage(turn: Turn, input: number, output: number): void {
  turn.usage.input += input;
  turn.usage.output += output;
}

/**
 * Stores messages in a named micro-transaction and only then tells the client: a `message` event
 * always describes a committed row. `single` marks work that is one SQL statement (no BEGIN/COMMIT).
 */
export async function commitMessages(
  turn: Turn,
  operation: string,
  work: (m: EntityManager) => Promise<MessageEntity[]>,
  single = false,
): Promise<MessageEntity[]> {
  const saved = single ? await turn.uow.statement(operation, work) : await turn.uow.transaction(operation, work);
  for (const message of saved) turn.emit(events.message(message));
  return saved;
}
