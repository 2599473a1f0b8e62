import { expect } from 'expect';
import { describe, it } from 'node:test';
import { AgentCatalog } from '../../src/agents/agent-catalog.js';
import { classificationPrompt, classifyByKeywords, parseClassification } from '../../src/agents/routing.js';
import { ToolCallCheck, type RawToolCall, type ToolCallVerdict } from '../../src/agents/tool-call-check.js';
import { CLIENT_TOOL_NAMES, isClientTool, isRuntimeTool, RUNTIME_TOOL_NAMES, TOOL_SPECS } from '../../src/agents/tools.js';
import { normalizeWorkspacePath } from '../../src/agents/workspace-path.js';
import { loadSettings } from '../../src/config/load-settings.js';

const multi = new AgentCatalog(loadSettings({}));
const single = new AgentCatalog(loadSettings({ MULTI_AGENT_MODE: 'false' }));
const check = new ToolCallCheck(multi);

const call = (name: string, args: unknown): RawToolCall => ({
  id: 'call_1',
  name,
  arguments: typeof args === 'string' ? args : JSON.stringify(args),
});
const reasonOf = (verdict: ToolCallVerdict) => (verdict.ok ? 'accepted' : verdict.reason);
const toolNames = (catalog: AgentCatalog, type: string) => catalog.toolSpecsFor(type).map((spec) => spec.function.name);

describe('agent catalog', () => {
  it('offers the team in multi-agent mode and starts with the orchestrator', () => {
    expect(multi.list().map((agent) => agent.type)).toEqual(['orchestrator', 'coder', 'architect', 'debug', 'ask']);
    expect(multi.defaultAgent().type).toBe('orchestrator');
    expect(multi.specialists().map((agent) => agent.type)).toEqual(['coder', 'architect', 'debug', 'ask']);
    expect(multi.has('coder')).toBe(true);
    expect(multi.has('universal')).toBe(false);
    expect(multi.get('nobody')).toBeUndefined();
    expect(() => multi.toolSpecsFor('nobody')).toThrow(/nobody/);
  });

  it('offers only the universal agent in single-agent mode', () => {
    expect(single.list().map((agent) => agent.type)).toEqual(['universal']);
    expect(single.defaultAgent().type).toBe('universal');
    expect(single.get('coder')).toBeUndefined();
    expect(single.specialists()).toEqual([]);
    expect(toolNames(single, 'universal')).toEqual([...CLIENT_TOOL_NAMES, 'attempt_completion', 'ask_followup_question']);
  });

  it('offers each agent exactly the tools of its role', () => {
    expect(toolNames(multi, 'orchestrator')).toEqual(['switch_mode', 'ask_followup_question']);
    expect(toolNames(multi, 'coder')).toEqual([...CLIENT_TOOL_NAMES, ...RUNTIME_TOOL_NAMES]);
    expect(toolNames(multi, 'architect')).toEqual(expect.arrayContaining(['read_file', 'write_file', 'list_files', 'search_in_code']));
    expect(toolNames(multi, 'architect')).not.toContain('execute_command');
    expect(toolNames(multi, 'architect')).not.toContain('create_directory');
    expect(toolNames(multi, 'debug')).toEqual(expect.arrayContaining(['read_file', 'execute_command', 'attempt_completion']));
    for (const type of ['debug', 'ask']) {
      expect(toolNames(multi, type)).not.toContain('write_file');
      expect(toolNames(multi, type)).not.toContain('create_directory');
    }
    expect(toolNames(multi, 'ask')).not.toContain('execute_command');
    expect(multi.get('architect')?.restrictions).toEqual({ write_file: { pathGlobs: ['**/*.md'] } });
  });

  it('limits switch_mode to the agents each one may hand over to', () => {
    expect(multi.switchTargets('orchestrator')).toEqual(['coder', 'architect', 'debug', 'ask']);
    expect(multi.switchTargets('debug')).toEqual(['orchestrator', 'coder', 'architect', 'ask']);
    expect(multi.switchTargets('nobody')).toEqual([]);
    const debugSwitch = multi.toolSpecsFor('debug').find((spec) => spec.function.name === 'switch_mode');
    expect(debugSwitch?.function.parameters.properties.agent.enum).toEqual(['orchestrator', 'coder', 'architect', 'ask']);
    // The shared spec is not changed by the per-agent copies.
    expect(TOOL_SPECS.switch_mode.function.parameters.properties.agent.enum).toEqual([
      'orchestrator',
      'coder',
      'architect',
      'debug',
      'ask',
    ]);
  });

  it('describes tools as strict OpenAI function specs, split into client-run and runtime-run', () => {
    for (const spec of Object.values(TOOL_SPECS)) {
      expect(spec.type).toBe('function');
      expect(spec.function.parameters.additionalProperties).toBe(false);
      expect(spec.function.description.length).toBeGreaterThan(10);
    }
    expect(TOOL_SPECS.write_file.function.parameters.required).toEqual(['path', 'content']);
    expect(isClientTool('execute_command')).toBe(true);
    expect(isClientTool('switch_mode')).toBe(false);
    expect(isRuntimeTool('attempt_completion')).toBe(true);
    expect(isRuntimeTool('read_file')).toBe(false);
  });

  it('gives every agent a real system prompt', () => {
    for (const agent of [...multi.list(), ...single.list()]) {
      expect(agent.systemPrompt.length).toBeGreaterThan(400);
    }
    expect(multi.get('orchestrator')?.systemPrompt).toMatch(/never do the work yourself/);
  });
});

