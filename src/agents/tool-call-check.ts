import { Injectable } from '@nestjs/common';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import picomatch from 'picomatch';
import type { AgentDefinition } from './agent-definition.js';
import { AgentCatalog } from './agent-catalog.js';
import { isToolName, PATH_ARGUMENTS, TOOL_NAMES, TOOL_SPECS, type ToolName } from './tools.js';
import { normalizeWorkspacePath } from './workspace-path.js';

/** A tool call as the LLM produced it (OpenAI shape, flattened). */
export interface RawToolCall {
  id: string;
  name: string;
  /** JSON text, possibly invalid. */
  arguments: string;
}

/** `reason` is written for the LLM: it gets it back as the tool's result and should correct the call. */
export type ToolCallVerdict = { ok: true; args: Record<string, unknown> } | { ok: false; reason: string };

/** Schema messages beyond this many add noise rather than help the LLM fix its call. */
const MAX_REPORTED_ERRORS = 5;

/**
 * Decides whether an agent may make a tool call exactly as the LLM wrote it: the tool exists and
 * the agent has it, the arguments are JSON matching the tool's schema, and every path stays in the
 * workspace and within the agent's restrictions. Schemas and globs are compiled once.
 */
@Injectable()
export class ToolCallCheck {
  private readonly ajv = new Ajv({ allErrors: true, strict: true });
  private readonly genericValidators = new Map<ToolName, ValidateFunction>();
  /** Per agent, since an agent's spec can be narrower than the generic one (`switch_mode` targets). */
  private readonly agentValidators = new Map<string, Map<ToolName, ValidateFunction>>();
  private readonly pathMatchers = new Map<string, Map<ToolName, (path: string) => boolean>>();

  constructor(private readonly catalog: AgentCatalog) {
    for (const name of TOOL_NAMES) this.genericValidators.set(name, this.ajv.compile(TOOL_SPECS[name].function.parameters));
    for (const agent of catalog.list()) {
      const validators = new Map<ToolName, ValidateFunction>();
      for (const spec of catalog.toolSpecsFor(agent.type)) {
        validators.set(spec.function.name, this.ajv.compile(spec.function.parameters));
      }
      this.agentValidators.set(agent.type, validators);
      const matchers = new Map<ToolName, (path: string) => boolean>();
      for (const [tool, restriction] of Object.entries(agent.restrictions) as [ToolName, { pathGlobs?: string[] }][]) {
        if (restriction.pathGlobs) matchers.set(tool, picomatch(restriction.pathGlobs, { dot: true }));
      }
      this.pathMatchers.set(agent.type, matchers);
    }
  }

  /** Checks a tool call the LLM made while running as `agentType`. */
  check(agentType: string, call: RawToolCall): ToolCallVerdict {
    const agent = this.catalog.get(agentType);
    if (!agent) return { ok: false, reason: `Unknown agent "${agentType}".` };
    const refusal = this.refuseTool(agent, call.name);
    if (refusal) return refusal;
    let args: unknown;
    try {
      // Some models send an empty string for a call without arguments.
      args = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
    } catch (error) {
      const detail = error instanceof Error ? error.message.slice(0, 200) : String(error);
      return { ok: false, reason: `The arguments of "${call.name}" are not valid JSON (${detail}). Send one JSON object.` };
    }
    return this.checkArguments(call.name as ToolName, args, agent);
  }

  /**
   * Checks already-parsed arguments, e.g. those a person edited in an approval: the tool's schema
   * and workspace containment, and when `agentType` is given also that agent's tools and restrictions.
   */
  validateArguments(toolName: string, args: unknown, agentType?: string): ToolCallVerdict {
    if (agentType === undefined) {
      if (!isToolName(toolName)) return { ok: false, reason: `Unknown tool "${toolName}".` };
      return this.checkArguments(toolName, args);
    }
    const agent = this.catalog.get(agentType);
    if (!agent) return { ok: false, reason: `Unknown agent "${agentType}".` };
    return this.refuseTool(agent, toolName) ?? this.checkArguments(toolName as ToolName, args, agent);
  }

  private refuseTool(agent: AgentDefinition, name: string): ToolCallVerdict | undefined {
    const available = `Available tools: ${agent.tools.join(', ')}.`;
    if (!isToolName(name)) return { ok: false, reason: `Unknown tool "${name}". ${available}` };
    if (!agent.tools.includes(name)) {
      return { ok: false, reason: `The ${agent.name} agent may not use "${name}". ${available}` };
    }
    return undefined;
  }

  private checkArguments(name: ToolName, args: unknown, agent?: AgentDefinition): ToolCallVerdict {
    const validate = (agent && this.agentValidators.get(agent.type)?.get(name)) ?? this.genericValidators.get(name)!;
    if (!validate(args)) {
      return { ok: false, reason: `Invalid arguments for "${name}": ${describeErrors(validate.errors ?? [])}.` };
    }
    const valid = args as Record<string, unknown>;
    for (const argument of PATH_ARGUMENTS[name] ?? []) {
      const raw = valid[argument];
      if (typeof raw !== 'string') continue;
      const path = normalizeWorkspacePath(raw);
      if (!path.ok) return { ok: false, reason: `Refused "${name}": ${path.reason}.` };
      const globs = agent?.restrictions[name]?.pathGlobs;
      if (!agent || !globs) continue;
      if (path.absolute) {
        return { ok: false, reason: `Refused "${name}": use a path relative to the workspace root instead of "${raw}".` };
      }
      if (!this.pathMatchers.get(agent.type)?.get(name)?.(path.path)) {
        return {
          ok: false,
          reason: `Refused "${name}": the ${agent.name} agent may only use it on paths matching ${globs.join(', ')}, and "${raw}" does not.`,
        };
      }
    }
    return { ok: true, args: valid };
  }
}

function describeErrors(errors: ErrorObject[]): string {
  return errors
    .slice(0, MAX_REPORTED_ERRORS)
    .map((error) => {
      const where = error.instancePath.slice(1);
      switch (error.keyword) {
        case 'required':
          return `missing required argument "${(error.params as { missingProperty: string }).missingProperty}"`;
        case 'additionalProperties':
          return `unknown argument "${(error.params as { additionalProperty: string }).additionalProperty}"`;
        case 'enum':
          return `"${where}" must be one of: ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
        default:
          return where === '' ? `the arguments ${error.message} (send one JSON object)` : `"${where}" ${error.message}`;
      }
    })
    .join('; ');
}
