/**
 * `npm test`: one PostgreSQL server for the whole run (TEST_DATABASE_URL's, or an embedded one in a
 * temporary folder), then Node's test runner over every compiled spec, each file in its own
 * process and on its own database.
 *
 * Why not Jest: NestJS 12 is ESM-only and several Nest libraries are CommonJS that `require()` it;
 * Jest supports that only on Node 24.9+, Node 20 itself does (docs/decisions/0001-test-runner.md).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedDatabase } from '../src/database/embedded-postgres.js';

const here = dirname(fileURLToPath(import.meta.url));
/** A test that hangs fails instead of holding CI; far above the slowest test on a loaded machine. */
const TEST_TIMEOUT_MS = 600_000;

function specs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return specs(path);
    return entry.name.endsWith('.spec.js') ? [path] : [];
  });
}

async function main(): Promise<number> {
  let server: EmbeddedDatabase | undefined;
  if (!process.env.TEST_DATABASE_URL) {
    const dir = mkdtempSync(join(tmpdir(), 'agent-runtime-test-'));
    chmodSync(dir, 0o755); // as root the server runs as `postgres`, which must reach its folder
    server = await EmbeddedDatabase.start({
      dataDir: join(dir, 'pg'),
      persistent: false,
      serverSettings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: 500 },
    });
    process.env.TEST_DATABASE_URL = server.url;
  }
  const filter = process.argv.slice(2);
  const files = specs(here)
    .filter((f) => filter.length === 0 || filter.some((word) => f.includes(word)))
    .sort();
  try {
    return await new Promise<number>((resolve) => {
      const child = spawn(
        process.execPath,
        ['--test', '--test-concurrency=2', `--test-timeout=${TEST_TIMEOUT_MS}`, '--test-reporter=spec', ...files],
        {
          stdio: 'inherit',
          env: process.env,
        },
      );
      child.on('exit', (code) => resolve(code ?? 1));
    });
  } finally {
    await server?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
