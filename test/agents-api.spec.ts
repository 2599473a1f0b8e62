import { expect } from 'expect';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { startApp, TestApp } from './support/app.js';

describe('GET /v1/agents', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  it('lists the team with tools and restrictions', async () => {
    const res = await request(t.baseUrl).get('/v1/agents').expect(200);
    expect(res.body.items.map((agent: { type: string }) => agent.type)).toEqual(['orchestrator', 'coder', 'architect', 'debug', 'ask']);
    const byType = Object.fromEntries(res.body.items.map((agent: { type: string }) => [agent.type, agent]));
    expect(byType.orchestrator).toEqual({
      type: 'orchestrator',
      name: 'Orchestrator',
      description: expect.any(String),
      tools: ['switch_mode', 'ask_followup_question'],
      restrictions: {},
    });
    expect(byType.architect.restrictions).toEqual({ write_file: { pathGlobs: ['**/*.md'] } });
    expect(byType.debug.tools).toContain('execute_command');
    expect(byType.debug.tools).not.toContain('write_file');
    expect(byType.ask.tools).not.toContain('execute_command');
    // Prompts are internal; the listing does not leak them.
    expect(byType.coder.systemPrompt).toBeUndefined();
    expect(byType.coder.role).toBeUndefined();
  });

  it('is documented in the OpenAPI document', async () => {
    const doc = await request(t.baseUrl).get('/docs-json').expect(200);
    const operation = doc.body.paths['/v1/agents'].get;
    expect(operation.tags).toEqual(['agents']);
    expect(operation.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/AgentListDto');
    expect(Object.keys(doc.body.components.schemas)).toEqual(expect.arrayContaining(['AgentListDto', 'AgentDto', 'ToolRestrictionDto']));
    expect(doc.body.components.schemas.AgentDto.properties.restrictions.additionalProperties).toEqual({
      $ref: '#/components/schemas/ToolRestrictionDto',
    });
  });
});

describe('GET /v1/agents in single-agent mode', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ MULTI_AGENT_MODE: 'false' });
  });
  after(() => t.close());

  it('lists only the universal agent, with every client tool', async () => {
    const res = await request(t.baseUrl).get('/v1/agents').expect(200);
    expect(res.body.items).toHaveLength(1);
    expect(res.body.items[0]).toMatchObject({ type: 'universal', restrictions: {} });
    expect(res.body.items[0].tools).toEqual(
      expect.arrayContaining(['read_file', 'write_file', 'list_files', 'create_directory', 'execute_command', 'search_in_code']),
    );
    expect(res.body.items[0].tools).not.toContain('switch_mode');
  });
});
