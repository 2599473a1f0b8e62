import { expect } from 'expect';
import { describe, it } from 'node:test';
import type { HistoryEntry } from '../../src/messages/message.entity.js';
import { buildContext } from '../../src/turns/llm-context.js';

const entry = (e: Partial<HistoryEntry> & Pick<HistoryEntry, 'role'>): HistoryEntry => ({
  content: null,
  toolCalls: null,
  toolCallId: null,
  ...e,
});

describe('the LLM context', () => {
  it('leaves out an empty assistant answer stored by earlier versions: providers refuse one', () => {
    const history = [
      entry({ role: 'user', content: 'Hi' }),
      entry({ role: 'assistant', content: '' }),
      entry({ role: 'user', content: 'Again' }),
    ];
    expect(buildContext('system', history, 10_000)).toEqual([
      { role: 'system', content: 'system' },
      { role: 'user', content: 'Hi' },
      { role: 'user', content: 'Again' },
    ]);
  });

  it("hands an answer's provider state back with it, and never its reasoning", () => {
    const call = { id: 'toolu_1', type: 'function' as const, function: { name: 'read_file', arguments: '{}' } };
    const history = [
      entry({ role: 'user', content: 'Read it' }),
      entry({
        role: 'assistant',
        content: 'Reading.',
        toolCalls: [call],
        providerState: { thinking: [{ type: 'thinking', thinking: 't', signature: 's' }] },
      }),
      entry({ role: 'tool', content: 'text', toolCallId: 'toolu_1' }),
    ];
    expect(buildContext('system', history, 10_000)[2]).toEqual({
      role: 'assistant',
      content: 'Reading.',
      tool_calls: [call],
      providerState: { thinking: [{ type: 'thinking', thinking: 't', signature: 's' }] },
    });
  });
});
