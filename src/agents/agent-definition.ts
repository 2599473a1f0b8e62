import type { ToolName } from './tools.js';

/** Every agent the runtime knows; which of them are offered depends on `MULTI_AGENT_MODE`. */
export const AGENT_TYPES = ['orchestrator', 'coder', 'architect', 'debug', 'ask', 'universal'] as const;
export type AgentType = (typeof AGENT_TYPES)[number];

/**
 * How an agent takes part in a conversation: the router hands each new task to a specialist;
 * the generalist is the only agent when `MULTI_AGENT_MODE=false`.
 */
export type AgentRole = 'router' | 'specialist' | 'generalist';

/** Limits on one tool beyond being allowed at all. */
export interface ToolRestriction {
  /** Workspace-relative globs (picomatch) the tool's path argument must match. */
  pathGlobs?: string[];
}

export interface AgentDefinition {
  type: AgentType;
  name: string;
  /** One or two sentences; the orchestrator routes on it and `GET /v1/agents` shows it. */
  description: string;
  role: AgentRole;
  systemPrompt: string;
  /** The tools offered to the LLM, by name. */
  tools: ToolName[];
  restrictions: Partial<Record<ToolName, ToolRestriction>>;
}
