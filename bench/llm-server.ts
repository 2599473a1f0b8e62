/**
 * A local OpenAI-compatible chat completions server for the benchmark: it answers
 * `POST /v1/chat/completions` with a streamed answer of a known number of tokens at a known pace,
 * so that what is measured is the service and the floor, never a real model.
 *
 *   node dist/bench/llm-server.js --port 4000 --tokens 50 --pace-ms 20
 *
 * Defaults come from `--tokens`/`--pace-ms` (or LLM_TOKENS / LLM_PACE_MS). A turn can override
 * them with a directive in its last user message, e.g. `[bench tokens=2000 pace=0]`, so one
 * server serves every scenario without restarts. Pace 0 streams as fast as the socket takes it,
 * writing many chunks per write.
 *
 * Faults for the soak: `status=500` answers that HTTP status instead of a stream, `cut=N` destroys the
 * connection after N tokens (with a pace), `tool=write_file` ends the answer with that tool call
 * (unless the last message is a tool result, which gets a plain answer).
 *
 * `hold=<gate>` (with a pace) keeps a stream going, a token per pace, until `POST /release/<gate>`
 * and it has sent its tokens: that is how many streams are held open at once however long they
 * take to start. `GET /stats` reports the size of the last prompt received.
 */
import { createServer, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { DIRECTIVE, TOKEN_WIDTH } from './shared.js';

const WORDS = [' the', ' and', ' for', ' you', ' can', ' not', ' but', ' all', ' any', ' get', ' one', ' way'];
/** Stands for the token text in a chunk template. */
const TOKEN_SLOT = '@@token@@';
/** The arguments of a `tool=` call: valid for write_file. */
const TOOL_ARGUMENTS = JSON.stringify({ path: 'soak/notes.md', content: 'written by the soak' });
/** Chunks per socket write when the pace is 0. */
const BATCH = 64;

interface StreamPlan {
  tokens: number;
  paceMs: number;
  hold?: string;
  status?: number;
  cut?: number;
  tool?: string;
}

interface ChatMessage {
  role?: string;
  content?: unknown;
}

interface ChatRequest {
  model?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  messages?: ChatMessage[];
  tools?: unknown[];
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.LLM_PORT ?? '0' },
    host: { type: 'string', default: '127.0.0.1' },
    tokens: { type: 'string', default: process.env.LLM_TOKENS ?? '20' },
    'pace-ms': { type: 'string', default: process.env.LLM_PACE_MS ?? '0' },
  },
});
const defaults: StreamPlan = { tokens: Number(values.tokens), paceMs: Number(values['pace-ms']) };

const releasedGates = new Set<string>();

const stats = {
  requests: 0,
  activeStreams: 0,
  lastPrompt: { messages: 0, bodyBytes: 0, tools: 0 },
};

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((part) => (typeof part?.text === 'string' ? part.text : '')).join('');
  }
  return '';
}

/** `[bench tokens=N pace=M]` in the last user message overrides the defaults. */
function planFor(request: ChatRequest): StreamPlan {
  const lastUser = [...(request.messages ?? [])].reverse().find((m) => m.role === 'user');
  const directive = DIRECTIVE.exec(textOf(lastUser?.content));
  const plan = { ...defaults };
  if (directive) {
    for (const [, key, value] of directive[1].matchAll(/(\w+)=([\w-]+)/g)) {
      if (key === 'tokens') plan.tokens = Number(value);
      if (key === 'pace') plan.paceMs = Number(value);
      if (key === 'hold') plan.hold = value;
      if (key === 'status') plan.status = Number(value);
      if (key === 'cut') plan.cut = Number(value);
      if (key === 'tool' && request.messages?.at(-1)?.role !== 'tool') plan.tool = value;
    }
  }
  return plan;
}

function tokenAt(index: number): string {
  return WORDS[index % WORDS.length];
}

function chunkLine(id: string, created: number, model: string, delta: object, finishReason: string | null): string {
  return `data: ${JSON.stringify({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  })}\n\n`;
}

