import { Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { Settings } from '../config/settings.js';
import type { AgentDefinition, AgentType } from './agent-definition.js';
import { architectAgent } from './definitions/architect.js';
import { askAgent } from './definitions/ask.js';
import { coderAgent } from './definitions/coder.js';
import { debugAgent } from './definitions/debug.js';
import { orchestratorAgent } from './definitions/orchestrator.js';
import { universalAgent } from './definitions/universal.js';
import { TOOL_SPECS, type ToolSpec } from './tools.js';

const MULTI_AGENTS: readonly AgentDefinition[] = [orchestratorAgent, coderAgent, architectAgent, debugAgent, askAgent];
const SINGLE_AGENTS: readonly AgentDefinition[] = [universalAgent];

/** The agents this instance offers: the team, or only `universal` when `MULTI_AGENT_MODE=false`. */
@Injectable()
export class AgentCatalog {
  private readonly agents: ReadonlyMap<string, AgentDefinition>;
  private readonly toolSpecs: ReadonlyMap<string, ToolSpec[]>;

  constructor(settings: Settings) {
    const agents = settings.MULTI_AGENT_MODE ? MULTI_AGENTS : SINGLE_AGENTS;
    this.agents = new Map(agents.map((agent) => [agent.type, agent]));
    this.toolSpecs = new Map(agents.map((agent) => [agent.type, this.buildToolSpecs(agent)]));
  }

  list(): AgentDefinition[] {
    return [...this.agents.values()];
  }

  get(type: string): AgentDefinition | undefined {
    return this.agents.get(type);
  }

  has(type: string): type is AgentType {
    return this.agents.has(type);
  }

  /** `type` when this instance offers it; 400 `unknown_agent` naming the agents it does offer otherwise. */
  known(type: string): AgentType {
    if (this.has(type)) return type;
    throw new DomainError(
      'unknown_agent',
      `agentType must be one of: ${this.list()
        .map((a) => a.type)
        .join(', ')}`,
    );
  }

  /** The agent a new session starts with. */
  defaultAgent(): AgentDefinition {
    return this.get('orchestrator') ?? universalAgent;
  }

  /** The agents the orchestrator may route a task to. */
  specialists(): AgentDefinition[] {
    return this.list().filter((agent) => agent.role === 'specialist');
  }

  /** The agents `switch_mode` may hand over to from `type`: the router sends to specialists, a specialist to anyone else. */
  switchTargets(type: string): AgentType[] {
    const agent = this.get(type);
    return agent?.tools.includes('switch_mode') ? this.switchTargetsOf(agent) : [];
  }

  /**
   * The OpenAI tool specs to send with this agent's LLM calls, in the agent's order. The
   * `switch_mode` spec lists only the agents this one may hand over to.
   * @throws Error for an agent this instance does not offer (a caller's bug).
   */
  toolSpecsFor(type: string): ToolSpec[] {
    const specs = this.toolSpecs.get(type);
    if (!specs) throw new Error(`Unknown agent "${type}"`);
    return specs;
  }

  private buildToolSpecs(agent: AgentDefinition): ToolSpec[] {
    return agent.tools.map((name) => {
      if (name !== 'switch_mode') return TOOL_SPECS[name];
      const base = TOOL_SPECS.switch_mode;
      const parameters = base.function.parameters;
      const targets = this.switchTargetsOf(agent);
      // The LLM picks better when the enum comes with what each agent is for.
      const who = targets.map((target) => `${target}: ${this.agents.get(target)?.description}`).join(' ');
      return {
        ...base,
        function: {
          ...base.function,
          parameters: {
            ...parameters,
            properties: {
              ...parameters.properties,
              agent: { ...parameters.properties.agent, enum: targets, description: `The agent to hand over to. ${who}` },
            },
          },
        },
      };
    });
  }

  private switchTargetsOf(agent: AgentDefinition): AgentType[] {
    const candidates = agent.role === 'router' ? this.specialists() : this.list();
    return candidates.filter((other) => other.type !== agent.type).map((other) => other.type);
  }
}