describe('tool call check', () => {
  it('accepts a valid call and returns the parsed arguments', () => {
    expect(check.check('coder', call('write_file', { path: 'src/a.ts', content: 'x' }))).toEqual({
      ok: true,
      args: { path: 'src/a.ts', content: 'x' },
    });
    expect(check.check('ask', call('list_files', { path: '.', recursive: true })).ok).toBe(true);
    expect(check.check('debug', call('execute_command', { command: 'npm test', cwd: 'packages/api' })).ok).toBe(true);
  });

  it('refuses unknown tools and tools the agent does not have, listing what it has', () => {
    const unknown = check.check('coder', call('delete_file', { path: 'a' }));
    expect(unknown).toEqual({ ok: false, reason: expect.stringContaining('Unknown tool "delete_file"') });
    const forbidden = check.check('ask', call('write_file', { path: 'a.md', content: '' }));
    expect(forbidden).toEqual({ ok: false, reason: expect.stringMatching(/Ask agent may not use "write_file".*read_file/) });
    expect(check.check('debug', call('write_file', { path: 'a.ts', content: '' })).ok).toBe(false);
    expect(check.check('debug', call('create_directory', { path: 'x' })).ok).toBe(false);
    expect(check.check('ask', call('execute_command', { command: 'ls' })).ok).toBe(false);
    expect(check.check('orchestrator', call('read_file', { path: 'a' })).ok).toBe(false);
    expect(check.check('nobody', call('read_file', { path: 'a' }))).toEqual({ ok: false, reason: 'Unknown agent "nobody".' });
  });

  it('lets the architect write Markdown only', () => {
    expect(check.check('architect', call('write_file', { path: 'docs/design/api.md', content: '# API' })).ok).toBe(true);
    expect(check.check('architect', call('write_file', { path: 'README.md', content: '# Hi' })).ok).toBe(true);
    expect(check.check('architect', call('write_file', { path: './docs\\plan.md', content: '' })).ok).toBe(true);
    const code = check.check('architect', call('write_file', { path: 'src/main.ts', content: '' }));
    expect(code).toEqual({
      ok: false,
      reason: expect.stringMatching(/only use it on paths matching \*\*\/\*\.md, and "src\/main\.ts" does not/),
    });
    expect(check.check('architect', call('write_file', { path: 'notes.md/evil.ts', content: '' })).ok).toBe(false);
    const absolute = check.check('architect', call('write_file', { path: '/etc/motd.md', content: '' }));
    expect(absolute).toEqual({ ok: false, reason: expect.stringContaining('relative to the workspace root') });
    expect(check.check('architect', call('write_file', { path: 'C:\\notes\\a.md', content: '' })).ok).toBe(false);
    // Reading is not restricted.
    expect(check.check('architect', call('read_file', { path: 'src/main.ts' })).ok).toBe(true);
  });

  it('refuses paths that climb out of the workspace, for every tool', () => {
    const escape = check.check('coder', call('read_file', { path: '../../etc/passwd' }));
    expect(escape).toEqual({ ok: false, reason: expect.stringContaining('leads outside the workspace') });
    expect(check.check('coder', call('write_file', { path: 'src/../../x.ts', content: '' })).ok).toBe(false);
    expect(check.check('architect', call('write_file', { path: 'docs/../../x.md', content: '' })).ok).toBe(false);
    expect(check.check('debug', call('execute_command', { command: 'ls', cwd: '..' })).ok).toBe(false);
    expect(check.check('ask', call('search_in_code', { query: 'x', path: '..\\other' })).ok).toBe(false);
    // Climbing back down inside the workspace is fine.
    expect(check.check('coder', call('read_file', { path: 'src/../package.json' })).ok).toBe(true);
  });

  it('refuses arguments that are not JSON', () => {
    const bad = check.check('coder', call('read_file', '{"path": "a"'));
    expect(bad).toEqual({ ok: false, reason: expect.stringContaining('are not valid JSON') });
    expect(check.check('coder', call('read_file', 'path=a')).ok).toBe(false);
  });

  it('refuses arguments that fail the schema, naming the problem', () => {
    expect(check.check('coder', call('read_file', {}))).toEqual({
      ok: false,
      reason: 'Invalid arguments for "read_file": missing required argument "path".',
    });
    expect(check.check('coder', call('read_file', ''))).toEqual({
      ok: false,
      reason: 'Invalid arguments for "read_file": missing required argument "path".',
    });
    expect(reasonOf(check.check('coder', call('read_file', { path: 'a', mode: 'r' })))).toContain('unknown argument "mode"');
    expect(reasonOf(check.check('coder', call('list_files', { path: 'a', recursive: 'yes' })))).toContain('"recursive" must be boolean');
    expect(reasonOf(check.check('coder', call('read_file', { path: '' })))).toContain('"path" must NOT have fewer than 1 characters');
    expect(reasonOf(check.check('coder', call('read_file', { path: 'x'.repeat(5000) })))).toContain('"path" must NOT have more than 4096');
    expect(reasonOf(check.check('coder', call('read_file', '["a"]')))).toContain('send one JSON object');
    const suggestions = check.check('coder', call('ask_followup_question', { question: 'Which?', suggestions: [1] }));
    expect(reasonOf(suggestions)).toContain('"suggestions/0" must be string');
    const target = check.check('coder', call('switch_mode', { agent: 'coder', reason: 'me again' }));
    expect(reasonOf(target)).toContain('"agent" must be one of: orchestrator, architect, debug, ask');
    expect(check.check('orchestrator', call('switch_mode', { agent: 'orchestrator', reason: 'loop' })).ok).toBe(false);
    expect(check.check('orchestrator', call('switch_mode', { agent: 'debug', reason: 'a stack trace' })).ok).toBe(true);
  });

  it('validates edited approval arguments, with or without the agent', () => {
    expect(check.validateArguments('write_file', { path: 'src/a.ts', content: 'x' }).ok).toBe(true);
    expect(reasonOf(check.validateArguments('write_file', { path: 'src/a.ts' }))).toContain('missing required argument "content"');
    expect(check.validateArguments('write_file', { path: '../a.ts', content: '' }).ok).toBe(false);
    expect(reasonOf(check.validateArguments('launch_rocket', {}))).toBe('Unknown tool "launch_rocket".');
    expect(check.validateArguments('write_file', { path: 'src/a.ts', content: 'x' }, 'architect').ok).toBe(false);
    expect(check.validateArguments('write_file', { path: 'docs/a.md', content: 'x' }, 'architect').ok).toBe(true);
    expect(check.validateArguments('write_file', { path: 'a.md', content: 'x' }, 'ask').ok).toBe(false);
  });

  it('checks universal calls in single-agent mode', () => {
    const singleCheck = new ToolCallCheck(single);
    expect(singleCheck.check('universal', call('write_file', { path: 'src/a.ts', content: '' })).ok).toBe(true);
    expect(singleCheck.check('universal', call('switch_mode', { agent: 'coder', reason: 'x' })).ok).toBe(false);
    expect(singleCheck.check('coder', call('read_file', { path: 'a' })).ok).toBe(false);
  });
});

