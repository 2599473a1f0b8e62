import { DomainError } from '../common/domain-error.js';
import type { Message, RunAgentInput } from '@ag-ui/core';
import { RunAgentInputSchema } from '@ag-ui/core/schemas';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { DecideApprovalDto } from '../approvals/approval.dto.js';
import type { DecisionRequest, TurnOptions } from '../turns/turn.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_THREAD_ID = 200;

const ON_DISCONNECT = ['cancel', 'continue'] as const;

export interface RunInput {
  threadId: string;
  runId: string;
  messages: Message[];
  tools: string[];
  /** The `resume` entries as the runtime acts on them: a decision on one pending approval each. */
  decisions: DecisionRequest[];
  /** `forwardedProps.onDisconnect`, as on the native turn routes. */
  onDisconnect?: TurnOptions['onDisconnect'];
}

export function invalidInput(field: string, problem: string): DomainError {
  return new DomainError('invalid_input', `${field}: ${problem}`, [{ field, message: problem }]);
}

/** `messages.0.role` → `messages[0].role`. */
function fieldName(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)),
    '',
  );
}

/** A resume entry's answer, checked by the same rules as the native decision route. */
function decisionOf(entry: NonNullable<RunAgentInput['resume']>[number], field: string): DecisionRequest {
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

/** What the turn does when the client leaves: the one runtime setting a client forwards (unset: the ON_DISCONNECT setting). */
function onDisconnectOf(forwardedProps: unknown): RunInput['onDisconnect'] {
  if (typeof forwardedProps !== 'object' || forwardedProps === null) return undefined;
  const value: unknown = (forwardedProps as Record<string, unknown>).onDisconnect;
  if (value === undefined || ON_DISCONNECT.includes(value as (typeof ON_DISCONNECT)[number])) return value as RunInput['onDisconnect'];
  throw invalidInput('forwardedProps.onDisconnect', 'must be "cancel" or "continue"');
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
    onDisconnect: onDisconnectOf(input.forwardedProps),
  };
}
