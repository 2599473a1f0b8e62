import { Injectable } from '@nestjs/common';
import { Observable } from 'rxjs';
import { SessionLease } from '../sessions/session-lease.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { TurnEvent } from './protocol/turn-event.js';
import type { Turn, TurnOptions } from './turn.js';
import { AdmitTurn } from './steps/admit-turn.js';
import { TakeDecision, type DecisionInput } from './steps/take-decision.js';
import { TakeToolResult, type ToolResultInput } from './steps/take-tool-result.js';
import { TakeUserMessage } from './steps/take-user-message.js';
import { TurnLifetime } from './steps/turn-lifetime.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';

function withOptions(turn: Turn, options: TurnOptions): Turn {
  if (options.clientTools) turn.clientTools = new Set(options.clientTools);
  return turn;
}

/**
 * The entry points of a turn, for every face of the service (the REST routes, AG-UI): each admits
 * the turn (checks, lease), does what must happen before the stream, and returns the stream of
 * events whose lifetime `TurnLifetime` owns. The agent loop is `steps/agent-loop.ts`.
 */
@Injectable()
export class TurnRunner {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly admission: AdmitTurn,
    private readonly lifetime: TurnLifetime,
    private readonly userMessage: TakeUserMessage,
    private readonly toolResult: TakeToolResult,
    private readonly decision: TakeDecision,
    private readonly sessions: SessionsService,
    private readonly lease: SessionLease,
  ) {}

  /** `POST .../messages`: a new user message. */
  async startMessage(
    owner: string,
    sessionId: string,
    input: { content: string; agentType?: string },
    options: TurnOptions = {},
  ): Promise<Observable<TurnEvent>> {
    this.admission.checkMessage(input);
    const turn = withOptions(await this.admission.admit(owner, sessionId, 'message'), options);
    return this.lifetime.stream(turn, (t) => this.userMessage.run(t, input.content, input.agentType));
  }

  /** `POST .../tool-results`: the client ran a tool. */
  async startToolResult(
    owner: string,
    sessionId: string,
    input: ToolResultInput,
    options: TurnOptions = {},
  ): Promise<Observable<TurnEvent>> {
    await this.admission.checkToolResult(owner, sessionId, input.toolCallId);
    const turn = withOptions(await this.admission.admit(owner, sessionId, 'tool_result'), options);
    return this.lifetime.stream(turn, await this.toolResult.run(turn, input));
  }

  /** `POST .../approvals/:id`: a person decided on a held tool call. */
  async startDecision(
    owner: string,
    sessionId: string,
    approvalId: string,
    input: DecisionInput,
    options: TurnOptions = {},
  ): Promise<Observable<TurnEvent>> {
    const approval = await this.admission.checkDecision(owner, sessionId, approvalId, input);
    const turn = withOptions(await this.admission.admit(owner, sessionId, 'approval'), options);
    return this.lifetime.stream(turn, await this.decision.run(turn, approval, input));
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
}
