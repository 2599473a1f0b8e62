import { getLines, getMessages, type EventSourceMessage as FesMessage } from '@microsoft/fetch-event-source/lib/cjs/parse.js';
import { expect } from 'expect';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, it } from 'node:test';
import { eventIdOf, parseLastEventId, turnSeqOf } from '../../src/turns/event-log/event-ids.js';
import { eventsOfRows, storedEventsJson } from '../../src/turns/event-log/stored-events.js';
import { events } from '../../src/turns/protocol/events.js';
import { frameSse, SSE_PING, sseRetry } from '../../src/turns/protocol/sse-frame.js';
import type { TurnEvent } from '../../src/turns/protocol/turn-event.js';

function parse(text: string): EventSourceMessage[] {
  const out: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => out.push(message) });
  parser.feed(text);
  return out;
}

/** What `@microsoft/fetch-event-source` hands its `onmessage`, from its own parser. */
function parseAsFetchEventSource(text: string): FesMessage[] {
  const out: FesMessage[] = [];
  const onLine = getLines(
    getMessages(
      () => undefined,
      () => undefined,
      (message) => out.push(message),
    ),
  );
  onLine(new TextEncoder().encode(text));
  return out;
}

describe('SSE framing', () => {
  it('frames an event with its id, its type as the event name and its data as one JSON line', () => {
    const text = frameSse({ ...events.token('line one\nline two'), id: 7 });
    expect(text).toBe('id: 7\nevent: token\ndata: {"delta":"line one\\nline two"}\n\n');
    expect(parse(text)).toEqual([{ id: '7', event: 'token', data: '{"delta":"line one\\nline two"}' }]);
  });

  const stream =
    sseRetry(3000) +
    SSE_PING +
    frameSse({ ...events.turn('t', 's', 'coder'), id: 1 }) +
    SSE_PING +
    SSE_PING +
    frameSse({ ...events.done('t', 'completed', { input: 0, output: 0 }), id: 2 }) +
    SSE_PING;

  it('puts the retry field and pings where a parser dispatches nothing for them', () => {
    expect(parse(stream).map((e) => [e.id, e.event, JSON.parse(e.data)])).toEqual([
      ['1', 'turn', { turnId: 't', sessionId: 's', agent: 'coder' }],
      ['2', 'done', { turnId: 't', status: 'completed' }],
    ]);
  });

  it('gives @microsoft/fetch-event-source no empty message for a ping or the retry field (its parser dispatches one per blank line)', () => {
    const messages = parseAsFetchEventSource(stream);
    expect(messages.map((m) => [m.id, m.event, JSON.parse(m.data)])).toEqual([
      ['1', 'turn', { turnId: 't', sessionId: 's', agent: 'coder' }],
      ['2', 'done', { turnId: 't', status: 'completed' }],
    ]);
    // The form this replaces: a comment block of its own is an empty message there.
    expect(parseAsFetchEventSource(': ping\n\n')).toEqual([{ id: '', event: '', data: '', retry: undefined }]);
  });

  it('reports usage on done only when tokens were counted', () => {
    expect(events.done('t', 'failed', { input: 3, output: 4 }).data).toEqual({
      turnId: 't',
      status: 'failed',
      usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 },
    });
  });
});

describe('event ids', () => {
  it('name their turn and increase from one turn to the next', () => {
    expect(eventIdOf(42, 1)).toBe(42_000_001);
    expect(turnSeqOf(eventIdOf(42, 999_998))).toBe(42);
    expect(eventIdOf(43, 1)).toBeGreaterThan(eventIdOf(42, 999_998));
    expect(() => eventIdOf(42, 999_999)).toThrow(/at most/);
  });

  it('accept as Last-Event-ID only an id this service could have sent', () => {
    expect(parseLastEventId(undefined)).toBeUndefined();
    expect(parseLastEventId(' 42000001 ')).toBe(42_000_001);
    for (const bad of ['abc', '-5', '1.5', '12', '99999999999999999', '1e9'])
      expect(() => parseLastEventId(bad)).toThrow(expect.objectContaining({ code: 'bad_last_event_id' }));
  });
});

describe('stored events (turn_events.events)', () => {
  const sent = [
    { ...events.turn('t', 's', 'coder'), id: 11 },
    { ...events.token('Hello "you"\n'), id: 12 },
    { ...events.reasoning('hm'), id: 13 },
    { ...events.token('!'), id: 14 },
  ];

  it('keep a token as its bare delta, any other event as {type, data}, and read back as sent', () => {
    const json = storedEventsJson(sent);
    expect(JSON.parse(json)).toEqual([
      { type: 'turn', data: { turnId: 't', sessionId: 's', agent: 'coder' } },
      'Hello "you"\n',
      { type: 'reasoning', data: { delta: 'hm' } },
      '!',
    ]);
    expect(eventsOfRows([{ first_id: '11', events: JSON.parse(json) }], 12)).toEqual(sent.slice(2));
    expect(eventsOfRows([{ first_id: 11, events: JSON.parse(json) }], 0)).toEqual(sent);
  });

  it('read rows written with tokens as objects the same', () => {
    const old = sent.map(({ type, data }) => ({ type, data }) as TurnEvent);
    expect(eventsOfRows([{ first_id: '11', events: old }], 0)).toEqual(sent);
  });
});
