import { Injectable } from '@nestjs/common';
import { Ajv, type ErrorObject } from 'ajv';
import picomatch from 'picomatch';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { normalizeWorkspacePath } from '../agents/workspace-path.js';
import { InvalidSettingsError } from '../config/load-settings.js';
import { Settings } from '../config/settings.js';

/** One rule; the first rule whose `tool` glob (and `when`, if any) matches a call decides. */
export interface ApprovalRule {
  /** Glob over the tool name, e.g. `write_file` or `delete_*`. */
  tool: string;
  /** Narrows the rule to calls whose string `argument` matches `glob` and/or `regex` (both must match when both are given). */
  when?: { argument: string; glob?: string; regex?: string };
  action: 'require' | 'allow';
  /** Shown to the person deciding (and in `approval_required`). */
  reason?: string;
}

export interface ApprovalDecision {
  required: boolean;
  reason: string;
}

/** Applied when `APPROVAL_POLICY_FILE` is unset: anything that changes the workspace or runs code waits for a person. */
export const DEFAULT_APPROVAL_RULES: readonly ApprovalRule[] = [
  { tool: 'write_file', action: 'require', reason: 'Writes a file in the workspace.' },
  { tool: 'create_directory', action: 'require', reason: 'Creates a folder in the workspace.' },
  { tool: 'execute_command', action: 'require', reason: "Runs a command on the user's machine." },
  { tool: 'delete_*', action: 'require', reason: 'Deletes from the workspace.' },
  { tool: 'move_*', action: 'require', reason: 'Moves or renames in the workspace.' },
];

/** The approval policy file: `{ "rules": [ApprovalRule, ...] }`. */
const POLICY_FILE_SCHEMA = {
  type: 'object',
  properties: {
    rules: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          tool: { type: 'string', minLength: 1 },
          when: {
            type: 'object',
            properties: {
              argument: { type: 'string', minLength: 1 },
              glob: { type: 'string', minLength: 1 },
              regex: { type: 'string', minLength: 1 },
            },
            required: ['argument'],
            additionalProperties: false,
          },
          action: { enum: ['require', 'allow'] },
          reason: { type: 'string', minLength: 1, maxLength: 1000 },
        },
        required: ['tool', 'action'],
        additionalProperties: false,
      },
    },
  },
  required: ['rules'],
  additionalProperties: false,
} as const;

/** `APPROVAL_POLICY_FILE` cannot be used; the message names the file and the problem. */
export class InvalidApprovalPolicyError extends InvalidSettingsError {}

interface CompiledRule {
  rule: ApprovalRule;
  /** 1-based, as a person counts rules in the file. */
  number: number;
  matchesTool: (name: string) => boolean;
  matchesGlob?: (value: string) => boolean;
  regex?: RegExp;
}

/**
 * Decides which tool calls wait for a person's approval. Rules come from `APPROVAL_POLICY_FILE`
 * or `DEFAULT_APPROVAL_RULES`; the file is read and checked once, at construction, so a bad file
 * stops start-up instead of surfacing during a turn. A call no rule matches is allowed.
 */
@Injectable()
export class ApprovalPolicy {
  readonly rules: readonly ApprovalRule[];
  private readonly compiled: CompiledRule[];

  constructor(settings: Settings) {
    const file = settings.APPROVAL_POLICY_FILE;
    this.rules = file ? readPolicyFile(file) : DEFAULT_APPROVAL_RULES;
    this.compiled = this.rules.map((rule, index) => {
      const where = file ? `rule ${index + 1}` : `default rule ${index + 1}`;
      try {
        return {
          rule,
          number: index + 1,
          matchesTool: picomatch(rule.tool),
          matchesGlob: rule.when?.glob === undefined ? undefined : picomatch(rule.when.glob, { dot: true }),
          regex: rule.when?.regex === undefined ? undefined : new RegExp(rule.when.regex),
        };
      } catch (error) {
        const problem = `${where}: ${error instanceof Error ? error.message : String(error)}`;
        throw new InvalidApprovalPolicyError(file ? `APPROVAL_POLICY_FILE "${file}": ${problem}` : problem);
      }
    });
  }

  evaluate(toolName: string, args: Record<string, unknown>): ApprovalDecision {
    const match = this.compiled.find((rule) => rule.matchesTool(toolName) && conditionHolds(rule, args));
    if (!match) return { required: false, reason: 'No approval rule matches this tool call.' };
    const required = match.rule.action === 'require';
    const reason =
      match.rule.reason ?? `${required ? 'Needs approval' : 'Allowed'} by approval rule ${match.number} (tool "${match.rule.tool}").`;
    return { required, reason };
  }
}

function conditionHolds(rule: CompiledRule, args: Record<string, unknown>): boolean {
  const when = rule.rule.when;
  if (!when) return true;
  const raw = args[when.argument];
  if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') return false;
  const value = String(raw);
  if (rule.matchesGlob) {
    // A path glob should not depend on how the agent spelled the path (`./docs/a.md`, `docs\a.md`).
    const path = normalizeWorkspacePath(value);
    if (!rule.matchesGlob(value) && !(path.ok && rule.matchesGlob(path.path))) return false;
  }
  return !rule.regex || rule.regex.test(value);
}

function readPolicyFile(file: string): ApprovalRule[] {
  const fail = (problem: string): never => {
    throw new InvalidApprovalPolicyError(`APPROVAL_POLICY_FILE "${file}": ${problem}`);
  };
  let text = '';
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch (error) {
    fail(`cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (error) {
    fail(`is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const validate = new Ajv({ allErrors: true }).compile<{ rules: ApprovalRule[] }>(POLICY_FILE_SCHEMA);
  if (!validate(content)) return fail(describeErrors(validate.errors ?? []));
  content.rules.forEach((rule, index) => {
    if (rule.when && rule.when.glob === undefined && rule.when.regex === undefined) {
      fail(`rule ${index + 1}: "when" needs a "glob" or a "regex"`);
    }
  });
  return content.rules;
}

/** `/rules/0/when/regex` → `rule 1, when.regex`, counting rules as a person does. */
function describePointer(pointer: string): string {
  const [, rules, index, ...rest] = pointer.split('/');
  if (rules !== 'rules' || index === undefined) return pointer.slice(1);
  return rest.length === 0 ? `rule ${Number(index) + 1}` : `rule ${Number(index) + 1}, ${rest.join('.')}`;
}

function describeErrors(errors: ErrorObject[]): string {
  return errors
    .map((error) => {
      const where = error.instancePath === '' ? 'the file' : describePointer(error.instancePath);
      if (error.keyword === 'additionalProperties') {
        return `${where}: unknown field "${(error.params as { additionalProperty: string }).additionalProperty}"`;
      }
      if (error.keyword === 'enum') {
        return `${where}: must be one of ${(error.params as { allowedValues: string[] }).allowedValues.join(', ')}`;
      }
      return `${where}: ${error.message}`;
    })
    .join('; ');
}
