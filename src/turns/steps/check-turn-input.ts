import { Injectable } from '@nestjs/common';
import { AgentCatalog } from '../../agents/agent-catalog.js';
import { ToolCallCheck } from '../../agents/tool-call-check.js';
import type { ApprovalEntity } from '../../approvals/approval.entity.js';
import { approvalExpired, ApprovalsService, Decision } from '../../approvals/approvals.service.js';
import { DomainError } from '../../common/domain-error.js';
import { MessagesService } from '../../messages/messages.service.js';
import { SessionsService } from '../../sessions/sessions.service.js';
import type { DecisionRequest } from '../turn.js';
import type { CheckedDecision, ToolResultInput } from './take-answers.js';

/**
 * The checks each turn route makes on its input before anything is written, so that a refusal is a
 * 4xx JSON error before any stream: unknown agent, unknown tool call, second result, decided or
 * expired approval, edited arguments the agent may not use. `AdmitTurn` takes the lease afterwards.
 */
@Injectable()
export class CheckTurnInput {
  constructor(
    private readonly sessions: SessionsService,
    private readonly messages: MessagesService,
    private readonly approvals: ApprovalsService,
    private readonly agents: AgentCatalog,
    private readonly toolCheck: ToolCallCheck,
  ) {}

  checkMessage(input: { agentType?: string }): void {
    if (input.agentType) this.agents.known(input.agentType);
  }

  /** The call exists, has no result yet and is not held for (or expired awaiting) approval. */
  async checkToolResult(owner: string, sessionId: string, toolCallId: string): Promise<void> {
    await this.sessions.get(owner, sessionId);
    if (!(await this.messages.findCall(sessionId, toolCallId))) {
      throw new DomainError('tool_call_not_found', `no tool call ${toolCallId} in session ${sessionId}`);
    }
    if (await this.messages.hasResult(sessionId, toolCallId)) {
      throw new DomainError('tool_result_exists', `tool call ${toolCallId} already has a result`);
    }
    const approval = (await this.approvals.list(sessionId)).items.find((a) => a.toolCallId === toolCallId);
    if (approval?.status === 'pending') {
      throw new DomainError('awaiting_approval', `tool call ${toolCallId} is waiting for approval ${approval.id}`);
    }
    if (approval?.status === 'expired') {
      throw new DomainError('approval_expired', `tool call ${toolCallId} was never approved: approval ${approval.id} expired`);
    }
  }

  /** Each answer of a turn checked as its own route checks it; the decisions come back with their approvals. */
  async checkAnswers(
    owner: string,
    sessionId: string,
    results: ToolResultInput[],
    decisions: DecisionRequest[],
  ): Promise<CheckedDecision[]> {
    for (const result of results) await this.checkToolResult(owner, sessionId, result.toolCallId);
    const checked: CheckedDecision[] = [];
    for (const input of decisions) checked.push({ approval: await this.checkDecision(owner, sessionId, input.approvalId, input), input });
    return checked;
  }

  /** The approval exists, is pending and has not expired; edited arguments stay within what the calling agent may do. */
  async checkDecision(
    owner: string,
    sessionId: string,
    approvalId: string,
    input: { decision: Decision; arguments?: Record<string, unknown> },
  ): Promise<ApprovalEntity> {
    await this.sessions.get(owner, sessionId);
    const approval = await this.approvals.get(sessionId, approvalId);
    // Refused before the turn starts: a turn refused later is recorded failed, and its transaction
    // would close the expired approvals and then roll that back.
    if (approval.status !== 'pending') {
      throw new DomainError('approval_decided', `approval ${approval.id} was already decided (${approval.status})`);
    }
    if (approval.expiresAt <= new Date()) throw approvalExpired(approval);
    if (input.decision === 'edit') {
      // e.g. the architect's edited write_file must still name a *.md file.
      const agent = await this.messages.agentOf(approval.messageId);
      const verdict = this.toolCheck.validateArguments(
        approval.toolName,
        input.arguments ?? {},
        agent && this.agents.has(agent) ? agent : undefined,
      );
      if (!verdict.ok) throw new DomainError('invalid_arguments', `arguments: ${verdict.reason}`);
    }
    return approval;
  }
}
