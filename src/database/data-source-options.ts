import pg from 'pg';
import type { DataSourceOptions } from 'typeorm';
import { migrations } from '../../migrations/index.js';
import { entities } from './entities.js';

/**
 * pg applies the pool's `connectionTimeoutMillis` both to waiting for a pooled connection and to
 * opening one. A burst of turns may legitimately wait long for the pool, but a server that accepts
 * TCP and never answers must fail fast: the client class bounds the opening on its own.
 */
function clientWithConnectTimeout(connectTimeoutMs: number): typeof pg.Client {
  return class extends pg.Client {
    constructor(config: pg.ClientConfig) {
      super({ ...config, connectionTimeoutMillis: connectTimeoutMs });
    }
  };
}

/** The one definition of the DataSource, shared by the app, the tests and the TypeORM CLI (`ormconfig.ts`). */
export function dataSourceOptions(url: string, poolSize: number, connectTimeoutMs = 5_000): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities,
    migrations,
    migrationsTableName: 'migrations',
    uuidExtension: 'pgcrypto',
    synchronize: false,
    migrationsRun: false,
    poolSize,
    applicationName: 'agent-runtime',
    // The wait for a pooled connection; opening one is bounded by connectTimeoutMs (see above).
    connectTimeoutMS: 30_000,
    extra: { idleTimeoutMillis: 30_000, keepAlive: true, Client: clientWithConnectTimeout(connectTimeoutMs) },
  };
}
