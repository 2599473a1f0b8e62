/** The servers the benchmark measures: the service and the two floors, each a child on a Node binary of its own. */
import { findFreePort } from '../src/database/embedded-postgres.js';
import { join } from 'node:path';
import type { Runtime } from './node-runtimes.js';
import { startNode, waitForHttp, type NodeChild } from './processes.js';
import type { TargetName } from './report-format.js';
import { turnContent } from './shared.js';

export interface Target {
  name: TargetName;
  runtime: Runtime;
  baseUrl: string;
  child: NodeChild;
  databaseUrl: string;
  messagesTable: string;
}

export type FloorName = Exclude<TargetName, 'service'>;
const FLOOR_FILES: Record<FloorName, string> = { bare: 'floor-bare-server.js', sdk: 'floor-sdk-server.js' };

export interface ServerSettings {
  logDir: string;
  /** The run's copy of the build: `dist/` and what the service reads beside it. */
  buildDir: string;
  /** The service's working directory (so no developer `.env` is picked up). */
  runDir: string;
  llmBaseUrl: string;
  poolSize: number;
  databaseUrls: Record<TargetName, string>;
  progress: (message: string) => void;
}

export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

/** Whether the service answers the two routes the bench drives, and why not. */
async function serviceRoutesProblem(baseUrl: string): Promise<string | null> {
  const created = await fetch(`${baseUrl}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const createdText = await created.text();
  if (created.status !== 201) return `POST /v1/sessions answered ${created.status}: ${createdText.slice(0, 200)}`;
  const { id } = JSON.parse(createdText) as { id: string };
  const turn = await fetch(`${baseUrl}/v1/sessions/${id}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content: turnContent(3, 0) }),
  });
  const turnText = await turn.text();
  if (turn.status !== 200 || !turnText.includes('event: done')) {
    return `POST /v1/sessions/:id/messages answered ${turn.status} ${turn.headers.get('content-type')}: ${turnText.slice(0, 300)}`;
  }
  return null;
}

export class Servers {
  /** Set when the service failed its route check: it is not started again. */
  serviceProblem: string | null = null;

  constructor(private readonly settings: ServerSettings) {}

  private llmEnv(port: number, databaseUrl: string): Record<string, string> {
    return {
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      DB_POOL_SIZE: String(this.settings.poolSize),
      LLM_BASE_URL: this.settings.llmBaseUrl,
      LLM_API_KEY: 'bench',
      LLM_MODEL: 'bench',
    };
  }

  /** `service-throughput-v24.11.1`: one log file per server, scenario and Node. */
  private childName(target: TargetName, label: string, runtime: Runtime): string {
    return `${target}-${label}${runtime.execPath === process.execPath ? '' : `-${runtime.version}`}`;
  }

  async startFloor(floor: FloorName, label: string, runtime: Runtime, nodeFlags: string[] = []): Promise<Target> {
    const port = await findFreePort();
    const databaseUrl = this.settings.databaseUrls[floor];
    const file = join(this.settings.buildDir, 'dist/bench', FLOOR_FILES[floor]);
    const child = startNode(this.childName(floor, label, runtime), [...nodeFlags, file], {
      logDir: this.settings.logDir,
      node: runtime.execPath,
      env: childEnv(this.llmEnv(port, databaseUrl)),
    });
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(`${baseUrl}/health`, child);
    return { name: floor, runtime, baseUrl, child, databaseUrl, messagesTable: 'floor_messages' };
  }

  async startService(label: string, runtime: Runtime, nodeFlags: string[] = []): Promise<Target | undefined> {
    if (this.serviceProblem) return undefined;
    const port = await findFreePort();
    const databaseUrl = this.settings.databaseUrls.service;
    const child = startNode(this.childName('service', label, runtime), [...nodeFlags, join(this.settings.buildDir, 'dist/src/main.js')], {
      logDir: this.settings.logDir,
      node: runtime.execPath,
      cwd: this.settings.runDir,
      env: childEnv({
        ...this.llmEnv(port, databaseUrl),
        LOG_LEVEL: 'warn',
        MULTI_AGENT_MODE: 'false',
        // One client stands for thousands of users here; the per-key limit would refuse most of them.
        RATE_LIMIT_PER_MINUTE: '100000000',
      }),
    });
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(`${baseUrl}/health/ready`, child);
    const problem = await serviceRoutesProblem(baseUrl);
    if (problem) {
      this.serviceProblem = `Node ${runtime.version}: ${problem}`;
      this.settings.progress(`service not measured: ${this.serviceProblem}`);
      await child.stop();
      return undefined;
    }
    return { name: 'service', runtime, baseUrl, child, databaseUrl, messagesTable: 'messages' };
  }
}
