import type { Interrupt } from '@ag-ui/core';
import type { ApprovalView } from '../approvals/approval.dto.js';

/** Tells a client what a `resume` entry's payload for an approval looks like, so it can build the dialog. */
const APPROVAL_ANSWER_SCHEMA = {
  type: 'object',
  required: ['decision'],
  properties: {
    decision: { enum: ['approve', 'edit', 'reject'] },
    arguments: { type: 'object', description: 'With "edit": the arguments to run the tool with instead' },
    feedback: { type: 'string', maxLength: 10_000, description: 'What the agent should hear, e.g. why the call was rejected' },
  },
  additionalProperties: false,
};

/** A pending approval as an AG-UI interrupt: answered by a `resume` entry with the approval's id. */
export function interruptOf(approval: ApprovalView): Interrupt {
  return {
    id: approval.id,
    reason: approval.reason,
    message: `${approval.toolName} needs your approval`,
    toolCallId: approval.toolCallId,
    expiresAt: new Date(approval.expiresAt).toISOString(),
    responseSchema: APPROVAL_ANSWER_SCHEMA,
    metadata: { toolName: approval.toolName, arguments: approval.arguments },
  };
}