function streamAnswer(res: ServerResponse, request: ChatRequest, promptTokens: number): void {
  const plan = planFor(request);
  const id = `chatcmpl-bench-${stats.requests}`;
  const created = Math.floor(Date.now() / 1000);
  const model = request.model ?? 'bench';
  // The chunk envelope is fixed per stream: only the token text changes.
  const [head, tail] = chunkLine(id, created, model, { content: TOKEN_SLOT }, null).split(TOKEN_SLOT);
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(chunkLine(id, created, model, { role: 'assistant', content: '' }, null));
  stats.activeStreams++;
  res.on('close', () => {
    closed = true;
    stats.activeStreams--;
    if (timer) clearTimeout(timer);
  });

  const finish = () => {
    const call = { index: 0, id: `call_${id}`, type: 'function', function: { name: plan.tool, arguments: TOOL_ARGUMENTS } };
    let last = plan.tool
      ? chunkLine(id, created, model, { tool_calls: [call] }, null) + chunkLine(id, created, model, {}, 'tool_calls')
      : chunkLine(id, created, model, {}, 'stop');
    if (request.stream_options?.include_usage) {
      last += `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [],
        usage: { prompt_tokens: promptTokens, completion_tokens: plan.tokens, total_tokens: promptTokens + plan.tokens },
      })}\n\n`;
    }
    res.end(`${last}data: [DONE]\n\n`);
  };

  if (plan.paceMs === 0) {
    const writeBatches = () => {
      while (!closed && sent < plan.tokens) {
        let batch = '';
        const end = Math.min(plan.tokens, sent + BATCH);
        for (; sent < end; sent++) batch += head + tokenAt(sent) + tail;
        if (!res.write(batch)) {
          res.once('drain', writeBatches);
          return;
        }
      }
      if (!closed) finish();
    };
    writeBatches();
    return;
  }

  // The first token comes at once, like a model with a short time to first token; then one per pace.
  const tick = () => {
    if (closed) return;
    if (sent === plan.cut) {
      res.destroy();
      return;
    }
    res.write(head + tokenAt(sent) + tail);
    sent++;
    if (sent >= plan.tokens && (!plan.hold || releasedGates.has(plan.hold))) finish();
    else timer = setTimeout(tick, plan.paceMs);
  };
  if (plan.tokens === 0) finish();
  else tick();
}

function answerWhole(res: ServerResponse, request: ChatRequest, promptTokens: number): void {
  const plan = planFor(request);
  let content = '';
  for (let i = 0; i < plan.tokens; i++) content += tokenAt(i);
  const body = JSON.stringify({
    id: `chatcmpl-bench-${stats.requests}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model ?? 'bench',
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: plan.tokens, total_tokens: promptTokens + plan.tokens },
  });
  res.writeHead(200, { 'content-type': 'application/json' }).end(body);
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/health' || req.url === '/stats')) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    return;
  }
  const release = req.method === 'POST' ? /^\/release\/([\w-]+)$/.exec(req.url ?? '') : null;
  if (release) {
    releasedGates.add(release[1]);
    res.writeHead(204).end();
    return;
  }
  if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
    return;
  }
  const parts: Buffer[] = [];
  req.on('data', (part: Buffer) => parts.push(part));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    let request: ChatRequest;
    try {
      request = JSON.parse(body.toString('utf8')) as ChatRequest;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"invalid JSON"}}');
      return;
    }
    stats.requests++;
    stats.lastPrompt = { messages: request.messages?.length ?? 0, bodyBytes: body.length, tools: request.tools?.length ?? 0 };
    const promptTokens = Math.ceil(body.length / TOKEN_WIDTH);
    const status = planFor(request).status;
    if (status) {
      res.writeHead(status, { 'content-type': 'application/json' }).end(`{"error":{"message":"bench fault ${status}"}}`);
      return;
    }
    if (request.stream) streamAnswer(res, request, promptTokens);
    else answerWhole(res, request, promptTokens);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), values.host, 4096, () => {
  const address = server.address();
  process.stdout.write(`llm-server listening on ${typeof address === 'object' && address ? address.port : values.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
