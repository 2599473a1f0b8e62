/**
 * The load generator: a child process of `bench/run.ts`, driven over IPC, so that the client work
 * does not share an event loop with the server it measures.
 *
 * A turns run either starts every turn at once — it first opens one TCP connection per turn (a
 * bounded number of connects at a time, so the accept queue of the server never overflows into SYN
 * retries), then writes every request — or ramps: at most `startConcurrency` turns waiting for their
 * first token, each connecting when its turn comes. Each SSE stream is read incrementally: frames
 * are split on blank lines, `token` frames are counted and their deltas measured, the first token
 * and `done` are timestamped. No timers and no logging per event.
 */
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { connectSocket, openConnections, readBody } from './connections.js';
import { runResume } from './resume-load.js';
import { performance } from 'node:perf_hooks';
import {
  summarize,
  TOKEN_WIDTH,
  type LoadCommand,
  type LoadReply,
  type SessionsCommand,
  type TurnsCommand,
  type TurnsResult,
} from './shared.js';

function send(reply: LoadReply): void {
  process.send?.(reply);
}

async function createSessions(command: SessionsCommand): Promise<string[]> {
  const url = new URL('/v1/sessions', command.baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: command.concurrency });
  const ids: string[] = new Array(command.count);
  let next = 0;
  const createOne = () =>
    new Promise<string>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': 2 } });
      req.on('response', (res) => {
        readBody(res).then((body) => {
          if (res.statusCode !== 201) reject(new Error(`POST /v1/sessions answered ${res.statusCode}: ${body.slice(0, 300)}`));
          else resolve((JSON.parse(body) as { id: string }).id);
        }, reject);
      });
      req.on('error', reject);
      req.end('{}');
    });
  const worker = async () => {
    while (next < command.count) {
      const index = next++;
      ids[index] = await createOne();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(command.concurrency, command.count) }, worker));
  } finally {
    agent.destroy();
  }
  return ids;
}