describe('workspace paths', () => {
  it('normalises separators and dot segments, and flags absolute paths', () => {
    expect(normalizeWorkspacePath('./src//a/../b.ts')).toEqual({ ok: true, path: 'src/b.ts', absolute: false });
    expect(normalizeWorkspacePath('docs\\a.md')).toEqual({ ok: true, path: 'docs/a.md', absolute: false });
    expect(normalizeWorkspacePath('.')).toEqual({ ok: true, path: '.', absolute: false });
    expect(normalizeWorkspacePath('src/')).toEqual({ ok: true, path: 'src', absolute: false });
    expect(normalizeWorkspacePath('/etc/passwd')).toMatchObject({ ok: true, absolute: true });
    expect(normalizeWorkspacePath('~/x')).toMatchObject({ ok: true, absolute: true });
    expect(normalizeWorkspacePath('D:\\x')).toMatchObject({ ok: true, absolute: true });
    expect(normalizeWorkspacePath('a/../../b')).toMatchObject({ ok: false });
    expect(normalizeWorkspacePath('a\0b')).toMatchObject({ ok: false });
    expect(normalizeWorkspacePath('  ')).toMatchObject({ ok: false });
  });
});

describe('routing', () => {
  it('asks for strict JSON naming every specialist', () => {
    const prompt = classificationPrompt(multi);
    for (const type of ['coder', 'architect', 'debug', 'ask']) expect(prompt).toContain(`- ${type}: `);
    expect(prompt).not.toContain('- orchestrator');
    expect(prompt).toContain('"confidence"');
  });

  it('parses a bare JSON classification', () => {
    expect(parseClassification('{"agent": "debug", "reason": "A stack trace.", "confidence": 0.9}', multi)).toEqual({
      agent: 'debug',
      reason: 'A stack trace.',
      confidence: 0.9,
    });
  });

  it('parses JSON in a code fence and in surrounding prose', () => {
    const fenced =
      'Here you go:\n```json\n{\n  "agent": "architect",\n  "reason": "Wants a design {with braces}",\n  "confidence": 0.7\n}\n```\nHope it helps.';
    expect(parseClassification(fenced, multi)).toEqual({ agent: 'architect', reason: 'Wants a design {with braces}', confidence: 0.7 });
    const prose = 'I think {this one} fits best: {"agent":"Ask","reason":"a question","confidence":"0.6"} - done';
    expect(parseClassification(prose, multi)).toEqual({ agent: 'ask', reason: 'a question', confidence: 0.6 });
  });

  it('fills in a missing reason or confidence and clamps an out-of-range one', () => {
    expect(parseClassification('{"agent":"coder"}', multi)).toEqual({ agent: 'coder', reason: '', confidence: 0.5 });
    expect(parseClassification('{"agent":"coder","confidence":7}', multi)?.confidence).toBe(1);
    expect(parseClassification('{"agent":"coder","confidence":-1}', multi)?.confidence).toBe(0);
  });

  it('returns undefined for garbage and for agents that are not specialists', () => {
    expect(parseClassification('', multi)).toBeUndefined();
    expect(parseClassification('coder', multi)).toBeUndefined();
    expect(parseClassification('{"agent": coder}', multi)).toBeUndefined();
    expect(parseClassification('{"agent": "coder"', multi)).toBeUndefined();
    expect(parseClassification('{"route": "coder"}', multi)).toBeUndefined();
    expect(parseClassification('["coder"]', multi)).toBeUndefined();
    expect(parseClassification('{"agent": "hacker", "reason": "x"}', multi)).toBeUndefined();
    expect(parseClassification('{"agent": "orchestrator"}', multi)).toBeUndefined();
    expect(parseClassification('{"agent": "universal"}', multi)).toBeUndefined();
    expect(parseClassification('{"agent": "coder"}', single)).toBeUndefined();
  });

  it('falls back to keywords', () => {
    expect(classifyByKeywords('I get a stack trace when I start the server').agent).toBe('debug');
    expect(classifyByKeywords('The login test is failing since yesterday').agent).toBe('debug');
    expect(classifyByKeywords('Design the architecture of the billing module').agent).toBe('architect');
    expect(classifyByKeywords('Draw a diagram of the request flow').agent).toBe('architect');
    expect(classifyByKeywords('Explain this regular expression').agent).toBe('ask');
    expect(classifyByKeywords('What is a monad?').agent).toBe('ask');
    expect(classifyByKeywords('How does the session lease work?').agent).toBe('ask');
    expect(classifyByKeywords('Implement pagination for /v1/sessions').agent).toBe('coder');
    expect(classifyByKeywords('Refactor the parser into two files').agent).toBe('coder');
    const fallback = classifyByKeywords('Pagination for sessions, please');
    expect(fallback).toEqual({ agent: 'coder', reason: expect.stringContaining('default'), confidence: 0.2 });
    const keyed = classifyByKeywords('Why does the build crash with this error?');
    expect(keyed.agent).toBe('debug');
    expect(keyed.reason).toContain('"error"');
    expect(keyed.confidence).toBeGreaterThan(0.2);
    expect(keyed.confidence).toBeLessThanOrEqual(1);
  });
});
