import type { Message, UserMessage } from '@ag-ui/core';
import { contentHasMedia, contentToText } from '@ag-ui/core';
import { MAX_CONTENT_LENGTH } from '../messages/message.dto.js';
import type { MessageView } from '../messages/message.dto.js';
import { unansweredCalls } from '../messages/messages.service.js';
import type { ToolResultInput } from '../turns/steps/take-answers.js';
import type { DecisionRequest, TurnInput } from '../turns/turn.js';
import { invalidInput } from './run-input.js';

function textOf(content: UserMessage['content'], field: string): string {
  if (contentHasMedia(content)) throw invalidInput(field, 'only text content is supported');
  const text = contentToText(content);
  if (text.length > MAX_CONTENT_LENGTH) throw invalidInput(field, `is longer than ${MAX_CONTENT_LENGTH} characters`);
  return text;
}

/**
 * Reads a client's `messages` against the stored history, which is the truth: a message the runtime
 * already has (by id, or a user message by its place and text for clients that keep their own ids) is
 * matched and never stored again. Only the last message can be a new user message; a `tool` message
 * for a call the thread still waits for is its result. Client messages the runtime does not know
 * (system or developer messages, history from elsewhere) are not taken in: the agent's own prompt
 * and the stored conversation are what the LLM sees. A new user message supersedes any answers sent
 * with it, as on the native route: outstanding calls are closed as not run. Either way the run is one
 * turn: a message, or all its answers (tool results and decisions) at once.
 */
export function planRun(
  stored: MessageView[],
  awaitingApproval: ReadonlySet<string>,
  messages: Message[],
  decisions: DecisionRequest[],
): TurnInput | undefined {
  const storedIds = new Set(stored.map((m) => m.id));
  const storedUsers = stored.filter((m) => m.role === 'user');
  // Only the conversation itself: activity and reasoning messages are the client's rendering of past events.
  const conversation = messages
    .map((message, index) => ({ message, index }))
    .filter(({ message }) => message.role === 'user' || message.role === 'assistant' || message.role === 'tool');
  const last = conversation[conversation.length - 1];
  if (last?.message.role === 'user' && !storedIds.has(last.message.id)) {
    const ordinal = conversation.filter(({ message }) => message.role === 'user').length - 1;
    const content = textOf(last.message.content, `messages[${last.index}].content`);
    const resent = ordinal < storedUsers.length && storedUsers[ordinal].content === content;
    if (!resent) {
      if (!content.trim()) throw invalidInput(`messages[${last.index}].content`, 'must not be blank');
      return { kind: 'message', content };
    }
  }
  const outstanding = new Set(
    unansweredCalls(stored.map((m) => ({ ...m, toolCalls: m.toolCalls ?? null, toolCallId: m.toolCallId ?? null })))
      .map((call) => call.id)
      .filter((id) => !awaitingApproval.has(id)),
  );
  const results: ToolResultInput[] = [];
  for (const { message, index } of conversation) {
    if (message.role !== 'tool' || !outstanding.delete(message.toolCallId)) continue;
    const text = textOf(message.content, `messages[${index}].content`);
    results.push(
      message.error !== undefined
        ? { toolCallId: message.toolCallId, error: message.error, output: text || undefined }
        : { toolCallId: message.toolCallId, output: text },
    );
  }
  if (results.length === 0 && decisions.length === 0) return undefined;
  return { kind: 'answers', results, decisions };
}
