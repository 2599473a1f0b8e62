/**
 * `node dist/scripts/served-openapi.js <file>`: writes the OpenAPI document the service serves at
 * `/docs-json` to <file>, for `npm run lint:openapi`. Starts the real service from the environment,
 * as `npm start` would (the embedded PostgreSQL when DATABASE_URL is unset), on a free local port.
 */
import 'dotenv/config';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/app.js';
import { loadSettings } from '../src/config/load-settings.js';

async function main(file: string | undefined): Promise<void> {
  if (!file) throw new Error('usage: served-openapi <file>');
  const app = await createApp(loadSettings({ LOG_LEVEL: 'warn', ...process.env }));
  try {
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    const key = process.env.API_KEYS?.split(',')[0].split(':')[0];
    const res = await fetch(`http://127.0.0.1:${port}/docs-json`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
    if (!res.ok) throw new Error(`/docs-json answered ${res.status}`);
    writeFileSync(file, JSON.stringify(await res.json(), null, 2));
  } finally {
    await app.close();
  }
}

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
