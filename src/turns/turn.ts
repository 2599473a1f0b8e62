import { isRuntimeTool } from '../agents/tools.js';
import type { ProviderState } from '../llm/llm-provider.js';
import type { IdempotencyClaim } from '../idempotency/idempotency-keys.js';
import type { HistoryEntry, MessageEntity } from '../messages/message.entity.js';
import type { TransactionHost } from '../unit-of-work/transaction-host.js';
import type { UnitOfWork } from '../unit-of-work/unit-of-work.js';
import type { TurnEventRecorder } from './event-log/turn-event-recorder.js';
import type { DecisionInput, ToolResultInput } from './steps/take-answers.js';
import { events } from './protocol/events.js';
import type { DoneStatus, TurnEvent } from './protocol/turn-event.js';

/** What started a turn: a message, tool results, decisions, or both of these (an AG-UI run). */
export type TurnKind = 'message' | 'tool_result' | 'approval' | 'answers';
export type StopReason = 'cancelled' | 'lease_lost' | 'shutdown';

/** One running turn: what the steps need, passed explicitly from step to step. */
export interface Turn {
  id: string;
  /** The turn's place in the order of all turns; its events' ids come from it. */
  seq: number;
  owner: string;
  sessionId: string;
  agent: string;
  kind: TurnKind;
  /** The stream's Unit of Work: its signal (the client left) and the work it must wait for. Writes go through TransactionHost. */
  uow: UnitOfWork;
  /** Aborted when the turn must stop: cancel, lost lease, shutdown. */
  stop: AbortController;
  /** The LLM's abort signal: the turn stops, or the client leaves. */
  signal: AbortSignal;
  /** Sends an event on the turn's stream, with its id, and stores it for replay. */
  emit: (event: TurnEvent) => void;
  /** The turn's events on their way to `turn_events`. */
  events: TurnEventRecorder;
  /** The `Idempotency-Key` the turn was started with, if any. */
  idempotency?: IdempotencyClaim;
  usage: { input: number; output: number };
  steps: number;
  switches: number;
  /** The history as the turn's first step will send it, when the turn has just read it. */
  history?: HistoryEntry[];
  /** The client-run tools this turn's client can run (an AG-UI client's `tools`); unset: all the agent has. */
  clientTools?: ReadonlySet<string>;
  /** Text streamed by the current LLM step and not yet stored. */
  partial: string;
  /** The current LLM step's reasoning: stored with its answer, never as its text, and never sent back to the LLM. */
  reasoning: string;
  /**
   * Its lease lapsed and its end was recorded by another — the sweep, or a new turn's start —
   * with the answer it had stored as events: the turn stores nothing more of its end.
   */
  endedElsewhere?: boolean;
  startedAt: number;
}

/** What starts a turn once its lease is taken: the status to end with, or `continue` into the agent loop. */
export type Kickoff = (turn: Turn) => Promise<DoneStatus | 'continue'>;

/** What an answer keeps besides its text: the step's reasoning, and what its provider wants back with it. */
export function answerMetadata(turn: Turn, providerState?: ProviderState): Record<string, unknown> | null {
  if (!turn.reasoning && !providerState) return null;
  return { ...(turn.reasoning ? { reasoning: turn.reasoning } : {}), ...(providerState ? { providerState } : {}) };
}

/** A decision on one held call, as a request names it. */
export interface DecisionRequest extends DecisionInput {
  approvalId: string;
}

/** What one turn takes: a new user message, or answers to what the session waits for. */
export type TurnInput =
  { kind: 'message'; content: string; agentType?: string } | { kind: 'answers'; results: ToolResultInput[]; decisions: DecisionRequest[] };

/** What a turn route may say about its client, beyond the input itself. */
export interface TurnOptions {
  /** Names of the client-run tools the client can run; the agent's tools outside it are not offered. */
  clientTools?: readonly string[];
  /** What the turn does when its client leaves; unset: the ON_DISCONNECT setting. */
  onDisconnect?: 'cancel' | 'continue';
  /** The request's `Idempotency-Key`: a repeat answers the first request's turn stream. */
  idempotency?: IdempotencyClaim;
  /** A repeat's `Last-Event-ID`: its stream starts after it. */
  lastEventId?: string;
}

/** Whether the turn offers `tool` to the LLM: runtime tools always; client tools when the client can run them. */
export function offersTool(turn: Turn, tool: string): boolean {
  return !turn.clientTools || isRuntimeTool(tool) || turn.clientTools.has(tool);
}

export function addUsage(turn: Turn, input: number, output: number): void {
  turn.usage.input += input;
  turn.usage.output += output;
}

/**
 * Stores messages in a named micro-transaction and only then tells the client: a `message` event
 * always describes a committed row. `single` marks work that is one SQL statement (no BEGIN/COMMIT).
 */
export async function commitMessages(
  txHost: TransactionHost,
  turn: Turn,
  operation: string,
  work: () => Promise<MessageEntity[]>,
  single = false,
): Promise<MessageEntity[]> {
  const saved = single ? await txHost.statement(operation, work) : await txHost.transaction(operation, work);
  for (const message of saved) turn.emit(events.message(message));
  return saved;
}
