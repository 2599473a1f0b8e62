/**
 * OpenTelemetry traces of the real service process, sent to a local OTLP/HTTP collector: one trace
 * per turn (the request, the turn, each LLM call, each micro-transaction) with the right parents and
 * no user text, trace ids in the log lines, the last spans sent on a stop, and nothing at all when
 * OTEL_EXPORTER_OTLP_ENDPOINT is unset.
 */
import { expect } from 'expect';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { createServer as createTcpServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { loadSettings } from '../src/config/load-settings.js';
import { createSession } from './support/conversation.js';
import { createTestDatabase, dropTestDatabase } from './support/database.js';
import { LoggedService } from './support/logged-service.js';
import { OpenAiStub } from './support/openai-stub.js';
import { OtlpReceiver, ReceivedSpan, SPAN_KIND, STATUS_ERROR } from './support/otlp-receiver.js';
import { doneOf, eventsOf, eventually, postStream } from './support/sse.js';

describe('tracing', () => {
  let db: { name: string; url: string };
  let llmUrl: string;
  const stub = new OpenAiStub();
  const receiver = new OtlpReceiver();
  let collector: string;
  const services: LoggedService[] = [];
  const secret = `violet-walrus-${randomBytes(6).toString('hex')}`;
  const answer = `Walruses are ${randomBytes(6).toString('hex')} today.`;

  /** The service as an operator runs it, on its own port; resolves with its URL once it listens. */
  async function start(env: Record<string, string>): Promise<{ service: LoggedService; baseUrl: string }> {
    const service = new LoggedService({
      DATABASE_URL: db.url,
      PORT: '0',
      LOG_LEVEL: 'info',
      LLM_BASE_URL: llmUrl,
      LLM_API_KEY: 'x',
      LLM_MODEL: 'stub',
      ...env,
    });
    services.push(service);
    const listening = await service.line((l) => typeof l.url === 'string');
    return { service, baseUrl: listening.url as string };
  }

  async function stop(service: LoggedService): Promise<void> {
    service.child.kill('SIGTERM');
    await once(service.child, 'close');
  }

  /** One turn of a session whose agent is `ask` (no routing call): its id. */
  async function turn(baseUrl: string, content: string): Promise<string> {
    const session = await createSession(baseUrl, { agentType: 'ask' });
    const result = await postStream(`${baseUrl}/v1/sessions/${session}/messages`, { content });
    expect(doneOf(result).status).toBe('completed');
    return eventsOf(result, 'turn')[0].data.turnId;
  }

  /** A turn whose body arrives in two packets, the second after the service has begun on the request; resolves with the stream's text. */
  async function postInPieces(url: string, body: unknown): Promise<string> {
    const text = JSON.stringify(body);
    const req = httpRequest(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' } });
    req.write(text.slice(0, 5));
    await sleep(100);
    req.end(text.slice(5));
    const [res] = (await once(req, 'response')) as [NodeJS.ReadableStream];
    let stream = '';
    for await (const chunk of res) stream += chunk.toString();
    return stream;
  }

  const spansOfTrace = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
  const named = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

  /** The trace of a turn, once its request span (the last to end) has arrived. */
  async function traceOf(turnId: string): Promise<{ spans: ReceivedSpan[]; request: ReceivedSpan; turn: ReceivedSpan }> {
    return eventually(async () => {
      const turnSpan = receiver.spans.find((s) => s.name === 'turn' && s.attributes['turn.id'] === turnId);
      const request = turnSpan && receiver.spans.find((s) => s.spanId === turnSpan.parentSpanId);
      return request && { spans: spansOfTrace(turnSpan.traceId), request, turn: turnSpan };
    }, 15_000);
  }

  before(async () => {
    db = await createTestDatabase();
    llmUrl = await stub.start();
    collector = await receiver.start();
  });
  after(async () => {
    for (const service of services) if (service.child.exitCode === null) service.child.kill('SIGKILL');
    await receiver.close();
    await stub.close();
    await dropTestDatabase(db.name);
  });

  it('are off by default, and a bad collector URL or batch delay stops the start naming the setting', () => {
    expect(loadSettings({})).toMatchObject({
      OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
      OTEL_SERVICE_NAME: 'agent-runtime',
      OTEL_BSP_SCHEDULE_DELAY: 5000,
    });
    expect(loadSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(() => loadSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL/,
    );
    expect(() => loadSettings({ OTEL_BSP_SCHEDULE_DELAY: '1' })).toThrow(/OTEL_BSP_SCHEDULE_DELAY/);
    expect(() => loadSettings({ OTEL_SERVICE_NAME: 'agent runtime' })).toThrow(/OTEL_SERVICE_NAME/);
  });

  it('send one trace per turn: the request, the turn, its LLM call and its micro-transactions, each under its parent', async () => {
    const { service, baseUrl } = await start({ OTEL_EXPORTER_OTLP_ENDPOINT: collector, OTEL_BSP_SCHEDULE_DELAY: '50' });
    stub.reply({ text: answer, usage: { prompt: 42, completion: 7 } });
    const turnId = await turn(baseUrl, `Tell me about ${secret}.`);
    const { spans, request, turn: turnSpan } = await traceOf(turnId);

    expect(request).toMatchObject({
      name: 'POST /v1/sessions/:id/messages',
      kind: SPAN_KIND.server,
      parentSpanId: '',
      scope: 'agent-runtime/http',
      attributes: { 'http.request.method': 'POST', 'http.route': '/v1/sessions/:id/messages', 'http.response.status_code': 200 },
    });
    expect(request.resource['service.name']).toBe('agent-runtime');
    expect(turnSpan.attributes).toMatchObject({
      'turn.id': turnId,
      'turn.kind': 'message',
      'turn.agent': 'ask',
      'turn.status': 'completed',
    });
    expect(turnSpan.statusCode).not.toBe(STATUS_ERROR);

    // Admission belongs to the request; the turn's stream (its own Observable) to the turn.
    const byName = (name: string) => {
      const found = named(spans, name);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ kind: SPAN_KIND.client, attributes: { 'transaction.name': name, 'db.system.name': 'postgresql' } });
      return found[0];
    };
    expect(byName('start_turn').parentSpanId).toBe(request.spanId);
    for (const name of ['save_user_message', 'save_assistant_message', 'finish_turn'])
      expect(byName(name).parentSpanId).toBe(turnSpan.spanId);

    const llm = named(spans, 'chat stub');
    expect(llm).toHaveLength(1);
    expect(llm[0]).toMatchObject({
      kind: SPAN_KIND.client,
      parentSpanId: turnSpan.spanId,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai_compatible',
        'gen_ai.system': 'openai_compatible',
        'gen_ai.request.model': 'stub',
        'gen_ai.usage.input_tokens': 42,
        'gen_ai.usage.output_tokens': 7,
        'gen_ai.response.finish_reasons': ['stop'],
      },
    });
    expect(llm[0].statusCode).not.toBe(STATUS_ERROR);

    // Nothing else in it: background work (the lease renewal, the event writer's batches) is never part of a turn.
    expect(spans.map((s) => s.name).sort()).toEqual(
      [request.name, 'start_turn', 'turn', 'save_user_message', 'chat stub', 'save_assistant_message', 'finish_turn'].sort(),
    );
    expect(receiver.spans.filter((s) => s.parentSpanId === '').every((s) => s.kind === SPAN_KIND.server)).toBe(true);
    // Everything of the turn is in this one trace, and neither the question nor the answer is in any span.
    expect(
      receiver.spans
        .filter((s) => s.attributes['turn.id'] === turnId || s.name.startsWith('save_'))
        .every((s) => s.traceId === request.traceId),
    ).toBe(true);
    const exported = JSON.stringify(receiver.spans);
    expect(exported).not.toContain(secret);
    expect(exported).not.toContain(answer.slice(0, 20));

    // The request's log line names its trace and span.
    const logged = await service.line((l) => l.msg === 'request completed' && String(l.req?.url).endsWith('/messages'));
    expect(logged).toMatchObject({ trace_id: request.traceId, span_id: request.spanId });

    // A body that arrives after the request was taken in is read in the socket's callbacks: the request's span stays the parent.
    const session = await createSession(baseUrl, { agentType: 'ask' });
    const stream = await postInPieces(`${baseUrl}/v1/sessions/${session}/messages`, { content: 'In two pieces.' });
    const later = /"turnId":"([\w-]+)"/.exec(stream)?.[1];
    expect(stream).toContain('"status":"completed"');
    const second = await traceOf(later!);
    expect(named(second.spans, 'start_turn')[0].parentSpanId).toBe(second.request.spanId);
    await stop(service);
  });

  it("end the spans of failed LLM calls and their turn as errors, in the caller's trace", async () => {
    const { service, baseUrl } = await start({ OTEL_EXPORTER_OTLP_ENDPOINT: collector, OTEL_BSP_SCHEDULE_DELAY: '50' });
    // The orchestrator's routing call fails (routed by keywords instead, with a warning), then the agent's.
    stub.reply({ status: 400 });
    const session = await createSession(baseUrl);
    const [callerTrace, callerSpan] = [randomBytes(16).toString('hex'), randomBytes(8).toString('hex')];
    const result = await postStream(
      `${baseUrl}/v1/sessions/${session}/messages`,
      { content: 'Fix the bug in main.ts' },
      { headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` } },
    );
    expect(doneOf(result).status).toBe('failed');
    const { spans, request, turn: turnSpan } = await traceOf(eventsOf(result, 'turn')[0].data.turnId);
    expect(request).toMatchObject({ traceId: callerTrace, parentSpanId: callerSpan });
    expect(turnSpan).toMatchObject({ statusCode: STATUS_ERROR, attributes: { 'turn.status': 'failed' } });
    const llm = named(spans, 'chat stub');
    expect(llm).toHaveLength(2);
    for (const call of llm) {
      expect(call).toMatchObject({ statusCode: STATUS_ERROR, parentSpanId: turnSpan.spanId, attributes: { 'error.type': 'bad_request' } });
      expect(call.attributes['gen_ai.response.finish_reasons']).toBeUndefined();
    }
    expect(named(spans, 'switch_agent')[0]?.parentSpanId).toBe(turnSpan.spanId);

    // A line written inside the turn names the turn's span.
    const warned = await service.line((l) => l.msg === 'classification call failed; routing by keywords');
    expect(warned).toMatchObject({ trace_id: callerTrace, span_id: turnSpan.spanId });
    await stop(service);
  });

  it('send the last spans when the service stops, however long the batch would still wait', async () => {
    const { service, baseUrl } = await start({ OTEL_EXPORTER_OTLP_ENDPOINT: collector, OTEL_BSP_SCHEDULE_DELAY: '60000' });
    // A first attempt that fails and is retried: still one LLM call, which succeeded.
    let calls = 0;
    stub.respond(() => (calls++ === 0 ? { status: 503 } : { text: 'Short.' }));
    const turnId = await turn(baseUrl, 'Hi');
    await stop(service);
    const turnSpan = receiver.spans.find((s) => s.name === 'turn' && s.attributes['turn.id'] === turnId);
    expect(turnSpan).toBeDefined();
    const spans = spansOfTrace(turnSpan!.traceId);
    expect(named(spans, 'finish_turn')).toHaveLength(1);
    const llm = named(spans, 'chat stub');
    expect(llm).toHaveLength(1);
    expect(llm[0]).toMatchObject({ events: ['retry'], attributes: { 'gen_ai.response.finish_reasons': ['stop'] } });
    expect(llm[0].statusCode).not.toBe(STATUS_ERROR);
  });

  it('stop without waiting long for a collector that never answers, saying the last spans were lost', async () => {
    // Takes the connection and the request, and never answers.
    const held: Socket[] = [];
    const hung = createTcpServer((socket) => held.push(socket.on('error', () => undefined)));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    try {
      const { service, baseUrl } = await start({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(hung.address() as AddressInfo).port}`,
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      });
      stub.reply({ text: 'Lost.' });
      await turn(baseUrl, 'Hi');
      await stop(service);
      expect(service.lines.find((l) => l.msg === 'the last spans could not be sent before the stop')).toMatchObject({ boundMs: 2000 });
      expect(service.lines.some((l) => l.msg === 'stopped')).toBe(true);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => hung.close(resolve));
    }
  });

  it('send nothing and name no trace in the logs without OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const before = receiver.requests;
    // What the SDK would read by itself if it were loaded: it is not.
    const { service, baseUrl } = await start({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector}/v1/traces`,
      OTEL_BSP_SCHEDULE_DELAY: '10',
    });
    stub.reply({ text: 'Untraced.' });
    await turn(baseUrl, 'Hi');
    await stop(service);
    expect(receiver.requests).toBe(before);
    expect(service.lines.some((l) => l.msg === 'request completed')).toBe(true);
    expect(service.lines.filter((l) => 'trace_id' in l || 'span_id' in l)).toEqual([]);
    expect(service.lines.some((l) => l.msg === 'tracing on')).toBe(false);
  });
});
