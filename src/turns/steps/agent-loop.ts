import { Injectable } from '@nestjs/common';
import { Settings } from '../../config/settings.js';
import { events } from '../protocol/events.js';
import type { DoneStatus } from '../protocol/turn-event.js';
import type { Turn } from '../turn.js';
import { DispatchToolCalls } from './dispatch-tool-calls.js';
import { RunLlmStep } from './run-llm-step.js';

/** LLM steps until the agent answers without tool calls, waits for the client or a person, or runs out of steps. */
@Injectable()
export class AgentLoop {
  constructor(
    private readonly settings: Settings,
    private readonly llmStep: RunLlmStep,
    private readonly dispatch: DispatchToolCalls,
  ) {}

  async run(turn: Turn): Promise<DoneStatus> {
    const maxSteps = this.settings.MAX_STEPS_PER_TURN;
    for (;;) {
      if (turn.steps >= maxSteps) {
        turn.emit(events.error('step_limit', `The agent used its ${maxSteps} steps for this turn without finishing.`));
        return 'failed';
      }
      turn.steps++;
      const { answer, toolCalls } = await this.llmStep.run(turn);
      if (toolCalls.length === 0) return 'completed';
      const next = await this.dispatch.run(turn, answer, toolCalls);
      if (next !== 'continue') return next;
    }
  }
}
