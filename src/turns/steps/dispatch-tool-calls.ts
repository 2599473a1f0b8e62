import { Injectable } from '@nestjs/common';
import { ToolCallCheck } from '../../agents/tool-call-check.js';
import { ApprovalPolicy } from '../../approvals/approval-policy.js';
import { ApprovalsService } from '../../approvals/approvals.service.js';
import { Settings } from '../../config/settings.js';
import type { MessageEntity, StoredToolCall } from '../../messages/message.entity.js';
import { MessagesService } from '../../messages/messages.service.js';
import { events } from '../protocol/events.js';
import { commitMessages, offersTool, type Turn } from '../turn.js';
import { decideToolCalls, type ToolCallPlan } from './decide-tool-calls.js';
import { SwitchAgent } from './switch-agent.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';

/**
 * Carries out the plan `decideToolCalls` made for one answer's calls: stores the tool messages of
 * refused and runtime-run calls, holds calls for approval (`approval_required`), hands the rest to
 * the client (`tool_call`), switches agent, and stores a runtime tool's final answer.
 */
@Injectable()
export class DispatchToolCalls {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly settings: Settings,
    private readonly toolCheck: ToolCallCheck,
    private readonly policy: ApprovalPolicy,
    private readonly approvals: ApprovalsService,
    private readonly messages: MessagesService,
    private readonly switchAgent: SwitchAgent,
  ) {}

  async run(turn: Turn, answer: MessageEntity, calls: StoredToolCall[]): Promise<ToolCallPlan['next']> {
    const agent = turn.agent;
    const plan = decideToolCalls(
      calls,
      {
        check: (call) =>
          offersTool(turn, call.function.name)
            ? this.toolCheck.check(agent, { id: call.id, name: call.function.name, arguments: call.function.arguments })
            : { ok: false, reason: `"${call.function.name}" is not a tool this client can run.` },
        approval: (name, args) => this.policy.evaluate(name, args),
      },
      { switchesLeft: this.settings.MAX_SWITCHES_PER_TURN - turn.switches, maxSwitches: this.settings.MAX_SWITCHES_PER_TURN },
    );
    if (plan.replies.length) {
      const replies = plan.replies.map(({ toolCallId, content }) => ({
        role: 'tool' as const,
        toolCallId,
        content,
        turnId: turn.id,
        agent,
      }));
      await commitMessages(this.txHost, turn, 'save_tool_result', () => this.messages.append(turn.sessionId, replies));
    }
    if (plan.held.length) await this.hold(turn, answer, plan.held);
    for (const { call, args } of plan.toClient) turn.emit(events.toolCall(call.id, call.function.name, args));
    if (plan.handOver) await this.switchAgent.run(turn, plan.handOver.to, plan.handOver.reason || `handed over by ${agent}`);
    if (plan.next === 'completed' && plan.final) {
      const { content, metadata } = plan.final;
      await commitMessages(this.txHost, turn, 'save_assistant_message', () =>
        this.messages.append(turn.sessionId, [
          { role: 'assistant', content, metadata: metadata ?? null, agent: turn.agent, turnId: turn.id },
        ]),
      );
    }
    return plan.next;
  }

  private async hold(turn: Turn, answer: MessageEntity, held: ToolCallPlan['held']): Promise<void> {
    const approvals = await this.txHost.transaction('save_approval', () =>
      Promise.all(
        held.map(({ call, args, reason }) =>
          this.approvals.request({
            sessionId: turn.sessionId,
            turnId: turn.id,
            messageId: answer.id,
            toolCallId: call.id,
            toolName: call.function.name,
            args,
            reason,
          }),
        ),
      ),
    );
    for (const approval of approvals) {
      this.approvals.counted(approval);
      turn.emit(events.approvalRequired(approval));
    }
  }
}
