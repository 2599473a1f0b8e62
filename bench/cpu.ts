/**
 * Where the machine's CPU went during a measurement: the server measured, PostgreSQL, the bench's
 * helpers (LLM server, load generator) and everything else on the machine — on 2 cores a figure
 * means little without knowing who else was running.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface ProcessCpu {
  ppid: number;
  comm: string;
  ms: number;
}

export interface CpuSnapshot {
  machineBusyMs: number;
  processes: Map<number, ProcessCpu>;
}

/** CPU time of every process in ms, and of the whole machine (all cores, busy time). */
export function cpuSnapshot(): CpuSnapshot {
  const processes = new Map<number, ProcessCpu>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    processes.set(Number(entry), {
      ppid: Number(fields[1]),
      comm: stat.slice(stat.indexOf('(') + 1, close),
      ms: ((Number(fields[11]) + Number(fields[12])) / clockTicks) * 1000,
    });
  }
  const [, ...jiffies] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = jiffies;
  const machineBusyMs = ((user + nice + system + irq + softirq + steal) / clockTicks) * 1000;
  return { machineBusyMs, processes };
}

export interface CpuSplit {
  server: number;
  postgres: number;
  helpers: number;
  /** Everything on the machine that is not this benchmark (other users' work included). */
  otherProcesses: number;
}

function descendants(processes: Map<number, ProcessCpu>, root: number): Set<number> {
  const children = new Map<number, number[]>();
  for (const [pid, p] of processes) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const found = new Set<number>([root]);
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.pop()!) ?? []) {
      if (found.has(child)) continue;
      found.add(child);
      queue.push(child);
    }
  }
  return found;
}

/** CPU ms used between two snapshots, split by who used it. */
export function cpuSplit(before: CpuSnapshot, after: CpuSnapshot, serverPid: number, helperPids: number[]): CpuSplit {
  const ours = descendants(after.processes, process.pid);
  const split: CpuSplit = { server: 0, postgres: 0, helpers: 0, otherProcesses: 0 };
  let oursTotal = 0;
  for (const pid of ours) {
    const now = after.processes.get(pid)!;
    const used = now.ms - (before.processes.get(pid)?.ms ?? 0);
    oursTotal += used;
    if (pid === serverPid) split.server += used;
    else if (helperPids.includes(pid)) split.helpers += used;
    else if (now.comm === 'postgres') split.postgres += used;
  }
  split.otherProcesses = Math.max(0, after.machineBusyMs - before.machineBusyMs - oursTotal);
  return split;
}
