import { BadRequestException, ConflictException, Injectable } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { AgentCatalog } from '../agents/agent-catalog.js';
import { approvalExpired, ApprovalsService } from '../approvals/approvals.service.js';
import type { MessageView } from '../messages/message.dto.js';
import { MessagesService } from '../messages/messages.service.js';
import { TurnRunner } from '../turns/turn-runner.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { RunEnding } from './event-translation.js';
import { interruptOf } from './interrupts.js';
import { snapshotOf } from './messages-snapshot.js';
import type { ResumeDecision, RunInput } from './run-input.js';
import { planRun } from './run-plan.js';
import { sessionIdOf } from './thread-id.js';
import { inSequence, type RunEvent } from './turn-sequence.js';

const PAGE = 500;

/**
 * AG-UI runs over the runtime's turns: the thread is a session of the caller's key (created on first
 * use), and the input is read against the stored history to find what is new — a user message, tool
 * results, decisions on held calls — which the turn runner takes through its public entry points,
 * with the same lease, Unit of Work, cancel and metrics as the native routes.
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

  /** Starts the run's first turn — a refusal is an HTTP error before any byte is sent — and returns the run's events. */
  async start(owner: string, input: RunInput, agentType?: string): Promise<{ sessionId: string; events$: Observable<RunEvent> }> {
    if (agentType && !this.agents.has(agentType)) {
      const known = this.agents
        .list()
        .map((a) => a.type)
        .join(', ');
      throw new BadRequestException({ statusCode: 400, code: 'unknown_agent', message: `agentType must be one of: ${known}` });
    }
    const sessionId = sessionIdOf(owner, input.threadId);
    await this.sessions.open(owner, sessionId, agentType ?? this.agents.defaultAgent().type);
    const [stored, held] = await Promise.all([this.storedHistory(sessionId), this.heldCalls(sessionId)]);
    const plan = planRun(stored, held, input.messages, input.decisions);
    // The frontend's tools are the client-run tools this run may offer; the agent's own list still bounds them.
    const options = { clientTools: input.tools };
    if (!plan) {
      throw new BadRequestException({
        statusCode: 400,
        code: 'nothing_to_run',
        message: 'messages: no new user message, no result for an outstanding tool call, and no resume entry',
      });
    }
    if (plan.kind === 'message') {
      return { sessionId, events$: await this.turns.startMessage(owner, sessionId, { content: plan.content, agentType }, options) };
    }
    await Promise.all(plan.decisions.map((d) => this.checkPending(sessionId, d)));
    const starts = [
      ...plan.results.map((result) => () => this.turns.startToolResult(owner, sessionId, result, options)),
      ...plan.decisions.map(
        (d) => () =>
          this.turns.startDecision(
            owner,
            sessionId,
            d.approvalId,
            { decision: d.decision, arguments: d.arguments, feedback: d.feedback },
            options,
          ),
      ),
    ];
    const [first, ...rest] = starts;
    return { sessionId, events$: inSequence(await first(), rest) };
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

  /** Checked before the first turn starts, so that a stale answer is a 4xx rather than an error halfway through the run. */
  private async checkPending(sessionId: string, decision: ResumeDecision): Promise<void> {
    const approval = await this.approvals.get(sessionId, decision.approvalId);
    if (approval.status !== 'pending') {
      throw new ConflictException({
        statusCode: 409,
        code: 'approval_decided',
        message: `interrupt ${approval.id} was already answered (${approval.status})`,
      });
    }
    if (approval.expiresAt <= new Date()) throw approvalExpired(approval);
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
