import type { DataSourceOptions } from 'typeorm';
import { migrations } from '../../migrations/index.js';
import { entities } from './entities.js';

/** The one definition of the DataSource, shared by the app, the tests and the TypeORM CLI (`ormconfig.ts`). */
export function dataSourceOptions(url: string, poolSize: number): DataSourceOptions {
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
    // pg applies this to waiting for a pooled connection too: under a burst of turns that wait is legitimate.
    connectTimeoutMS: 30_000,
    extra: { idleTimeoutMillis: 30_000 },
  };
}
