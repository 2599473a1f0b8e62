import { expect } from 'expect';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, it } from 'node:test';
import { events } from '../../src/turns/protocol/events.js';
import { frameSse, SSE_PING } from '../../src/turns/protocol/sse-frame.js';

function parse(text: string): EventSourceMessage[] {
  const out: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => out.push(message) });
  parser.feed(text);
  return out;
}

describe('SSE framing', () => {
  it('frames an event with its id, its type as the event name and its data as one JSON line', () => {
    const text = frameSse(7, events.token('line one\nline two'));
    expect(text).toBe('id: 7\nevent: token\ndata: {"delta":"line one\\nline two"}\n\n');
    expect(parse(text)).toEqual([{ id: '7', event: 'token', data: '{"delta":"line one\\nline two"}' }]);
  });

  it('puts pings between events where a parser ignores them', () => {
    const text =
      frameSse(1, events.turn('t', 's', 'coder')) + SSE_PING + frameSse(2, events.done('t', 'completed', { input: 0, output: 0 }));
    expect(parse(text).map((e) => [e.id, e.event, JSON.parse(e.data)])).toEqual([
      ['1', 'turn', { turnId: 't', sessionId: 's', agent: 'coder' }],
      ['2', 'done', { turnId: 't', status: 'completed' }],
    ]);
  });

  it('reports usage on done only when tokens were counted', () => {
    expect(events.done('t', 'failed', { input: 3, output: 4 }).data).toEqual({
      turnId: 't',
      status: 'failed',
      usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 },
    });
  });
});
