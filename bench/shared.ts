/** What the benchmark's processes agree on: the token shape, the turn directive and the load generator's messages. */

/** Every token of the bench LLM is four characters wide, so a client counts tokens from the text it received. */
export const TOKEN_WIDTH = 4;

/** `[bench tokens=N pace=M]` in a user message tells the bench LLM how to answer that turn. */
export const DIRECTIVE = /\[bench ([^\]]*)\]/;

/** A user message that asks the bench LLM for `tokens` tokens `paceMs` apart, held until `holdGate` is released. */
export function turnContent(tokens: number, paceMs: number, holdGate?: string): string {
  return `Please answer. [bench tokens=${tokens} pace=${paceMs}${holdGate ? ` hold=${holdGate}` : ''}]`;
}

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles. */
export function summarize(values: number[]): Summary {
  if (values.length === 0) return { count: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: sorted.length, mean: sum / sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1] };
}

export interface SessionsCommand {
  cmd: 'sessions';
  id: number;
  baseUrl: string;
  count: number;
  concurrency: number;
}

export interface TurnsCommand {
  cmd: 'turns';
  id: number;
  baseUrl: string;
  sessionIds: string[];
  content: string;
  /** Tokens each turn should deliver; a stream that delivers another number (fewer, when held) counts as short. */
  expectedTokens: number;
  /** Held streams (see the LLM's `hold=`) deliver at least `expectedTokens`. */
  held: boolean;
  /** Connections are opened before the turns start, this many at a time. */
  connectConcurrency: number;
  /** At most this many turns waiting for their first token; below the number of turns, turns start as others get theirs. */
  startConcurrency: number;
  /** Spread connections over 127.0.0.1 … 127.0.0.N so ephemeral ports never run short. */
  sourceAddresses: number;
  /** Turns not started after this long are not started at all (counted as failed). */
  startWithinMs: number;
  /** Give up (and report what did not finish) after this long. */
  timeoutMs: number;
}

/** Scenario 6: every stream cut at once, then resumed with `Last-Event-ID` (see `bench/resume-load.ts`). */
export interface ResumeCommand {
  cmd: 'resume';
  id: number;
  baseUrl: string;
  sessionIds: string[];
  /** A held turn (`hold=`), so that every stream is still running when they are cut. */
  content: string;
  /** The streams are cut once every one has had this many tokens. */
  cutAfterTokens: number;
  /** Let the held turns end (`POST /release/<gate>` of the LLM), once every stream has resumed. */
  releaseUrl: string;
  connectConcurrency: number;
  sourceAddresses: number;
  timeoutMs: number;
}

export interface ResumeResult {
  streams: number;
  /** Streams whose resumed stream ended with `done{completed}`. */
  completed: number;
  /** Events whose id came again after the cut (sent twice). */
  duplicated: number;
  /** Ids skipped after the cut: events lost. */
  lost: number;
  failures: number;
  failureSamples: string[];
  /** From the cut to the first event of the resumed stream. */
  resumeMs: Summary;
  /** From the cut to the moment every stream had resumed. */
  allResumedMs: number | null;
  /** From the first request to the cut. */
  cutAtMs: number;
  tokensBeforeCut: number;
  tokensAfterCut: number;
  /** The text each session's client received over both connections, in characters, to compare with the stored answer. */
  charsBySession: Record<string, number>;
  timedOut: boolean;
}

export type LoadCommand = SessionsCommand | TurnsCommand | ResumeCommand | { cmd: 'exit' };

export interface TurnsResult {
  turns: number;
  /** `done` with status `completed`. */
  completed: number;
  doneStatuses: Record<string, number>;
  /** `code` of the `error` events. */
  errorCodes: Record<string, number>;
  /** Responses other than 200 text/event-stream, connection errors, streams cut before `done`. */
  failures: number;
  /** Turns whose request was never sent (ramped runs: the time to start ran out; failures include them). */
  notStarted: number;
  failureSamples: string[];
  /** `event: error` frames. */
  errorEvents: number;
  /** Completed turns whose text was not exactly the expected number of tokens. */
  shortStreams: number;
  tokenFrames: number;
  tokensDelivered: number;
  /** From the first request written to the last `done`. */
  wallMs: number;
  turnMs: Summary;
  firstTokenMs: Summary;
  /** Most streams that had their first token and no `done` yet, at one moment. */
  peakOpen: number;
  /** When every stream was open at once (ms after the first request), or null. */
  allOpenAtMs: number | null;
  /** When every stream had had its first token or had ended (ms after the first request). */
  allStartedAtMs: number | null;
  timedOut: boolean;
}

export type LoadReply =
  | { id: number; kind: 'sessions'; sessionIds: string[] }
  /** Every stream has had its first token or has ended; `open` of them are open now. */
  | { id: number; kind: 'started'; elapsedMs: number; open: number }
  | { id: number; kind: 'turns'; result: TurnsResult }
  | { id: number; kind: 'resume'; result: ResumeResult }
  | { id: number; kind: 'error'; message: string };
