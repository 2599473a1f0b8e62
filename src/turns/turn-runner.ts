import { Injectable } from '@nestjs/common';
import { Observable } from 'rxjs';
import { Settings } from '../config/settings.js';
import { EarlierRequest, IdempotencyKeys } from '../idempotency/idempotency-keys.js';
import { SessionLease } from '../sessions/session-lease.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { StampedEvent } from './protocol/turn-event.js';
import type { Turn, TurnKind, TurnOptions } from './turn.js';
import { AdmitTurn, RepeatedRequest } from './steps/admit-turn.js';
import { TakeDecision, type DecisionInput } from './steps/take-decision.js';
import { TakeToolResult, type ToolResultInput } from './steps/take-tool-result.js';
import { TakeUserMessage } from './steps/take-user-message.js';
import { TurnLifetime } from './steps/turn-lifetime.js';
import { TurnStreams } from './turn-streams.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';

/**
 * The entry points of a turn, for every face of the service (the REST routes, AG-UI): each admits
 * the turn (checks, lease), does what must happen before the stream, and returns the stream of
 * events whose lifetime `TurnLifetime` owns. A request that repeats an earlier one's
 * `Idempotency-Key` starts nothing: it answers that request's turn stream (replay, then live).
 * The agent loop is `steps/agent-loop.ts`.
 */
@Injectable()
export class TurnRunner {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly settings: Settings,
    private readonly admission: AdmitTurn,
    private readonly lifetime: TurnLifetime,
    private readonly userMessage: TakeUserMessage,
    private readonly toolResult: TakeToolResult,
    private readonly decision: TakeDecision,
    private readonly sessions: SessionsService,
    private readonly lease: SessionLease,
    private readonly keys: IdempotencyKeys,
    private readonly streams: TurnStreams,
  ) {}

  /** `POST .../messages`: a new user message. */
  startMessage(
    owner: string,
    sessionId: string,
    input: { content: string; agentType?: string },
    options: TurnOptions = {},
  ): Promise<Observable<StampedEvent>> {
    return this.once(owner, sessionId, options, async () => {
      this.admission.checkMessage(input);
      const turn = await this.admit(owner, sessionId, 'message', options);
      return this.lifetime.stream(turn, (t) => this.userMessage.run(t, input.content, input.agentType));
    });
  }

  /** `POST .../tool-results`: the client ran a tool. */
  startToolResult(owner: string, sessionId: string, input: ToolResultInput, options: TurnOptions = {}): Promise<Observable<StampedEvent>> {
    return this.once(owner, sessionId, options, async () => {
      await this.admission.checkToolResult(owner, sessionId, input.toolCallId);
      const turn = await this.admit(owner, sessionId, 'tool_result', options);
      return this.lifetime.stream(turn, await this.toolResult.run(turn, input));
    });
  }

  /** `POST .../approvals/:id`: a person decided on a held tool call. */
  startDecision(
    owner: string,
    sessionId: string,
    approvalId: string,
    input: DecisionInput,
    options: TurnOptions = {},
  ): Promise<Observable<StampedEvent>> {
    return this.once(owner, sessionId, options, async () => {
      const approval = await this.admission.checkDecision(owner, sessionId, approvalId, input);
      const turn = await this.admit(owner, sessionId, 'approval', options);
      return this.lifetime.stream(turn, await this.decision.run(turn, approval, input));
    });
  }

  /** `POST .../cancel`: stops the running turn, wherever it runs (its instance reads the request when it renews the lease). */
  async cancel(owner: string, sessionId: string): Promise<{ cancelled: boolean }> {
    await this.sessions.get(owner, sessionId);
    const [rows] = await this.txHost.transaction('request_cancel', () =>
      this.txHost.tx.query(
        `UPDATE turns SET cancel_requested_at = now()
         WHERE id = (SELECT active_turn_id FROM sessions WHERE id = $1 AND lease_expires_at > now())
           AND status = 'running' AND cancel_requested_at IS NULL
         RETURNING id`,
        [sessionId],
      ),
    );
    const turnId: string | undefined = rows[0]?.id;
    if (turnId) this.lease.stopLocal(turnId, 'cancelled');
    return { cancelled: !!turnId };
  }

  private async admit(owner: string, sessionId: string, kind: TurnKind, options: TurnOptions): Promise<Turn> {
    const turn = await this.admission.admit(owner, sessionId, kind, options.idempotency);
    if (options.clientTools) turn.clientTools = new Set(options.clientTools);
    // The turn's Unit of Work is the stream's: with `continue` it lasts until the turn ends, not until the client leaves.
    if ((options.onDisconnect ?? this.settings.ON_DISCONNECT) === 'continue') turn.uow.outliveClient();
    return turn;
  }

  /** Runs `start` unless the request repeats an earlier one's key, whose turn stream is then the answer. */
  private async once(
    owner: string,
    sessionId: string,
    options: TurnOptions,
    start: () => Promise<Observable<StampedEvent>>,
  ): Promise<Observable<StampedEvent>> {
    const earlier = options.idempotency && (await this.keys.find(owner, options.idempotency));
    if (earlier) return this.repeat(owner, sessionId, earlier, options);
    try {
      return await start();
    } catch (error) {
      if (error instanceof RepeatedRequest) return this.repeat(owner, sessionId, error.earlier, options);
      throw error;
    }
  }

  private repeat(owner: string, sessionId: string, earlier: EarlierRequest, options: TurnOptions): Promise<Observable<StampedEvent>> {
    // The fingerprint names the route and the session, so a key that matched is one of this session's turns.
    if (!earlier.turnId) throw new Error('an idempotency key of a turn route without its turn');
    return this.streams.ofTurn(owner, sessionId, earlier.turnId, options.lastEventId);
  }
}
