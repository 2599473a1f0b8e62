import type { ToolCallVerdict } from '../../agents/tool-call-check.js';
import { isRuntimeTool } from '../../agents/tools.js';
import type { ApprovalDecision } from '../../approvals/approval-policy.js';
import type { StoredToolCall } from '../../messages/message.entity.js';
import type { DoneStatus } from '../protocol/turn-event.js';
import { RUNTIME_TOOLS } from './runtime-tools.js';

/** What decides about one call: may the agent make it as written, and must a person approve it. */
export interface CallJudges {
  check: (call: StoredToolCall) => ToolCallVerdict;
  approval: (toolName: string, args: Record<string, unknown>) => ApprovalDecision;
}

export interface CallWithArgs {
  call: StoredToolCall;
  args: Record<string, unknown>;
}

/** What happens to each call of one answer, and what the turn does after. */
export interface ToolCallPlan {
  /** Tool messages written now, in call order: refusals (the LLM learns why) and runtime tools' results. */
  replies: Array<{ toolCallId: string; content: string }>;
  /** Client tools held until a person decides. */
  held: Array<CallWithArgs & { reason: string }>;
  /** Client tools handed to the client as `tool_call`. */
  toClient: CallWithArgs[];
  handOver?: { to: string; reason: string };
  final?: { content: string; metadata?: Record<string, unknown> };
  /** `continue`: every call has its result, the LLM goes on. */
  next: Extract<DoneStatus, 'completed' | 'awaiting_approval' | 'awaiting_tool_result'> | 'continue';
}

/**
 * Decides, without side effects, the fate of each call: refuse it (tool not allowed, bad arguments,
 * a path outside the agent's restrictions), run it here (runtime tools), hold it for approval, or
 * hand it to the client. `switchesLeft` is how many agent switches the turn may still make.
 */
export function decideToolCalls(
  calls: StoredToolCall[],
  judges: CallJudges,
  limits: { switchesLeft: number; maxSwitches: number },
): ToolCallPlan {
  const plan: ToolCallPlan = { replies: [], held: [], toClient: [], next: 'continue' };
  for (const call of calls) {
    const verdict = judges.check(call);
    if (!verdict.ok) {
      plan.replies.push({ toolCallId: call.id, content: `Refused: ${verdict.reason}` });
      continue;
    }
    const { args } = verdict;
    const name = call.function.name;
    if (isRuntimeTool(name)) {
      const outcome = RUNTIME_TOOLS[name](args, {
        mayHandOver: !plan.handOver && limits.switchesLeft > 0,
        maxSwitches: limits.maxSwitches,
      });
      plan.replies.push({ toolCallId: call.id, content: outcome.reply });
      if (outcome.handOver) plan.handOver = outcome.handOver;
      if (outcome.final) plan.final = outcome.final;
      continue;
    }
    const approval = judges.approval(name, args);
    if (approval.required) plan.held.push({ call, args, reason: approval.reason });
    else plan.toClient.push({ call, args });
  }
  if (plan.held.length) plan.next = 'awaiting_approval';
  else if (plan.toClient.length) plan.next = 'awaiting_tool_result';
  else if (plan.final) plan.next = 'completed';
  return plan;
}
