import { Injectable } from '@nestjs/common';
import { Observable } from 'rxjs';
import { DomainError } from '../common/domain-error.js';
import { Settings } from '../config/settings.js';
import { EarlierRequest, IdempotencyKeys } from '../idempotency/idempotency-keys.js';
import { SessionLease } from '../sessions/session-lease.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { StampedEvent } from './protocol/turn-event.js';
import type { Turn, TurnInput, TurnKind, TurnOptions } from './turn.js';
import { AdmitTurn, RepeatedRequest } from './steps/admit-turn.js';
import { CheckTurnInput } from './steps/check-turn-input.js';
import { TakeAnswers, type DecisionInput, type ToolResultInput } from './steps/take-answers.js';
import { TakeUserMessage } from './steps/take-user-message.js';
import { TurnLifetime } from './steps/turn-lifetime.js';
import { TurnStreams } from './turn-streams.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';

/**
 * The entry points of a turn, for every face of the service (the REST routes, AG-UI): each admits
 * the turn (checks, lease), does what must happen before the stream, and returns the stream of
 * events whose lifetime `TurnLifetime` owns. A turn takes one input: a user message, or answers —
 * any number of tool results and decisions at once, so that one AG-UI run is one turn. A request
 * that repeats an earlier one's `Idempotency-Key` starts nothing: it answers that request's turn
 * stream (replay, then live).
 * The agent loop is `steps/agent-loop.ts`.
 */
@Injectable()
export class TurnRunner {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly settings: Settings,
    private readonly checks: CheckTurnInput,
    private readonly admission: AdmitTurn,
    private readonly lifetime: TurnLifetime,
    private readonly userMessage: TakeUserMessage,
    private readonly answers: TakeAnswers,
    private readonly sessions: SessionsService,
    private readonly lease: SessionLease,
    private readonly keys: IdempotencyKeys,
    private readonly streams: TurnStreams,
  ) {}

  /**
   * Starts one turn for what `plan` works out, or, when the request repeats an earlier one's
   * `Idempotency-Key`, answers that request's turn stream. `plan` runs only for a request that is no
   * repeat: it may read what the session has stored (AG-UI finds what is new in its input), which a
   * first request with the same key may just have changed.
   */
  start(owner: string, sessionId: string, plan: () => Promise<TurnInput>, options: TurnOptions = {}): Promise<Observable<StampedEvent>> {
    return this.once(owner, sessionId, options, async () => this.begin(owner, sessionId, await plan(), options));
  }

  /** `POST .../messages`: a new user message. */
  startMessage(
    owner: string,
    sessionId: string,
    input: { content: string; agentType?: string },
    options: TurnOptions = {},
  ): Promise<Observable<StampedEvent>> {
    const { content, agentType } = input;
    return this.start(owner, sessionId, async () => ({ kind: 'message', content, agentType }), options);
  }

  /** `POST .../tool-results`: the client ran a tool. */
  startToolResult(owner: string, sessionId: string, input: ToolResultInput, options: TurnOptions = {}): Promise<Observable<StampedEvent>> {
    const { toolCallId, output, error } = input;
    return this.start(
      owner,
      sessionId,
      async () => ({ kind: 'answers', results: [{ toolCallId, output, error }], decisions: [] }),
      options,
    );
  }

  /** `POST .../approvals/:id`: a person decided on a held tool call. */
  startDecision(
    owner: string,
    sessionId: string,
    approvalId: string,
    input: DecisionInput,
    options: TurnOptions = {},
  ): Promise<Observable<StampedEvent>> {
    const decision = { approvalId, decision: input.decision, arguments: input.arguments, feedback: input.feedback };
    return this.start(owner, sessionId, async () => ({ kind: 'answers', results: [], decisions: [decision] }), options);
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

  private async begin(owner: string, sessionId: string, input: TurnInput, options: TurnOptions): Promise<Observable<StampedEvent>> {
    if (input.kind === 'message') {
      this.checks.checkMessage(input);
      const turn = await this.admit(owner, sessionId, 'message', options);
      return this.lifetime.stream(turn, (t) => this.userMessage.run(t, input.content, input.agentType));
    }
    const decisions = await this.checks.checkAnswers(owner, sessionId, input.results, input.decisions);
    const kind = !input.decisions.length ? 'tool_result' : !input.results.length ? 'approval' : 'answers';
    const turn = await this.admit(owner, sessionId, kind, options);
    return this.lifetime.stream(turn, await this.answers.run(turn, input.results, decisions));
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
      // Refused because a request with the same key got there first (its message is stored, its call answered): a repeat.
      const first = error instanceof DomainError && options.idempotency && (await this.keys.find(owner, options.idempotency));
      if (first) return this.repeat(owner, sessionId, first, options);
      throw error;
    }
  }

  private repeat(owner: string, sessionId: string, earlier: EarlierRequest, options: TurnOptions): Promise<Observable<StampedEvent>> {
    // The fingerprint names the route and the session, so a key that matched is one of this session's turns.
    if (!earlier.turnId) throw new Error('an idempotency key of a turn route without its turn');
    return this.streams.ofTurn(owner, sessionId, earlier.turnId, options.lastEventId);
  }
}
