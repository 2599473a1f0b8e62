import { Injectable, Logger } from '@nestjs/common';
import { AgentCatalog } from '../../agents/agent-catalog.js';
import { classificationPrompt, classifyByKeywords, parseClassification } from '../../agents/routing.js';
import { LlmClient } from '../../llm/llm-client.js';
import { addUsage, type Turn } from '../turn.js';
import { SwitchAgent } from './switch-agent.js';

/**
 * Who answers a new user message: the agent the user asked for, else — when the session's agent is
 * the router (orchestrator) — the specialist a JSON classification from the LLM names, with keyword
 * rules when that fails. Otherwise the session's agent goes on.
 */
@Injectable()
export class RouteMessage {
  private readonly logger = new Logger(RouteMessage.name);

  constructor(
    private readonly agents: AgentCatalog,
    private readonly llm: LlmClient,
    private readonly switchAgent: SwitchAgent,
  ) {}

  async run(turn: Turn, content: string, agentType?: string): Promise<void> {
    if (agentType && agentType !== turn.agent) {
      await this.switchAgent.run(turn, agentType, 'requested by the user');
    } else if (this.agents.get(turn.agent)?.role === 'router') {
      const route = await this.classify(turn, content);
      await this.switchAgent.run(turn, route.agent, route.reason);
    }
  }

  private async classify(turn: Turn, content: string): Promise<{ agent: string; reason: string }> {
    let text = '';
    try {
      await this.llm.stream(
        {
          messages: [
            { role: 'system', content: classificationPrompt(this.agents) },
            { role: 'user', content },
          ],
          signal: turn.signal,
        },
        (event) => {
          if (event.type === 'text') text += event.delta;
          if (event.type === 'usage') addUsage(turn, event.inputTokens, event.outputTokens);
        },
      );
    } catch (error) {
      if (turn.signal.aborted) throw error;
      this.logger.warn({ msg: 'classification call failed; routing by keywords', turnId: turn.id, error: (error as Error).message });
    }
    const parsed = parseClassification(text, this.agents);
    if (parsed) return { agent: parsed.agent, reason: parsed.reason || `classified as ${parsed.agent} work` };
    const fallback = classifyByKeywords(content);
    return { agent: fallback.agent, reason: `${fallback.reason} (keyword rules)` };
  }
}
