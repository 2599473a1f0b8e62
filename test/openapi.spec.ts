import { expect } from 'expect';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import ts from 'typescript';
import { startApp, TestApp } from './support/app.js';

const KEY = 'openapi-3c9e1f2a7b6d4e5f8a9b0c1d2e3f4a5b';

interface Operation {
  summary?: string;
  security?: Array<Record<string, string[]>>;
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
}
type Document = { paths: Record<string, Record<string, Operation>> };

async function servedDocument(t: TestApp): Promise<Document> {
  const res = await fetch(`${t.baseUrl}/docs-json`);
  expect(res.status).toBe(200);
  return (await res.json()) as Document;
}

function operations(doc: Document): Array<{ method: string; path: string; operation: Operation }> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ method, path, operation })),
  );
}

/** The type errors of one TypeScript module, compiled in memory against the standard library only. */
function typeErrors(source: string): string[] {
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, lib: ['lib.es2022.d.ts'], types: [] };
  const file = '/probe/api.ts';
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version) => (name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version));
  const program = ts.createProgram([file], options, host);
  // Each error with the line it is on, so that a failure names what does not type-check.
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.text.split('\n')[d.file.getLineAndCharacterOfPosition(d.start).line].trim() : '';
    return `${ts.flattenDiagnosticMessageText(d.messageText, '\n')} at: ${line}`;
  });
}

/** Uses the generated types as a client would: every event by name, its data narrowed on `event`. */
const CLIENT = `
type Streamed<Operation> = Operation extends { responses: { 200: { content: { 'text/event-stream': infer E } } } } ? E : never;
type TurnEvent = Streamed<paths['/v1/sessions/{id}/messages']['post']>;
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
export const sameOnEveryRoute: [boolean, boolean] = [
  true satisfies Same<TurnEvent, Streamed<paths['/v1/sessions/{id}/tool-results']['post']>>,
  true satisfies Same<TurnEvent, Streamed<paths['/v1/sessions/{id}/approvals/{approvalId}']['post']>>,
];
export const names: Record<TurnEvent['event'], true> = {
  turn: true, agent_switched: true, token: true, reasoning: true, message: true,
  tool_call: true, approval_required: true, error: true, done: true,
};
type Done = Extract<TurnEvent, { event: 'done' }>['data'];
export const statuses: Record<Done['status'], true> = {
  completed: true, awaiting_tool_result: true, awaiting_approval: true, cancelled: true, interrupted: true, failed: true,
};
export function describeEvent(e: TurnEvent): string {
  switch (e.event) {
    case 'turn': return e.id + e.data.turnId + e.data.sessionId + e.data.agent;
    case 'agent_switched': return e.data.from + e.data.to + e.data.reason;
    case 'token': return e.data.delta;
    case 'reasoning': return e.data.delta;
    case 'message': return e.data.message.id + e.data.message.role + (e.data.message.content ?? '');
    case 'tool_call': return e.data.toolCallId + e.data.name + JSON.stringify(e.data.arguments);
    case 'approval_required': return e.data.approvalId + e.data.toolCallId + e.data.name + e.data.reason + e.data.expiresAt;
    case 'error': return e.data.code + e.data.message;
    case 'done': return e.data.turnId + e.data.status + (e.data.usage?.totalTokens ?? '');
  }
}
export const refused: components['schemas']['ErrorBody'] = {
  statusCode: 400, code: 'invalid_input', message: 'content must not be blank', details: [{ field: 'content', message: 'must not be blank' }],
};
`;

describe('the OpenAPI document', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ API_KEYS: `${KEY}:alice` });
  });
  after(() => t?.close());

  it('gives the stream routes event types that openapi-typescript generates', async () => {
    const generated = astToString(await openapiTS((await servedDocument(t)) as unknown as OpenAPI3));
    expect(typeErrors(generated + CLIENT)).toEqual([]);
    // The probe can fail: an event whose data does not match its name is refused.
    const wrong = `${generated}${CLIENT}\nexport const wrong: TurnEvent = { id: '1', event: 'token', data: { text: 'hi' } };`;
    expect(typeErrors(wrong).join('\n')).toContain("'text' does not exist");
  });

  it('locks exactly the routes the service locks, and lists 401 on them', async () => {
    const doc = await servedDocument(t);
    const all = operations(doc);
    expect(all.length).toBeGreaterThanOrEqual(17);
    for (const { method, path, operation } of all) {
      const url = path.replace(/\{[^}]+\}/g, () => randomUUID());
      const res = await fetch(`${t.baseUrl}${url}`, { method: method.toUpperCase() });
      await res.body?.cancel();
      const locked = (operation.security ?? []).length > 0;
      expect({ method, path, status: res.status === 401 ? 401 : 'served', documented: '401' in operation.responses }).toEqual({
        method,
        path,
        status: locked ? 401 : 'served',
        documented: locked,
      });
    }
    expect(all.filter(({ operation }) => operation.security?.length === 0).map(({ path }) => path)).toEqual([
      '/health/live',
      '/health/ready',
      '/metrics',
    ]);
  });

  it('has a summary on every operation and the error body on every error', async () => {
    for (const { method, path, operation } of operations(await servedDocument(t))) {
      expect({ method, path, summary: typeof operation.summary }).toEqual({ method, path, summary: 'string' });
      for (const [status, response] of Object.entries(operation.responses)) {
        // The health checks answer 503 with Terminus's report of each check instead.
        if (Number(status) < 400 || path.startsWith('/health/')) continue;
        expect({ path, status, schema: response.content?.['application/json'].schema.$ref }).toEqual({
          path,
          status,
          schema: '#/components/schemas/ErrorBody',
        });
      }
    }
  });
});

describe('the OpenAPI document with METRICS_PUBLIC=false', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ API_KEYS: `${KEY}:alice`, METRICS_PUBLIC: 'false' });
  });
  after(() => t?.close());

  it('locks /metrics, as the service does', async () => {
    const metrics = (await servedDocument(t)).paths['/metrics'].get;
    expect(metrics.security).toEqual([{ apiKey: [] }]);
    expect(Object.keys(metrics.responses)).toContain('401');
    expect((await fetch(`${t.baseUrl}/metrics`)).status).toBe(401);
  });
});
