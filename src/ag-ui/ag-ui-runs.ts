import { Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import type { Observable } from 'rxjs';
import { AgentCatalog } from '../agents/agent-catalog.js';
import { ApprovalsService } from '../approvals/approvals.service.js';
import type { MessageView } from '../messages/message.dto.js';
import { MessagesService } from '../messages/messages.service.js';
import type { StampedEvent } from '../turns/protocol/turn-event.js';
import { TurnRunner } from '../turns/turn-runner.js';
import type { TurnInput, TurnOptions } from '../turns/turn.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { RunEnding } from './event-translation.js';
import { interruptOf } from './interrupts.js';
import { snapshotOf } from './messages-snapshot.js';
import type { RunInput } from './run-input.js';
import { planRun } from './run-plan.js';
import { sessionIdOf } from './thread-id.js';

const PAGE = 500;

/**
 * AG-UI runs over the runtime's turns, one turn per run: the thread is a session of the caller's key
 * (created on first use), and the input is read against the stored history to find what is new — a
 * user message, or tool results and decisions on held calls — which the turn runner takes as one
 * turn, with the same lease, Unit of Work, idempotency, cancel and metrics as the native routes.
 */
@Injectable()
export class AgUiRuns {
  constructor(
    private readonly turns: TurnRunner,
    private readonly sessions: SessionsService,
    private readonly messages: MessagesService,
    private readonly approvals: ApprovalsService,
    private readonly agents: AgentCatalog,
  ) {}

  /**
   * Starts the run's turn — a refusal is an HTTP error before any byte is sent — and returns its
   * events. A run that repeats an earlier one's key (its `runId`, or an `Idempotency-Key`) starts
   * nothing: its events are those of the turn the first one started.
   */
  async start(
    owner: string,
    input: RunInput,
    agentType: string | undefined,
    options: TurnOptions,
  ): Promise<{ sessionId: string; events$: Observable<StampedEvent> }> {
    if (agentType) this.agents.known(agentType);
    const sessionId = sessionIdOf(owner, input.threadId);
    // The frontend's tools are the client-run tools this run may offer; the agent's own list still bounds them.
    const turnOptions = { ...options, clientTools: input.tools };
    const events$ = await this.turns.start(owner, sessionId, () => this.plan(owner, sessionId, input, agentType), turnOptions);
    return { sessionId, events$ };
  }

  /** What the end of a run sends: the stored history and the approvals the thread now waits for. */
  async ending(sessionId: string): Promise<RunEnding> {
    const [stored, approvals] = await Promise.all([this.storedHistory(sessionId), this.approvals.list(sessionId)]);
    const pending = approvals.items.filter((a) => a.status === 'pending');
    const edited = new Map(
      approvals.items.flatMap((a) => (a.status === 'edited' && a.approvedArguments ? [[a.toolCallId, a.approvedArguments]] : [])),
    );
    return { snapshot: snapshotOf(stored, new Set(pending.map((a) => a.toolCallId)), edited), interrupts: pending.map(interruptOf) };
  }

  /** What is new in the input, read against the stored history of the thread (created on first use). */
  private async plan(owner: string, sessionId: string, input: RunInput, agentType: string | undefined): Promise<TurnInput> {
    await this.sessions.open(owner, sessionId, agentType ?? this.agents.defaultAgent().type);
    const [stored, held] = await Promise.all([this.storedHistory(sessionId), this.heldCalls(sessionId)]);
    const plan = planRun(stored, held, input.messages, input.decisions);
    if (!plan) {
      throw new DomainError('nothing_to_run', 'messages: no new user message, no result for an outstanding tool call, and no resume entry');
    }
    return plan.kind === 'message' ? { ...plan, agentType } : plan;
  }

  private async heldCalls(sessionId: string): Promise<Set<string>> {
    return new Set((await this.approvals.list(sessionId, 'pending')).items.map((a) => a.toolCallId));
  }

  private async storedHistory(sessionId: string): Promise<MessageView[]> {
    const all: MessageView[] = [];
    let after: string | undefined;
    do {
      const page = await this.messages.page(sessionId, PAGE, after);
      all.push(...page.items);
      after = page.nextCursor ?? undefined;
    } while (after);
    return all;
  }
}
