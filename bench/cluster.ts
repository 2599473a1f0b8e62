/**
 * `npm run bench -- --cluster`: the service scaled out on this machine, with the harness of
 * test/scale-out.spec.ts (test/support/cluster.ts): PgBouncer in transaction mode, N instances
 * (LISTEN straight to PostgreSQL), HAProxy round robin. Measures turns/s and tokens/s through one
 * instance and through three, the server-side PostgreSQL connections against the instances' pool
 * sizes, and how long the sessions of a SIGKILLed instance stay busy (the lease takeover).
 */
import { cpus } from 'node:os';
import { Cluster } from '../test/support/cluster.js';
import { writeReportSection } from './report-section.js';
import { turnContent } from './shared.js';
import { query as sql } from '../test/support/database.js';

const USERS = 100;
const LOAD_SECONDS = 20;
const TOKENS = 20;
const PACE_MS = 10;
const POOL_SIZE = 10;
const PGBOUNCER_POOL = 20;
const LEASE_SECONDS = 10;
const TAKEOVER_TURNS = 60;

export interface ClusterBenchOptions {
  serverUrl: string;
  llmBaseUrl: string;
  progress: (message: string) => void;
}

interface LoadFigures {
  instances: number;
  turns: number;
  tokens: number;
  failures: number;
  seconds: number;
  /** Most server-side connections on the database at one sample: through PgBouncer, and the direct LISTEN ones. */
  peakPooled: number;
  peakListen: number;
  /** Most clients PgBouncer had waiting for a server connection at one sample. */
  peakWaiting: number;
}

async function newSession(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (res.status !== 201) throw new Error(`POST /v1/sessions answered ${res.status}`);
  return ((await res.json()) as { id: string }).id;
}

/** One turn to its end; the number of token frames, or undefined when it did not complete. */
async function turn(baseUrl: string, sessionId: string, content: string): Promise<number | undefined> {
  const res = await fetch(`${baseUrl}/v1/sessions/${sessionId}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ content }),
  }).catch(() => undefined);
  if (!res || res.status !== 200) {
    await res?.text().catch(() => undefined);
    return undefined;
  }
  const text = await res.text().catch(() => '');
  if (!text.includes('"status":"completed"')) return undefined;
  return text.split('event: token\n').length - 1;
}

/** Samples the server-side connections of the database and PgBouncer's waiting clients, until stopped. */
function sampleConnections(cluster: Cluster, databaseUrl: string, database: string) {
  const peaks = { pooled: 0, listen: 0, waiting: 0 };
  let running = true;
  const done = (async () => {
    while (running) {
      const [row] = await sql<{ listen: number; pooled: number }>(
        databaseUrl,
        `SELECT count(*) FILTER (WHERE application_name = 'agent-runtime-listen')::int AS listen,
                count(*) FILTER (WHERE application_name <> 'agent-runtime-listen')::int AS pooled
         FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [database],
      );
      const pools = await cluster.pgbouncer.admin('SHOW POOLS');
      const pool = pools.find((p) => p.database === database);
      peaks.pooled = Math.max(peaks.pooled, row.pooled);
      peaks.listen = Math.max(peaks.listen, row.listen);
      peaks.waiting = Math.max(peaks.waiting, Number(pool?.cl_waiting ?? 0));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return peaks;
    },
  };
}

