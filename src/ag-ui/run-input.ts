import { BadRequestException } from '@nestjs/common';
import type { Message, RunAgentInput } from '@ag-ui/core';
import { RunAgentInputSchema } from '@ag-ui/core/schemas';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { DecideApprovalDto } from '../approvals/approval.dto.js';
import type { Decision } from '../approvals/approvals.service.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_THREAD_ID = 200;

/** A `resume` entry as the runtime acts on it: a decision on one pending approval. */
export interface ResumeDecision {
  approvalId: string;
  decision: Decision;
  arguments?: Record<string, unknown>;
  feedback?: string;
}

export interface RunInput {
  threadId: string;
  runId: string;
  messages: Message[];
  tools: string[];
  decisions: ResumeDecision[];
}

export function invalidInput(field: string, problem: string): BadRequestException {
  return new BadRequestException({ statusCode: 400, code: 'invalid_input', message: `${field}: ${problem}` });
}

/** `messages.0.role` → `messages[0].role`. */
function fieldName(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)),
    '',
  );
}

/** A resume entry's answer, checked by the same rules as the native decision route. */
function decisionOf(entry: NonNullable<RunAgentInput['resume']>[number], field: string): ResumeDecision {
  if (!UUID.test(entry.interruptId)) throw invalidInput(`${field}.interruptId`, 'must be the id of an interrupt this thread raised');
  // Abandoning an approval is the same as rejecting it: the agent hears so and carries on.
  if (entry.status === 'cancelled') return { approvalId: entry.interruptId, decision: 'reject', feedback: 'cancelled by the user' };
  const payload: unknown = entry.payload;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw invalidInput(`${field}.payload`, 'must be an object {decision: "approve" | "edit" | "reject", arguments?, feedback?}');
  const dto = plainToInstance(DecideApprovalDto, payload);
  const [error] = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
  if (error) {
    const problem = Object.values(error.constraints ?? {})[0] ?? 'is not allowed';
    throw invalidInput(`${field}.payload.${error.property}`, problem);
  }
  return { approvalId: entry.interruptId, decision: dto.decision, arguments: dto.arguments, feedback: dto.feedback };
}

/**
 * Validates a `RunAgentInput` with the protocol's own schema (`@ag-ui/core/schemas`) and the
 * runtime's limits; every refusal is a 400 naming the field.
 */
export function parseRunInput(body: unknown): RunInput {
  const parsed = RunAgentInputSchema.safeParse(body);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    throw invalidInput(fieldName(issue.path) || 'body', issue.message);
  }
  const input = parsed.data as RunAgentInput;
  if (!input.threadId.trim() || input.threadId.length > MAX_THREAD_ID)
    throw invalidInput('threadId', `must be 1 to ${MAX_THREAD_ID} characters`);
  if (!input.runId.trim()) throw invalidInput('runId', 'must not be empty');
  const ids = new Set<string>();
  for (const [i, decision] of (input.resume ?? []).entries()) {
    if (ids.has(decision.interruptId)) throw invalidInput(`resume[${i}].interruptId`, 'answers an interrupt a second time');
    ids.add(decision.interruptId);
  }
  return {
    threadId: input.threadId,
    runId: input.runId,
    messages: input.messages,
    tools: input.tools.map((tool) => tool.name),
    decisions: (input.resume ?? []).map((entry, i) => decisionOf(entry, `resume[${i}]`)),
  };
}
