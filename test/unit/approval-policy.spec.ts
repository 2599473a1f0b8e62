import { expect } from 'expect';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ApprovalPolicy, DEFAULT_APPROVAL_RULES, InvalidApprovalPolicyError } from '../../src/approvals/approval-policy.js';
import { InvalidSettingsError, loadSettings } from '../../src/config/load-settings.js';

const dir = mkdtempSync(join(tmpdir(), 'approval-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A policy built from a file holding `content` (an object is written as JSON). */
function policyFrom(content: unknown): ApprovalPolicy {
  const file = join(dir, `policy-${++files}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return new ApprovalPolicy(loadSettings({ APPROVAL_POLICY_FILE: file }));
}

describe('approval policy', () => {
  const defaults = new ApprovalPolicy(loadSettings({}));

  it('by default requires approval for writes, folders, commands, deletes and moves', () => {
    expect(defaults.rules).toBe(DEFAULT_APPROVAL_RULES);
    for (const tool of ['write_file', 'create_directory', 'execute_command', 'delete_file', 'move_file']) {
      const decision = defaults.evaluate(tool, {});
      expect(decision.required).toBe(true);
      expect(decision.reason.length).toBeGreaterThan(0);
    }
    expect(defaults.evaluate('execute_command', { command: 'rm -rf /' })).toEqual({
      required: true,
      reason: "Runs a command on the user's machine.",
    });
  });

  it('by default lets reads and runtime tools through', () => {
    for (const tool of ['read_file', 'list_files', 'search_in_code', 'switch_mode', 'attempt_completion', 'ask_followup_question']) {
      expect(defaults.evaluate(tool, { path: 'a' })).toEqual({ required: false, reason: 'No approval rule matches this tool call.' });
    }
  });

  it('lets the first matching rule win', () => {
    const policy = policyFrom({
      rules: [
        { tool: 'write_file', when: { argument: 'path', glob: 'docs/**' }, action: 'allow', reason: 'Docs are free.' },
        { tool: 'write_*', action: 'require' },
        { tool: 'write_file', action: 'allow' },
        { tool: '*', action: 'require', reason: 'Everything else waits.' },
      ],
    });
    expect(policy.evaluate('write_file', { path: 'docs/guide/a.md' })).toEqual({ required: false, reason: 'Docs are free.' });
    expect(policy.evaluate('write_file', { path: 'src/a.ts' })).toEqual({
      required: true,
      reason: 'Needs approval by approval rule 2 (tool "write_*").',
    });
    expect(policy.evaluate('read_file', { path: 'a' })).toEqual({ required: true, reason: 'Everything else waits.' });
  });

  it('matches argument globs on normalised paths', () => {
    const policy = policyFrom({ rules: [{ tool: 'write_file', when: { argument: 'path', glob: '**/*.md' }, action: 'require' }] });
    expect(policy.evaluate('write_file', { path: 'README.md' }).required).toBe(true);
    expect(policy.evaluate('write_file', { path: './docs\\a.md' }).required).toBe(true);
    expect(policy.evaluate('write_file', { path: 'src/a.ts' }).required).toBe(false);
    // A rule on an argument the call lacks, or that is not text, does not match.
    expect(policy.evaluate('write_file', {}).required).toBe(false);
    expect(policy.evaluate('write_file', { path: { nested: 'a.md' } }).required).toBe(false);
  });

  it('matches argument regexes, and both conditions when both are given', () => {
    const policy = policyFrom({
      rules: [
        { tool: 'execute_command', when: { argument: 'command', regex: '^(npm (test|run lint)|git (status|diff))( |$)' }, action: 'allow' },
        { tool: 'execute_command', when: { argument: 'cwd', glob: 'scratch/**', regex: 'tmp' }, action: 'allow' },
        { tool: 'execute_command', action: 'require', reason: 'Other commands wait.' },
      ],
    });
    expect(policy.evaluate('execute_command', { command: 'npm test' }).required).toBe(false);
    expect(policy.evaluate('execute_command', { command: 'git diff --stat' }).required).toBe(false);
    expect(policy.evaluate('execute_command', { command: 'npm install evil' })).toEqual({ required: true, reason: 'Other commands wait.' });
    expect(policy.evaluate('execute_command', { command: 'echo; npm test' }).required).toBe(true);
    expect(policy.evaluate('execute_command', { command: 'make', cwd: 'scratch/tmp/x' }).required).toBe(false);
    expect(policy.evaluate('execute_command', { command: 'make', cwd: 'scratch/build' }).required).toBe(true);
  });

  it('allows everything no rule of the file matches, defaults included', () => {
    const policy = policyFrom({ rules: [{ tool: 'execute_command', action: 'require' }] });
    expect(policy.evaluate('write_file', { path: 'a', content: '' }).required).toBe(false);
    expect(policyFrom({ rules: [] }).evaluate('execute_command', { command: 'ls' }).required).toBe(false);
  });

  it('refuses a file that is missing or not JSON, naming the file', () => {
    const missing = join(dir, 'absent.json');
    expect(() => new ApprovalPolicy(loadSettings({ APPROVAL_POLICY_FILE: missing }))).toThrow(
      `APPROVAL_POLICY_FILE "${missing}": cannot be read (ENOENT)`,
    );
    expect(() => policyFrom('{"rules": [')).toThrow(/APPROVAL_POLICY_FILE ".*policy-\d+\.json": is not valid JSON/);
  });

  it('refuses rules that break the schema, naming the rule and field', () => {
    expect(() => policyFrom({ rules: [{ tool: 'x', action: 'ask' }] })).toThrow(/rule 1, action: must be one of require, allow/);
    expect(() => policyFrom({ rules: [{ action: 'allow' }] })).toThrow(/rule 1: must have required property 'tool'/);
    expect(() =>
      policyFrom({
        rules: [
          { tool: 'x', action: 'allow' },
          { tool: 'y', action: 'allow', colour: 'red' },
        ],
      }),
    ).toThrow(/rule 2: unknown field "colour"/);
    expect(() => policyFrom({ rules: [{ tool: 'x', action: 'allow', when: { argument: 'path' } }] })).toThrow(
      /rule 1: "when" needs a "glob" or a "regex"/,
    );
    expect(() => policyFrom([{ tool: 'x', action: 'allow' }])).toThrow(/the file: must be object/);
    expect(() => policyFrom({ policy: [] })).toThrow(/must have required property 'rules'/);
  });

  it('refuses a bad regex, and the error stops start-up like a bad setting', () => {
    let error: unknown;
    try {
      policyFrom({
        rules: [
          { tool: 'x', action: 'require' },
          { tool: 'execute_command', when: { argument: 'command', regex: '(unclosed' }, action: 'allow' },
        ],
      });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(InvalidApprovalPolicyError);
    expect(error).toBeInstanceOf(InvalidSettingsError);
    expect((error as Error).message).toMatch(/^APPROVAL_POLICY_FILE ".*policy-\d+\.json": rule 2: Invalid regular expression/);
  });
});
