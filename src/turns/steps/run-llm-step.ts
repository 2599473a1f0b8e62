import { Injectable } from '@nestjs/common';
import type { AgentDefinition } from '../../agents/agent-definition.js';
import { AgentCatalog } from '../../agents/agent-catalog.js';
import { Settings } from '../../config/settings.js';
import { LlmClient } from '../../llm/llm-client.js';
import type { LlmToolCall, ProviderState } from '../../llm/llm-provider.js';
import type { MessageEntity, StoredToolCall } from '../../messages/message.entity.js';
import { MessagesService } from '../../messages/messages.service.js';
import { buildContext } from '../llm-context.js';
import { events } from '../protocol/events.js';
import { addUsage, answerMetadata, commitMessages, offersTool, type Turn } from '../turn.js';
import { TransactionHost } from '../../unit-of-work/transaction-host.js';

/** One LLM step's stored answer and the tool calls in it (ids unique within the session). */
export interface LlmStepResult {
  answer: MessageEntity;
  toolCalls: StoredToolCall[];
}

/**
 * One LLM step: the agent's context from the history, the streamed answer (`token` and `reasoning`
 * events, the text kept in `turn.partial` so an abort can save it), then the answer stored
 * (`save_assistant_message`) with its reasoning as metadata. An answer the provider did not complete
 * (cut at the output limit, empty, broken off) arrives as an `LlmError`: nothing of it is stored
 * as a complete answer, and its tool calls are never dispatched.
 */
@Injectable()
export class RunLlmStep {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly settings: Settings,
    private readonly agents: AgentCatalog,
    private readonly messages: MessagesService,
    private readonly llm: LlmClient,
  ) {}

  async run(turn: Turn): Promise<LlmStepResult> {
    const agent: AgentDefinition = this.agents.get(turn.agent) ?? this.agents.defaultAgent();
    const history = turn.history ?? (await this.messages.history(turn.sessionId));
    turn.history = undefined;
    const context = buildContext(agent.systemPrompt, history, this.settings.HISTORY_TOKEN_BUDGET);
    let calls: LlmToolCall[] = [];
    let providerState: ProviderState | undefined;
    turn.partial = '';
    turn.reasoning = '';
    const tools = this.agents.toolSpecsFor(agent.type).filter((spec) => offersTool(turn, spec.function.name));
    await this.llm.stream({ messages: context, tools, signal: turn.signal }, (event) => {
      switch (event.type) {
        case 'text':
          turn.partial += event.delta;
          turn.emit(events.token(event.delta));
          break;
        case 'reasoning':
          turn.reasoning += event.delta;
          turn.emit(events.reasoning(event.delta));
          break;
        case 'tool_calls':
          calls = event.calls;
          break;
        case 'provider_state':
          providerState = event.state;
          break;
        case 'usage':
          addUsage(turn, event.inputTokens, event.outputTokens);
          break;
      }
    });
    const text = turn.partial;
    const metadata = answerMetadata(turn, providerState);
    let toolCalls: StoredToolCall[] = [];
    const save = async () => {
      toolCalls = await this.messages.uniqueToolCalls(turn.sessionId, calls);
      return this.messages.append(turn.sessionId, [
        {
          role: 'assistant',
          content: text || (toolCalls.length ? null : ''),
          toolCalls: toolCalls.length ? toolCalls : null,
          metadata,
          agent: agent.type,
          turnId: turn.id,
        },
      ]);
    };
    // Without tool calls the answer is one INSERT, atomic on its own. Once stored it is no longer partial.
    const [answer] = await commitMessages(this.txHost, turn, 'save_assistant_message', save, calls.length === 0);
    turn.partial = '';
    return { answer, toolCalls };
  }
}
