import { BaseEvent, EventType, verifyEvents } from '@ag-ui/client';
import { expect } from 'expect';
import { describe, it } from 'node:test';
import { from } from 'rxjs';
import { EventTranslation } from '../../src/ag-ui/event-translation.js';
import type { MessageView } from '../../src/messages/message.dto.js';
import type { TurnEvent } from '../../src/turns/protocol/turn-event.js';

/** The client's own verification over translated events (the client pins its own rxjs, hence the cast). */
function verified(events: BaseEvent[]): Promise<BaseEvent[]> {
  const checked = verifyEvents()(from(events) as unknown as Parameters<ReturnType<typeof verifyEvents>>[0]);
  return new Promise((resolve, reject) => {
    const out: BaseEvent[] = [];
    checked.subscribe({ next: (event) => void out.push(event), error: reject, complete: () => resolve(out) });
  });
}

const answer = (content: string | null, toolCalls?: MessageView['toolCalls']): TurnEvent => ({
  type: 'message',
  data: {
    message: {
      id: 'm1',
      role: 'assistant',
      content,
      agent: 'coder',
      status: 'complete',
      createdAt: new Date(),
      ...(toolCalls ? { toolCalls } : {}),
    },
  },
});

function translate(turnEvents: TurnEvent[], end?: Parameters<EventTranslation['end']>): BaseEvent[] {
  const translation = new EventTranslation({ threadId: 't', runId: 'r', sessionId: 's' });
  // Stamped as the turn stamps them: ids in order.
  const out = turnEvents.flatMap((event, i) => translation.next({ ...event, id: 1_000_001 + i }));
  return end ? [...out, ...translation.end(...end)] : out;
}

const turn: TurnEvent = { type: 'turn', data: { turnId: 'turn-1', sessionId: 's', agent: 'coder' } };
const ending = { snapshot: [], interrupts: [] };

describe('AG-UI event translation', () => {
  it('turns a reasoning model’s thinking into one REASONING_* span closed before the answer’s text', async () => {
    const events = translate(
      [
        turn,
        { type: 'reasoning', data: { delta: 'Think' } },
        { type: 'reasoning', data: { delta: 'ing.' } },
        { type: 'token', data: { delta: 'Hi' } },
        answer('Hi'),
      ],
      ['completed', undefined, ending],
    );
    expect(events.map((e) => e.type)).toEqual([
      EventType.RUN_STARTED,
      EventType.STEP_STARTED,
      EventType.REASONING_START,
      EventType.REASONING_MESSAGE_START,
      EventType.REASONING_MESSAGE_CONTENT,
      EventType.REASONING_MESSAGE_CONTENT,
      EventType.REASONING_MESSAGE_END,
      EventType.REASONING_END,
      EventType.TEXT_MESSAGE_START,
      EventType.TEXT_MESSAGE_CONTENT,
      EventType.TEXT_MESSAGE_END,
      EventType.MESSAGES_SNAPSHOT,
      EventType.STEP_FINISHED,
      EventType.RUN_FINISHED,
    ]);
    expect(await verified(events)).toHaveLength(events.length);
  });

  it('closes thinking that leads straight to tool calls', async () => {
    const call = { id: 'c1', type: 'function' as const, function: { name: 'read_file', arguments: '{"path":"a"}' } };
    const events = translate(
      [
        turn,
        { type: 'reasoning', data: { delta: 'Need a file.' } },
        answer(null, [call]),
        { type: 'tool_call', data: { toolCallId: 'c1', name: 'read_file', arguments: { path: 'a' } } },
      ],
      ['awaiting_tool_result', undefined, ending],
    );
    expect(await verified(events)).toHaveLength(events.length);
    expect(events.find((e) => e.type === EventType.TOOL_CALL_START)).toMatchObject({ toolCallId: 'c1', parentMessageId: 'm1' });
  });

  it('translates the same turn events to the same AG-UI events, ids included, as a repeated run replays them', () => {
    const events: TurnEvent[] = [
      turn,
      { type: 'reasoning', data: { delta: 'Hm' } },
      { type: 'token', data: { delta: 'Hi' } },
      answer('Hi'),
    ];
    const first = translate(events, ['completed', undefined, ending]);
    expect(translate(events, ['completed', undefined, ending])).toEqual(first);
    const ids = first.flatMap((e) => ('messageId' in e ? [e.messageId] : []));
    expect(new Set(ids).size).toBe(2);
  });

  it('ends with RUN_ERROR and nothing after it, even while text and thinking are open', async () => {
    const events = translate(
      [
        turn,
        { type: 'reasoning', data: { delta: 'Hm' } },
        { type: 'token', data: { delta: 'Par' } },
        { type: 'error', data: { code: 'llm_unavailable', message: 'The LLM is unavailable.' } },
      ],
      ['failed', undefined, ending],
    );
    expect(events[events.length - 1]).toMatchObject({ type: EventType.RUN_ERROR, code: 'llm_unavailable' });
    expect(events.filter((e) => e.type === EventType.RUN_ERROR)).toHaveLength(1);
    expect(await verified(events)).toHaveLength(events.length);
  });
});