/** USERS users, each turn after turn on its own session for LOAD_SECONDS, through the balancer. */
async function load(cluster: Cluster, databaseUrl: string, database: string, instances: number): Promise<LoadFigures> {
  const sessions = await Promise.all(Array.from({ length: USERS }, () => newSession(cluster.baseUrl)));
  const content = turnContent(TOKENS, PACE_MS);
  await Promise.all(sessions.slice(0, 20).map((id) => turn(cluster.baseUrl, id, content))); // warm-up
  const sampler = sampleConnections(cluster, databaseUrl, database);
  const figures = { turns: 0, tokens: 0, failures: 0 };
  const started = Date.now();
  const until = started + LOAD_SECONDS * 1000;
  await Promise.all(
    sessions.map(async (id) => {
      while (Date.now() < until) {
        const tokens = await turn(cluster.baseUrl, id, content);
        if (tokens === undefined) figures.failures++;
        else {
          figures.turns++;
          figures.tokens += tokens;
        }
      }
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  const peaks = await sampler.stop();
  return { instances, ...figures, seconds, peakPooled: peaks.pooled, peakListen: peaks.listen, peakWaiting: peaks.waiting };
}

/**
 * Long turns through the balancer, one instance SIGKILLed mid-answer: for each session whose stream
 * broke, the time from the kill until a new turn on it is accepted (the lease ran out), polled every 100 ms.
 */
async function takeover(cluster: Cluster): Promise<{ cut: number; takeoverMs: number[] }> {
  const sessions = await Promise.all(Array.from({ length: TAKEOVER_TURNS }, () => newSession(cluster.baseUrl)));
  const long = turnContent(400, 25);
  const streams = sessions.map(async (id) => ({ id, completed: (await turn(cluster.baseUrl, id, long)) !== undefined }));
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const killedAt = Date.now();
  await cluster.kill(1);
  const cut = (await Promise.all(streams)).filter((s) => !s.completed).map((s) => s.id);
  const takeoverMs = await Promise.all(
    cut.map(async (id) => {
      for (;;) {
        if ((await turn(cluster.baseUrl, id, turnContent(1, 0))) !== undefined) return Date.now() - killedAt;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }),
  );
  return { cut: cut.length, takeoverMs: takeoverMs.sort((a, b) => a - b) };
}

export async function runClusterBench(options: ClusterBenchOptions): Promise<string> {
  const env = {
    LLM_BASE_URL: options.llmBaseUrl,
    LLM_API_KEY: 'bench',
    LLM_MODEL: 'bench',
    MULTI_AGENT_MODE: 'false',
    DB_POOL_SIZE: String(POOL_SIZE),
    RATE_LIMIT_PER_MINUTE: '100000000',
    SESSION_LEASE_SECONDS: String(LEASE_SECONDS),
  };
  const runs: LoadFigures[] = [];
  let taken: { cut: number; takeoverMs: number[] } | undefined;
  for (const instances of [1, 3]) {
    const database = `bench_cluster_${instances}_${Date.now()}`;
    await sql(options.serverUrl, `CREATE DATABASE ${database}`);
    const url = new URL(options.serverUrl);
    url.pathname = `/${database}`;
    const cluster = await Cluster.start({ databaseUrl: url.toString(), env, instances, serverPoolSize: PGBOUNCER_POOL });
    try {
      options.progress(`cluster: ${instances} instance(s), ${USERS} users for ${LOAD_SECONDS} s`);
      runs.push(await load(cluster, url.toString(), database, instances));
      if (instances === 3) {
        options.progress('cluster: SIGKILL of one instance under long turns');
        taken = await takeover(cluster);
      }
    } finally {
      await cluster.close();
      await sql(options.serverUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    }
  }
  return report(runs, taken!);
}

function report(runs: LoadFigures[], taken: { cut: number; takeoverMs: number[] }): string {
  const at = (q: number) => taken.takeoverMs[Math.min(taken.takeoverMs.length - 1, Math.ceil(q * taken.takeoverMs.length) - 1)];
  const rows = runs.map(
    (r) =>
      `| ${r.instances} | ${(r.turns / r.seconds).toFixed(1)} | ${(r.tokens / r.seconds).toFixed(0)} | ${r.failures} | ${r.instances * POOL_SIZE} | ${r.peakPooled} (PgBouncer: at most ${PGBOUNCER_POOL}) | ${r.peakListen} | ${r.peakWaiting} |`,
  );
  return [
    `${USERS} users, each sending turn after turn (${TOKENS} tokens ${PACE_MS} ms apart) on its own session for ${LOAD_SECONDS} s, through HAProxy (round robin) and PgBouncer (transaction mode, ${PGBOUNCER_POOL} server connections), DB_POOL_SIZE=${POOL_SIZE} per instance, Node ${process.version}. Every process shares this machine's ${cpus().length} cores (${cpus()[0]?.model.trim()}).`,
    '',
    '| instances | turns/s | tokens/s | failed turns | pool slots (instances × DB_POOL_SIZE) | server connections through PgBouncer, peak | direct LISTEN connections | clients waiting in PgBouncer, peak |',
    '| --------: | ------: | -------: | -----------: | ------------------------------------: | ------------------------------------------ | ------------------------: | ---------------------------------: |',
    ...rows,
    '',
    `Lease takeover: ${TAKEOVER_TURNS} long turns through the balancer, one of three instances SIGKILLed mid-answer, SESSION_LEASE_SECONDS=${LEASE_SECONDS}: ${taken.cut} streams broke; a new turn on their sessions was accepted ${at(0.5)} ms (median), ${at(1)} ms (last) after the kill.`,
  ].join('\n');
}

/** Writes the figures between their markers in BENCHMARKS.md (a section of its own at the end the first time). */
export function writeClusterReport(path: string, heading: string, markdown: string): void {
  writeReportSection(path, 'cluster', 'Scale-out', heading, markdown);
}
