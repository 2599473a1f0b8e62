import { BaseEvent, EventType, Interrupt, Message, RunFinishedOutcome, TokenUsage } from '@ag-ui/core';
import { v5 as uuidV5 } from 'uuid';
import type { DoneStatus, StampedEvent, Usage } from '../turns/protocol/turn-event.js';

/** Fixed namespace for the ids of streamed text and thinking, derived from the turn event that opens them. */
const STREAMED_NAMESPACE = 'b0a4e0c2-5b1f-4f7e-9d37-1c6a2f8e4d90';

/** What the end of a run needs from the database: the stored history and the pending approvals. */
export interface RunEnding {
  snapshot: Message[];
  interrupts: Interrupt[];
}

function usageOf(usage?: Usage): { usage?: TokenUsage[] } {
  return usage
    ? { usage: [{ inputTokens: usage.promptTokens, outputTokens: usage.completionTokens, totalTokens: usage.totalTokens }] }
    : {};
}

/**
 * Translates one run's turn events into AG-UI events, keeping the protocol's order: RUN_STARTED
 * first; the agent at work as a step (a switch closes one step and opens the next, with a CUSTOM
 * `agent_switched` event carrying the reason); thinking as REASONING_*; streamed text as
 * TEXT_MESSAGE_*; client tool calls as TOOL_CALL_START/ARGS/END; then the stored history as
 * MESSAGES_SNAPSHOT and RUN_FINISHED — or RUN_ERROR, after which nothing more is sent. Ids come
 * from the turn's events, so a replay of the same turn (a repeated run) translates to the same events.
 */
export class EventTranslation {
  private started = false;
  private ended = false;
  private step?: string;
  private textId?: string;
  private reasoningId?: string;
  /** The message the next tool calls belong to: the streamed text of the same answer, or the stored answer. */
  private answerId?: string;
  private readonly toolCalls: string[] = [];

  constructor(private readonly run: { threadId: string; runId: string; sessionId: string }) {}

  /** Whether a `done` must still be translated (no RUN_ERROR was sent). */
  get open(): boolean {
    return !this.ended;
  }

  next(event: StampedEvent): BaseEvent[] {
    if (this.ended) return [];
    const out: BaseEvent[] = [];
    switch (event.type) {
      case 'turn':
        if (!this.started) {
          this.started = true;
          out.push({
            type: EventType.RUN_STARTED,
            threadId: this.run.threadId,
            runId: this.run.runId,
            metadata: { sessionId: this.run.sessionId, turnId: event.data.turnId },
          } as BaseEvent);
        }
        if (event.data.agent !== this.step) out.push(...this.switchStep(event.data.agent));
        break;
      case 'agent_switched':
        out.push(...this.closeText(), ...this.switchStep(event.data.to, event.data));
        break;
      case 'reasoning':
        if (!this.reasoningId) {
          this.reasoningId = uuidV5(String(event.id), STREAMED_NAMESPACE);
          out.push(
            { type: EventType.REASONING_START, messageId: this.reasoningId } as BaseEvent,
            { type: EventType.REASONING_MESSAGE_START, messageId: this.reasoningId, role: 'reasoning' } as BaseEvent,
          );
        }
        if (event.data.delta)
          out.push({ type: EventType.REASONING_MESSAGE_CONTENT, messageId: this.reasoningId, delta: event.data.delta } as BaseEvent);
        break;
      case 'token':
        out.push(...this.closeReasoning());
        if (!this.textId) {
          this.textId = uuidV5(String(event.id), STREAMED_NAMESPACE);
          out.push({ type: EventType.TEXT_MESSAGE_START, messageId: this.textId, role: 'assistant' } as BaseEvent);
        }
        if (event.data.delta)
          out.push({ type: EventType.TEXT_MESSAGE_CONTENT, messageId: this.textId, delta: event.data.delta } as BaseEvent);
        break;
      case 'message': {
        const message = event.data.message;
        if (message.role !== 'assistant') break;
        out.push(...this.closeReasoning());
        this.answerId = this.textId ?? message.id;
        if (this.textId) out.push(...this.closeText());
        else if (message.content) {
          // A stored answer that was not streamed (the agent's completion or its follow-up question).
          out.push(
            { type: EventType.TEXT_MESSAGE_START, messageId: message.id, role: 'assistant' } as BaseEvent,
            { type: EventType.TEXT_MESSAGE_CONTENT, messageId: message.id, delta: message.content } as BaseEvent,
            { type: EventType.TEXT_MESSAGE_END, messageId: message.id } as BaseEvent,
          );
        }
        break;
      }
      case 'tool_call': {
        const { toolCallId, name } = event.data;
        this.toolCalls.push(toolCallId);
        out.push(
          ...this.closeText(),
          {
            type: EventType.TOOL_CALL_START,
            toolCallId,
            toolCallName: name,
            ...(this.answerId ? { parentMessageId: this.answerId } : {}),
          } as BaseEvent,
          { type: EventType.TOOL_CALL_ARGS, toolCallId, delta: JSON.stringify(event.data.arguments) } as BaseEvent,
          { type: EventType.TOOL_CALL_END, toolCallId } as BaseEvent,
        );
        break;
      }
      case 'approval_required':
        // Told once, at the end, as the interrupts of RUN_FINISHED.
        break;
      case 'error':
        out.push(...this.fail(event.data.code, event.data.message));
        break;
      case 'done':
        break;
    }
    return out;
  }

