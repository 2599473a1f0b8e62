import type { Message } from '@ag-ui/core';
import type { MessageView } from '../messages/message.dto.js';

/**
 * The stored history as AG-UI messages, with the runtime's ids: sent as MESSAGES_SNAPSHOT at the end
 * of every run, so the client's copy is the stored truth and its next input matches by id. A call
 * held for approval is left out of its message until it is approved — it travels as the interrupt,
 * and a frontend must not run it before then. An edited call shows the arguments it was approved with,
 * which are the ones the client runs.
 */
export function snapshotOf(
  stored: MessageView[],
  awaitingApproval: ReadonlySet<string>,
  editedArguments: ReadonlyMap<string, Record<string, unknown>>,
): Message[] {
  return stored.map((m): Message => {
    switch (m.role) {
      case 'user':
        return { id: m.id, role: 'user', content: m.content ?? '' };
      case 'system':
        return { id: m.id, role: 'system', content: m.content ?? '' };
      case 'tool':
        return { id: m.id, role: 'tool', toolCallId: m.toolCallId ?? '', content: m.content ?? '' };
      case 'assistant': {
        const toolCalls = (m.toolCalls ?? [])
          .filter((call) => !awaitingApproval.has(call.id))
          .map((call) => {
            const edited = editedArguments.get(call.id);
            return edited ? { ...call, function: { ...call.function, arguments: JSON.stringify(edited) } } : call;
          });
        return {
          id: m.id,
          role: 'assistant',
          ...(m.content !== null ? { content: m.content } : {}),
          ...(toolCalls.length ? { toolCalls } : {}),
        };
      }
    }
  });
}
