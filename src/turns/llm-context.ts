import type { ChatMessage } from '../llm/llm-provider.js';
import type { HistoryEntry } from '../messages/message.entity.js';

/** A rough token count (≈ 4 characters a token): good enough to keep a context under budget. */
export function estimateTokens(message: ChatMessage): number {
  const text = typeof message.content === 'string' ? message.content : JSON.stringify(message.content ?? '');
  const calls = 'tool_calls' in message && message.tool_calls ? JSON.stringify(message.tool_calls) : '';
  return Math.ceil((text.length + calls.length) / 4) + 4;
}

function toChatMessage(m: HistoryEntry): ChatMessage {
  switch (m.role) {
    case 'assistant': {
      const state = m.providerState ? { providerState: m.providerState } : {};
      return m.toolCalls?.length
        ? { role: 'assistant', content: m.content ?? null, tool_calls: m.toolCalls, ...state }
        : { role: 'assistant', content: m.content ?? '', ...state };
    }
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId ?? '', content: m.content ?? '' };
    case 'system':
      return { role: 'system', content: m.content ?? '' };
    default:
      return { role: 'user', content: m.content ?? '' };
  }
}

/**
 * What the LLM receives: the agent's system prompt, then the stored history in order, newest
 * message included. A history over `budget` tokens loses its oldest messages first, and an
 * assistant tool call and its tool results are kept or dropped together.
 */
export function buildContext(systemPrompt: string, history: HistoryEntry[], budget: number): ChatMessage[] {
  // Groups: an assistant answer with the tool messages that follow it, or a lone message.
  const groups: ChatMessage[][] = [];
  for (const m of history) {
    // An empty answer (stored by earlier versions) is no message: providers refuse one.
    if (m.role === 'assistant' && !m.content && !m.toolCalls?.length) continue;
    const chat = toChatMessage(m);
    if (chat.role === 'tool' && groups.length > 0) groups[groups.length - 1].push(chat);
    else groups.push([chat]);
  }
  const system: ChatMessage = { role: 'system', content: systemPrompt };
  let remaining = budget - estimateTokens(system);
  const kept: ChatMessage[][] = [];
  for (let i = groups.length - 1; i >= 0; i--) {
    const cost = groups[i].reduce((n, msg) => n + estimateTokens(msg), 0);
    if (cost > remaining && kept.length > 0) break;
    kept.push(groups[i]);
    remaining -= cost;
  }
  const messages = kept.reverse().flat();
  // A window may not open on tool results whose call was cut off.
  while (messages[0]?.role === 'tool') messages.shift();
  return [system, ...messages];
}
