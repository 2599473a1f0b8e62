/**
 * The floor: the least a turn can cost on this stack, with no framework. A bare `node:http` server
 * that per turn inserts the user message, streams the completion from the LLM with the official
 * `openai` SDK, re-emits every delta as an SSE `token` event, inserts the assistant message and
 * writes `done` — the same database and LLM work as the service, on a `pg` Pool of the same size.
 *
 * Env: PORT, DATABASE_URL (its own database; the tables are created at start), DB_POOL_SIZE,
 * LLM_BASE_URL, LLM_API_KEY, LLM_MODEL. `GET /stats` answers (and forgets) the durations of the
 * message inserts, pool wait included, to set beside the service's micro-transaction metrics.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { summarize } from './shared.js';

const BODY_LIMIT = 1024 * 1024;
const MESSAGES_ROUTE = /^\/v1\/sessions\/([0-9a-f-]{36})\/messages$/;
const FOREIGN_KEY_VIOLATION = '23503';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DB_POOL_SIZE ?? 10) });
const llm = new OpenAI({ baseURL: process.env.LLM_BASE_URL, apiKey: process.env.LLM_API_KEY ?? 'bench', timeout: 120_000 });
const model = process.env.LLM_MODEL ?? 'bench';

await pool.query(`
  CREATE TABLE IF NOT EXISTS floor_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS floor_messages (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq bigint GENERATED ALWAYS AS IDENTITY,
    session_id uuid NOT NULL REFERENCES floor_sessions (id) ON DELETE CASCADE,
    role varchar(20) NOT NULL,
    content text,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX IF NOT EXISTS floor_messages_session_seq ON floor_messages (session_id, seq);
`);

let insertMs: number[] = [];

async function insertMessage(sessionId: string, role: 'user' | 'assistant', content: string): Promise<void> {
  const started = performance.now();
  await pool.query('INSERT INTO floor_messages (session_id, role, content) VALUES ($1, $2, $3)', [sessionId, role, content]);
  insertMs.push(performance.now() - started);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (part: Buffer) => {
      size += part.length;
      if (size > BODY_LIMIT) req.destroy(new Error('body too large'));
      else parts.push(part);
    });
    req.on('end', () => {
      try {
        const body: unknown = size ? JSON.parse(Buffer.concat(parts).toString('utf8')) : {};
        resolve(body && typeof body === 'object' ? (body as Record<string, unknown>) : {});
      } catch (error) {
        reject(error);
      }
    });
    req.on('error', reject);
  });
}

async function createSession(res: ServerResponse): Promise<void> {
  const { rows } = await pool.query<{ id: string; created_at: Date }>('INSERT INTO floor_sessions DEFAULT VALUES RETURNING id, created_at');
  json(res, 201, { id: rows[0].id, createdAt: rows[0].created_at });
}

async function runTurn(res: ServerResponse, sessionId: string, content: string): Promise<void> {
  try {
    await insertMessage(sessionId, 'user', content);
  } catch (error) {
    if ((error as { code?: string }).code === FOREIGN_KEY_VIOLATION)
      return json(res, 404, { code: 'not_found', message: 'session not found' });
    throw error;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  // A client that goes away stops the LLM request.
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  let eventId = 0;
  let text = '';
  try {
    const stream = await llm.chat.completions.create(
      { model, messages: [{ role: 'user', content }], stream: true, stream_options: { include_usage: true } },
      { signal: abort.signal },
    );
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.content;
      if (!delta) continue;
      text += delta;
      res.write(`id: ${++eventId}\nevent: token\ndata: ${JSON.stringify({ delta })}\n\n`);
    }
    await insertMessage(sessionId, 'assistant', text);
    res.end(`id: ${++eventId}\nevent: done\ndata: {"status":"completed"}\n\n`);
  } catch (error) {
    if (res.writableEnded || res.destroyed) return;
    const message = JSON.stringify({ code: 'llm_error', message: (error as Error).message });
    res.end(`id: ${++eventId}\nevent: error\ndata: ${message}\n\nid: ${++eventId}\nevent: done\ndata: {"status":"failed"}\n\n`);
  }
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/health') return json(res, 200, { status: 'ok' });
  if (req.method === 'GET' && url === '/stats') {
    const inserts = summarize(insertMs);
    insertMs = [];
    return json(res, 200, { insertMs: inserts });
  }
  if (req.method === 'POST' && url === '/v1/sessions') {
    await readJson(req);
    return createSession(res);
  }
  const turn = req.method === 'POST' ? MESSAGES_ROUTE.exec(url) : null;
  if (turn) {
    const body = await readJson(req);
    if (typeof body.content !== 'string' || body.content.length === 0) {
      return json(res, 400, { code: 'validation', message: 'content must be a non-empty string' });
    }
    return runTurn(res, turn[1], body.content);
  }
  json(res, 404, { code: 'not_found', message: 'no such route' });
}

const server = createServer((req, res) => {
  route(req, res).catch((error: unknown) => {
    if (!res.headersSent) json(res, 500, { code: 'internal', message: (error as Error).message });
    else res.destroy();
  });
});
server.listen(Number(process.env.PORT ?? 0), () => {
  process.stdout.write(`floor-server listening on ${JSON.stringify(server.address())}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  pool.end().finally(() => process.exit(0));
});
