/**
 * What both floors share: the least a turn can cost on this stack, with no framework. A bare
 * `node:http` server that per turn inserts the user message, streams the completion from the LLM,
 * re-emits every delta as an SSE `token` frame built by hand, inserts the assistant message and
 * writes `done` — two plain INSERTs per turn on a `pg` Pool of the service's size. The floors
 * differ only in how they read the LLM stream (`floor-bare-server.ts`, `floor-sdk-server.ts`).
 *
 * Env: PORT, DATABASE_URL (its own database; the tables are created at start), DB_POOL_SIZE,
 * LLM_BASE_URL, LLM_API_KEY, LLM_MODEL. `GET /stats` answers (and forgets) the durations of the
 * message inserts, pool wait included, to set beside the service's micro-transaction metrics.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { summarize } from './shared.js';

/** Streams one completion of `content`, handing every text delta to `onDelta`; rejects on an LLM failure. */
export type StreamCompletion = (content: string, signal: AbortSignal, onDelta: (delta: string) => void) => Promise<void>;

export const llmSettings = {
  baseUrl: process.env.LLM_BASE_URL ?? 'http://127.0.0.1:4000/v1',
  apiKey: process.env.LLM_API_KEY ?? 'bench',
  model: process.env.LLM_MODEL ?? 'bench',
};

const BODY_LIMIT = 1024 * 1024;
const MESSAGES_ROUTE = /^\/v1\/sessions\/([0-9a-f-]{36})\/messages$/;
const FOREIGN_KEY_VIOLATION = '23503';
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

const SCHEMA = `
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
`;

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

/** Creates the tables and serves the floor's routes until SIGTERM. */
export async function serveFloor(name: string, streamCompletion: StreamCompletion): Promise<void> {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DB_POOL_SIZE ?? 10) });
  await pool.query(SCHEMA);
  let insertMs: number[] = [];

  async function insertMessage(sessionId: string, role: 'user' | 'assistant', content: string): Promise<void> {
    const started = performance.now();
    await pool.query('INSERT INTO floor_messages (session_id, role, content) VALUES ($1, $2, $3)', [sessionId, role, content]);
    insertMs.push(performance.now() - started);
  }

  async function runTurn(res: ServerResponse, sessionId: string, content: string): Promise<void> {
    try {
      await insertMessage(sessionId, 'user', content);
    } catch (error) {
      if ((error as { code?: string }).code === FOREIGN_KEY_VIOLATION)
        return json(res, 404, { code: 'not_found', message: 'session not found' });
      throw error;
    }
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
    // A client that goes away stops the LLM request.
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    let eventId = 0;
    let text = '';
    try {
      await streamCompletion(content, abort.signal, (delta) => {
        text += delta;
        res.write(`id: ${++eventId}\nevent: token\ndata: {"delta":${JSON.stringify(delta)}}\n\n`);
      });
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
      const { rows } = await pool.query<{ id: string; created_at: Date }>(
        'INSERT INTO floor_sessions DEFAULT VALUES RETURNING id, created_at',
      );
      return json(res, 201, { id: rows[0].id, createdAt: rows[0].created_at });
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
    process.stdout.write(`${name} listening on ${JSON.stringify(server.address())}\n`);
  });
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    pool.end().finally(() => process.exit(0));
  });
}
