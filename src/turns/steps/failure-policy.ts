import { Injectable, Logger } from '@nestjs/common';
import { LlmError } from '../../llm/llm-errors.js';
import { MessagesService } from '../../messages/messages.service.js';
import { isConnectionError, rollbackReason, StreamEndedError } from '../../unit-of-work/transaction-errors.js';
import { events } from '../protocol/events.js';
import { isStreamErrorCode, type DoneStatus, type TurnEvent } from '../protocol/turn-event.js';
import { answerMetadata, commitMessages, type StopReason, type Turn } from '../turn.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';

/**
 * A write refused because the turn's session row is gone: deleted outside the API while the turn
 * ran (the API's delete waits for no turn, but marks the row). Nothing more can be stored for it.
 */
function isSessionGone(failure: unknown): boolean {
  const detail = (failure as { driverError?: { detail?: unknown } })?.driverError?.detail;
  return (
    rollbackReason(failure) === 'foreign_key_violation' && typeof detail === 'string' && /not present in table "sessions"/.test(detail)
  );
}

/** How a turn that threw ends: the status and the error recorded on its row. */
export interface TurnFailure {
  status: DoneStatus;
  error?: string;
}

/**
 * What a turn that threw becomes. A stop (cancel, lost lease, shutdown) or a client gone is not a
 * failure: the turn is `cancelled` or `interrupted`. LLM and database failures, and bugs, are `failed`
 * and tell the client why with an `error` event. Either way the text streamed so far is kept as an
 * interrupted answer, stored before the `error` so that `error` comes right before `done`.
 */
@Injectable()
export class FailurePolicy {
  private readonly logger = new Logger(FailurePolicy.name);

  constructor(
    private readonly txHost: TransactionHost,
    private readonly messages: MessagesService,
  ) {}

  async settle(turn: Turn, failure: unknown): Promise<TurnFailure> {
    const { outcome, notice } = this.classify(turn, failure);
    if (turn.stop.signal.reason === 'lease_lost' && !(await this.claimLapsedEnd(turn))) turn.endedElsewhere = true;
    else if (!isSessionGone(failure)) await this.savePartial(turn);
    if (notice) turn.emit(notice);
    return outcome;
  }

  private classify(turn: Turn, failure: unknown): { outcome: TurnFailure; notice?: TurnEvent } {
    const stopReason = turn.stop.signal.reason as StopReason | undefined;
    const clientGone = turn.uow.signal.aborted;
    if (turn.stop.signal.aborted || clientGone || failure instanceof StreamEndedError) {
      const status = !clientGone && stopReason === 'cancelled' ? 'cancelled' : 'interrupted';
      return { outcome: { status, error: clientGone ? 'the client went away' : stopReason } };
    }
    if (failure instanceof LlmError) {
      const code = isStreamErrorCode(failure.code) ? failure.code : 'llm_error';
      // The row keeps the provider's own words (secrets removed); the client gets what to do.
      return { outcome: { status: 'failed', error: failure.recorded }, notice: events.error(code, failure.message) };
    }
    if (isSessionGone(failure)) {
      this.logger.warn({ msg: 'session deleted under a running turn', turnId: turn.id, sessionId: turn.sessionId });
      return {
        outcome: { status: 'failed', error: 'session deleted' },
        notice: events.error('session_deleted', 'The session was deleted while the turn ran; nothing more was stored.'),
      };
    }
    this.logger.error({ msg: 'turn failed', turnId: turn.id, err: failure });
    const notice = isConnectionError(failure)
      ? events.error('database_unavailable', 'The database is unavailable.')
      : events.error('internal_error', 'The turn failed unexpectedly.');
    return { outcome: { status: 'failed', error: 'internal error' }, notice };
  }

  /**
   * A turn whose lease lapsed records its own end, unless the sweep or a new turn's start has ended
   * it: they end only `running` turns, and the row lock makes one of them and this the only one to
   * keep its answer. False when another has.
   */
  private async claimLapsedEnd(turn: Turn): Promise<boolean> {
    try {
      const rows: unknown[] = await this.txHost.statement('claim_lapsed_turn', () =>
        this.txHost.tx.query(
          `WITH claimed AS (
             UPDATE turns SET status = 'interrupted', error = 'lease_lost', finished_at = now() WHERE id = $1 AND status = 'running' RETURNING id)
           SELECT id FROM claimed`,
          [turn.id],
        ),
      );
      return rows.length > 0;
    } catch (error) {
      // The database is away: the turn's own end is tried as before (and fails the same way).
      this.logger.warn({ msg: 'could not claim the end of a lapsed turn', turnId: turn.id, error: (error as Error).message });
      return true;
    }
  }

  private async savePartial(turn: Turn): Promise<void> {
    if (!turn.partial) return;
    const text = turn.partial;
    turn.partial = '';
    try {
      await commitMessages(this.txHost, turn, 'save_interrupted_message', () =>
        this.messages.append(turn.sessionId, [
          { role: 'assistant', content: text, status: 'interrupted', metadata: answerMetadata(turn), agent: turn.agent, turnId: turn.id },
        ]),
      );
    } catch (saveError) {
      this.logger.error({ msg: 'could not save an interrupted answer', turnId: turn.id, error: (saveError as Error).message });
    }
  }
}
