import type { ContentBlockParam, MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages/messages';
import type { ChatMessage, ToolSpec } from './llm-provider.js';

function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => ('text' in part && typeof part.text === 'string' ? part.text : '')).join('');
}

function parsedArguments(text: string): unknown {
  try {
    const value: unknown = JSON.parse(text || '{}');
    return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

/**
 * The context in the Messages API's shape: system prompts apart, assistant tool calls as
 * `tool_use` blocks, tool results as `tool_result` blocks of a user message, and consecutive
 * messages of one role merged (the API wants user and assistant to alternate).
 */
export function toAnthropicMessages(messages: ChatMessage[]): { system: string; messages: MessageParam[] } {
  const system: string[] = [];
  const out: Array<{ role: 'user' | 'assistant'; content: ContentBlockParam[] }> = [];
  const add = (role: 'user' | 'assistant', blocks: ContentBlockParam[]) => {
    if (blocks.length === 0) return;
    const last = out[out.length - 1];
    if (last?.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const m of messages) {
    const text = textOf(m.content);
    if (m.role === 'system' || m.role === 'developer') {
      if (text) system.push(text);
    } else if (m.role === 'tool') {
      add('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id, content: text }]);
    } else if (m.role === 'assistant') {
      const calls = (m.tool_calls ?? []).flatMap((c) => (c.type === 'function' ? [c] : []));
      // Signed thinking goes back first, as it came: the API wants it before the tool use it led to.
      const thinking = Array.isArray(m.providerState?.thinking) ? (m.providerState.thinking as ContentBlockParam[]) : [];
      add('assistant', [
        ...thinking,
        ...(text ? [{ type: 'text' as const, text }] : []),
        ...calls.map((c) => ({ type: 'tool_use' as const, id: c.id, name: c.function.name, input: parsedArguments(c.function.arguments) })),
      ]);
    } else if (m.role === 'user' && text) {
      add('user', [{ type: 'text', text }]);
    }
  }
  return { system: system.join('\n\n'), messages: out };
}

export function toAnthropicTools(tools: readonly ToolSpec[]): Tool[] {
  return tools.map((t) => ({
    name: t.function.name,
    ...(t.function.description ? { description: t.function.description } : {}),
    input_schema: (t.function.parameters ?? { type: 'object', properties: {} }) as Tool.InputSchema,
  }));
}