  /** The end of the run, for its turn's `done`. */
  end(status: DoneStatus, usage: Usage | undefined, ending: RunEnding): BaseEvent[] {
    if (this.ended) return [];
    if (status === 'failed') return this.fail('internal_error', 'The turn failed unexpectedly.');
    if (status === 'interrupted')
      return this.fail('interrupted', 'The turn was interrupted before it finished; send the next message to go on.');
    const outcome: RunFinishedOutcome =
      status === 'cancelled'
        ? { type: 'cancelled' }
        : status === 'awaiting_approval' && ending.interrupts.length
          ? { type: 'interrupt', interrupts: ending.interrupts }
          : { type: 'success', ...(this.toolCalls.length ? { pendingToolCallIds: this.toolCalls } : {}) };
    this.ended = true;
    return [
      ...this.closeText(),
      { type: EventType.MESSAGES_SNAPSHOT, messages: ending.snapshot } as BaseEvent,
      ...this.closeStep(),
      { type: EventType.RUN_FINISHED, threadId: this.run.threadId, runId: this.run.runId, outcome, ...usageOf(usage) } as BaseEvent,
    ];
  }

  /** RUN_ERROR ends the run: open text is closed first, and nothing follows. */
  fail(code: string, message: string): BaseEvent[] {
    if (this.ended) return [];
    this.ended = true;
    return [...this.closeText(), { type: EventType.RUN_ERROR, code, message } as BaseEvent];
  }

  /** Ends open text, and open reasoning with it: anything that ends an answer ends the thinking before it. */
  private closeText(): BaseEvent[] {
    const out = this.closeReasoning();
    if (!this.textId) return out;
    out.push({ type: EventType.TEXT_MESSAGE_END, messageId: this.textId } as BaseEvent);
    this.textId = undefined;
    return out;
  }

  private closeReasoning(): BaseEvent[] {
    if (!this.reasoningId) return [];
    const messageId = this.reasoningId;
    this.reasoningId = undefined;
    return [{ type: EventType.REASONING_MESSAGE_END, messageId } as BaseEvent, { type: EventType.REASONING_END, messageId } as BaseEvent];
  }

  private closeStep(): BaseEvent[] {
    if (!this.step) return [];
    const stepName = this.step;
    this.step = undefined;
    return [{ type: EventType.STEP_FINISHED, stepName } as BaseEvent];
  }

  private switchStep(agent: string, change?: { from: string; to: string; reason: string }): BaseEvent[] {
    const out = this.closeStep();
    if (change) out.push({ type: EventType.CUSTOM, name: 'agent_switched', value: change } as BaseEvent);
    this.step = agent;
    out.push({ type: EventType.STEP_STARTED, stepName: agent } as BaseEvent);
    return out;
  }
}
