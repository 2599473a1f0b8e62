import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { createTestDatabase, dropTestDatabase } from './database.js';

export interface TestApp {
  app: NestExpressApplication;
  /** `http://127.0.0.1:port` */
  baseUrl: string;
  databaseUrl: string;
  databaseName: string;
  dataSource: DataSource;
  close(): Promise<void>;
}

/** The real service on a fresh database and a free port. */
export async function startApp(env: Record<string, string> = {}, database?: { name: string; url: string }): Promise<TestApp> {
  const db = database ?? (await createTestDatabase());
  const settings = loadSettings({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    SCRIPTED_TOKEN_DELAY_MS: '0',
    ...env,
    DATABASE_URL: db.url,
  });
  const app = await createApp(settings);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  let closed = false;
  return {
    app,
    baseUrl: `http://127.0.0.1:${port}`,
    databaseUrl: db.url,
    databaseName: db.name,
    dataSource: app.get(DataSource),
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      if (!database) await dropTestDatabase(db.name);
    },
  };
}
