/**
 * Scenario 6's client, run by the load generator: N turns started at once with
 * `onDisconnect: continue` and an `Idempotency-Key`; once every stream has had `cutAfterTokens`
 * tokens, every connection is cut at the same moment; every client then reconnects and resumes
 * with `GET /v1/sessions/:id/stream` and the `Last-Event-ID` it last saw. A turn's ids are
 * consecutive, so a repeated id is an event sent twice and a skipped one an event lost.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import { openConnections, readBody } from './connections.js';
import { summarize, type ResumeCommand, type ResumeResult } from './shared.js';

interface Frame {
  id: number;
  event: string;
  data: string;
}

function parseFrame(frame: string): Frame {
  let id = NaN;
  let event = 'message';
  let data = '';
  for (const line of frame.split('\n')) {
    if (line.startsWith('id:')) id = Number(line.slice(3));
    else if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data += line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
  }
  return { id, event, data };
}

/** Sends the request on `socket` and hands every SSE frame of the answer to `onFrame`; resolves when the stream ends. */
function stream(
  socket: Socket,
  url: URL,
  options: { method: string; path: string; headers: Record<string, string | number>; body?: string },
  onFrame: (frame: Frame) => void,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: url.hostname, port: url.port, ...options, createConnection: () => socket });
    req.on('response', (res) => {
      const type = res.headers['content-type'] ?? '';
      if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        readBody(res).then(
          (text) => resolve(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`),
          (error: Error) => resolve(error.message),
        );
        return;
      }
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (text: string) => {
        pending += text;
        let start = 0;
        let end: number;
        while ((end = pending.indexOf('\n\n', start)) !== -1) {
          if (end > start) onFrame(parseFrame(pending.slice(start, end)));
          start = end + 2;
        }
        if (start > 0) pending = pending.slice(start);
      });
      res.on('close', () => resolve(undefined));
    });
    req.on('error', (error) => resolve(error.message));
    req.end(options.body);
  });
}

export async function runResume(command: ResumeCommand): Promise<ResumeResult> {
  const url = new URL(command.baseUrl);
  const n = command.sessionIds.length;
  const state = command.sessionIds.map(() => ({ lastId: 0, tokens: 0, chars: 0, done: '' }));
  const failureSamples: string[] = [];
  let failures = 0;
  const fail = (message: string) => {
    failures++;
    if (failureSamples.length < 5 && !failureSamples.includes(message)) failureSamples.push(message);
  };
  let duplicated = 0;
  let lost = 0;
  let tokensBeforeCut = 0;
  let tokensAfterCut = 0;
  const track = (i: number, frame: Frame, afterCut: boolean) => {
    const s = state[i];
    if (frame.id <= s.lastId) duplicated++;
    else if (s.lastId && frame.id > s.lastId + 1) lost += frame.id - s.lastId - 1;
    if (frame.id <= s.lastId) return;
    s.lastId = frame.id;
    if (frame.event === 'token') {
      s.tokens++;
      s.chars += ((JSON.parse(frame.data) as { delta?: string }).delta ?? '').length;
      if (afterCut) tokensAfterCut++;
      else tokensBeforeCut++;
    } else if (frame.event === 'done') {
      s.done = (JSON.parse(frame.data) as { status: string }).status;
    }
  };

  const startedAt = performance.now();
  let cutAt = 0;
  let ready = 0;
  let cut!: () => void;
  const everyStreamReady = new Promise<void>((resolve) => (cut = resolve));
  const first = await openConnections(url, n, command.connectConcurrency, command.sourceAddresses);
  const body = JSON.stringify({ content: command.content, onDisconnect: 'continue' });
  const firstLegs = command.sessionIds.map((sessionId, i) =>
    stream(
      first[i],
      url,
      {
        method: 'POST',
        path: `/v1/sessions/${sessionId}/messages`,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'idempotency-key': randomUUID() },
        body,
      },
      (frame) => {
        if (cutAt) return;
        track(i, frame, false);
        if (frame.event === 'token' && state[i].tokens === command.cutAfterTokens && ++ready === n) cut();
      },
    ),
  );
  const watchdog = setTimeout(() => {
    for (const s of first) s.destroy();
  }, command.timeoutMs);
  let timedOut = false;
  await Promise.race([everyStreamReady, Promise.all(firstLegs).then(() => (timedOut = ready < n))]);
  cutAt = performance.now();
  for (const socket of first) socket.destroy();
  if (timedOut) fail(`only ${ready} of ${n} streams had ${command.cutAfterTokens} tokens before the time limit`);

  const resumeMs: number[] = [];
  let allResumedMs: number | null = null;
  const resumed = () => {
    resumeMs.push(performance.now() - cutAt);
    if (resumeMs.length === n) {
      allResumedMs = performance.now() - cutAt;
      void fetch(command.releaseUrl, { method: 'POST' }).then((r) => r.arrayBuffer());
    }
  };
  const again = await openConnections(url, n, command.connectConcurrency, command.sourceAddresses);
  const secondWatchdog = setTimeout(() => {
    timedOut = true;
    for (const s of again) s.destroy();
  }, command.timeoutMs);
  const problems = await Promise.all(
    command.sessionIds.map((sessionId, i) => {
      let resumedYet = false;
      return stream(
        again[i],
        url,
        {
          method: 'GET',
          path: `/v1/sessions/${sessionId}/stream`,
          headers: { accept: 'text/event-stream', 'last-event-id': String(state[i].lastId) },
        },
        (frame) => {
          if (!resumedYet) {
            resumedYet = true;
            resumed();
          }
          track(i, frame, true);
        },
      );
    }),
  );
  clearTimeout(watchdog);
  clearTimeout(secondWatchdog);
  for (const socket of again) socket.destroy();
  problems.forEach((problem, i) => {
    if (problem) fail(problem);
    else if (state[i].done !== 'completed') fail(`a resumed stream ended with ${state[i].done || 'no done'}`);
  });
  if (resumeMs.length < n) void fetch(command.releaseUrl, { method: 'POST' }).then((r) => r.arrayBuffer());
  return {
    streams: n,
    completed: state.filter((s) => s.done === 'completed').length,
    duplicated,
    lost,
    failures,
    failureSamples,
    resumeMs: summarize(resumeMs),
    allResumedMs,
    cutAtMs: cutAt - startedAt,
    tokensBeforeCut,
    tokensAfterCut,
    charsBySession: Object.fromEntries(command.sessionIds.map((id, i) => [id, state[i].chars])),
    timedOut,
  };
}