async function runTurns(command: TurnsCommand): Promise<TurnsResult> {
  const url = new URL(command.baseUrl);
  const n = command.sessionIds.length;
  const ramped = command.startConcurrency < n;
  // All at once: every connection is open before the first request. Ramped: each turn connects when its turn comes.
  const sockets: Socket[] = ramped ? new Array(n) : await openConnections(url, n, command.connectConcurrency, command.sourceAddresses);
  const body = JSON.stringify({ content: command.content });
  const headers = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    accept: 'text/event-stream',
  };
  const expectedChars = command.expectedTokens * TOKEN_WIDTH;

  const turnMs: number[] = [];
  const firstTokenMs: number[] = [];
  const doneStatuses: Record<string, number> = {};
  const errorCodes: Record<string, number> = {};
  const failureSamples: string[] = [];
  let completed = 0;
  let failures = 0;
  let errorEvents = 0;
  let shortStreams = 0;
  let tokenFrames = 0;
  let deltaChars = 0;
  let open = 0;
  let peakOpen = 0;
  let allOpenAtMs: number | null = null;
  let allStartedAtMs: number | null = null;
  let finished = 0;
  let started = 0;
  let lastDoneAt = 0;

  let launched = 0;
  let starting = 0;
  let notStarted = 0;
  // Counts streams that had their first token or ended; tells the runner once all have.
  const markStarted = () => {
    if (ramped) {
      starting--;
      launchMore();
    }
    if (++started === n) {
      allStartedAtMs = performance.now() - startedAt;
      send({ id: command.id, kind: 'started', elapsedMs: allStartedAtMs, open });
    }
  };

  const fail = (message: string) => {
    failures++;
    if (failureSamples.length < 5 && !failureSamples.includes(message)) failureSamples.push(message);
  };

  let resolveAll!: () => void;
  const allFinished = new Promise<void>((resolve) => (resolveAll = resolve));
  const startedAt = performance.now();

  /** A turn that never got to send its request. */
  const abandon = (message: string) => {
    notStarted++;
    fail(message);
    markStarted();
    if (++finished === n) resolveAll();
  };

  const runOne = (index: number) => {
    const socket = sockets[index];
    const t0 = performance.now();
    let streamChars = 0;
    let firstTokenAt = 0;
    let done = false;
    let completedTurn = false;
    let settled = false;
    const settle = (problem?: string) => {
      if (settled) return;
      settled = true;
      if (firstTokenAt && !done) open--;
      if (!firstTokenAt) markStarted();
      if (problem) fail(problem);
      else if (completedTurn && (command.held ? streamChars < expectedChars : streamChars !== expectedChars)) shortStreams++;
      if (++finished === n) resolveAll();
    };

    const onFrame = (frame: string) => {
      let event = 'message';
      let data = '';
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
      }
      if (event === 'token') {
        tokenFrames++;
        const delta = (JSON.parse(data) as { delta?: string }).delta ?? '';
        streamChars += delta.length;
        deltaChars += delta.length;
        if (!firstTokenAt) {
          firstTokenAt = performance.now();
          firstTokenMs.push(firstTokenAt - t0);
          if (++open > peakOpen) peakOpen = open;
          if (open === n && allOpenAtMs === null) allOpenAtMs = firstTokenAt - startedAt;
          markStarted();
        }
      } else if (event === 'done' && !done) {
        done = true;
        lastDoneAt = performance.now();
        if (firstTokenAt) open--;
        turnMs.push(lastDoneAt - t0);
        const status = (JSON.parse(data) as { status?: string }).status ?? 'none';
        doneStatuses[status] = (doneStatuses[status] ?? 0) + 1;
        if (status === 'completed') {
          completed++;
          completedTurn = true;
        }
      } else if (event === 'error') {
        errorEvents++;
        const code = (JSON.parse(data) as { code?: string }).code ?? 'none';
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
      }
    };

    const req = request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: `/v1/sessions/${command.sessionIds[index]}/messages`,
      headers,
      createConnection: () => socket,
    });
    req.on('response', (res) => {
      const type = res.headers['content-type'] ?? '';
      if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        readBody(res).then(
          (text) => settle(`HTTP ${res.statusCode} ${type}: ${text.slice(0, 200)}`),
          (error: Error) => settle(error.message),
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
          if (end > start) onFrame(pending.slice(start, end));
          start = end + 2;
        }
        if (start > 0) pending = pending.slice(start);
      });
      res.on('end', () => settle(done ? undefined : 'stream ended without done'));
      res.on('error', (error) => settle(`stream error: ${error.message}`));
      res.on('close', () => settle(done ? undefined : 'stream closed before done'));
    });
    req.on('error', (error) => settle(`request error: ${error.message}`));
    req.end(body);
  };

  let timedOut = false;
  let stopStarting = false;
  function launchMore(): void {
    while (!stopStarting && launched < n && starting < command.startConcurrency) {
      const index = launched++;
      starting++;
      connectSocket(url, index, command.sourceAddresses).then(
        (socket) => {
          sockets[index] = socket;
          runOne(index);
        },
        (error: Error) => abandon(`connect error: ${error.message}`),
      );
    }
  }
  const abandonUnstarted = (why: string) => {
    stopStarting = true;
    while (launched < n) {
      launched++;
      abandon(why);
    }
  };
  if (ramped) launchMore();
  else for (let i = 0; i < n; i++) runOne(i);

  const startLimit = setTimeout(() => abandonUnstarted('not started: the server took streams too slowly'), command.startWithinMs);
  const watchdog = setTimeout(() => {
    timedOut = true;
    for (const socket of sockets) socket?.destroy();
    abandonUnstarted('not started before the time limit');
  }, command.timeoutMs);
  await allFinished;
  clearTimeout(watchdog);
  clearTimeout(startLimit);
  for (const socket of sockets) socket?.destroy();

  return {
    turns: n,
    completed,
    doneStatuses,
    errorCodes,
    failures,
    notStarted,
    failureSamples,
    errorEvents,
    shortStreams,
    tokenFrames,
    tokensDelivered: deltaChars / TOKEN_WIDTH,
    wallMs: (lastDoneAt || performance.now()) - startedAt,
    turnMs: summarize(turnMs),
    firstTokenMs: summarize(firstTokenMs),
    peakOpen,
    allOpenAtMs,
    allStartedAtMs,
    timedOut,
  };
}

process.on('message', (command: LoadCommand) => {
  if (command.cmd === 'exit') {
    process.exit(0);
  }
  const work =
    command.cmd === 'sessions'
      ? createSessions(command).then((sessionIds): LoadReply => ({ id: command.id, kind: 'sessions', sessionIds }))
      : command.cmd === 'resume'
        ? runResume(command).then((result): LoadReply => ({ id: command.id, kind: 'resume', result }))
        : runTurns(command).then((result): LoadReply => ({ id: command.id, kind: 'turns', result }));
  work.then(send, (error: unknown) =>
    send({ id: command.id, kind: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});
// The runner going away must not leave this process behind.
process.on('disconnect', () => process.exit(0));
