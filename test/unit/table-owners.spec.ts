import { expect } from 'expect';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Each table and the one module whose code alone writes it (docs/ARCHITECTURE.md). */
const OWNERS: Record<string, string> = {
  sessions: 'sessions',
  agent_switches: 'sessions',
  messages: 'messages',
  approvals: 'approvals',
  turns: 'turns',
  turn_events: 'turns',
  idempotency_keys: 'idempotency',
  rate_limit_hits: 'auth',
};
const ENTITY_TABLES: Record<string, string> = {
  SessionEntity: 'sessions',
  AgentSwitchEntity: 'agent_switches',
  MessageEntity: 'messages',
  ApprovalEntity: 'approvals',
  TurnEntity: 'turns',
  TurnEventRowEntity: 'turn_events',
  IdempotencyKeyEntity: 'idempotency_keys',
  RateLimitHitEntity: 'rate_limit_hits',
};

// The compiled test runs from dist/test/unit; the sources are read, not the build.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const src = join(root, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every write in the sources: raw SQL (INSERT, UPDATE, DELETE) and entity-API calls, with the module it is in. */
function writes(): Array<{ table: string; module: string; file: string }> {
  const found: Array<{ table: string; module: string; file: string }> = [];
  for (const file of sources(src)) {
    // Prose in comments may say UPDATE too.
    const text = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    const path = relative(src, file);
    const module = path.split('/')[0];
    for (const match of text.matchAll(/\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([a-z_]+)\b/g)) {
      found.push({ table: match[1], module, file: path });
    }
    for (const match of text.matchAll(/\.(?:insert|update|delete|save|upsert|softDelete|remove)\(\s*(\w+Entity)\b/g)) {
      found.push({ table: ENTITY_TABLES[match[1]] ?? match[1], module, file: path });
    }
  }
  return found;
}

describe('table ownership', () => {
  const all = writes();

  it('finds the writes it checks (the scan itself works)', () => {
    for (const table of Object.keys(OWNERS)) expect(all.some((w) => w.table === table)).toBe(true);
  });

  it('lets only the owning module write each table', () => {
    const strays = all.filter((w) => OWNERS[w.table] !== undefined && OWNERS[w.table] !== w.module);
    expect(strays).toEqual([]);
  });

  it('knows the owner of every table written', () => {
    // A new table: add it to OWNERS here and to the table of owners in docs/ARCHITECTURE.md.
    const unowned = all.filter((w) => OWNERS[w.table] === undefined);
    expect(unowned).toEqual([]);
  });
});
