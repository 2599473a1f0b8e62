import { Global, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge } from 'prom-client';
import { resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { Settings } from '../config/settings.js';
import { guardWrites } from '../unit-of-work/write-guard.js';
import { DatabaseActivity, databaseActivityGauges } from './database-activity.js';
import { DatabaseBreaker, databaseCircuitGauge } from './database-breaker.js';
import { dataSourceOptions } from './data-source-options.js';
import { DatabaseNotifications, listenMetrics } from './database-notifications.js';
import { EmbeddedDatabase } from './embedded-postgres.js';

/** The DataSource and, when no DATABASE_URL is given, the embedded server behind it. */
export class Database implements OnApplicationShutdown {
  private static readonly logger = new Logger('Database');

  private constructor(
    readonly dataSource: DataSource,
    /** The server's address: DATABASE_URL's, or the embedded server's. */
    readonly url: string,
    private readonly embedded?: EmbeddedDatabase,
  ) {}

  static async open(settings: Settings): Promise<Database> {
    let embedded: EmbeddedDatabase | undefined;
    let url = settings.DATABASE_URL;
    if (!url) {
      const dataDir = resolve(settings.DATA_DIR, 'pg');
      embedded = await EmbeddedDatabase.start({ dataDir, log: (line) => this.logger.debug(line) });
      url = embedded.url;
      this.logger.log(`Embedded PostgreSQL on port ${embedded.port}, data in ${dataDir}`);
    }
    const dataSource = new DataSource(dataSourceOptions(url, settings.DB_POOL_SIZE, settings.DB_CONNECT_TIMEOUT_MS));
    try {
      await dataSource.initialize();
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      if (applied.length) this.logger.log(`Applied migrations: ${applied.map((m) => m.name).join(', ')}`);
      // From here on every write must run in a micro-transaction of a Unit of Work.
      guardWrites(dataSource);
    } catch (error) {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded?.stop();
      throw error;
    }
    return new Database(dataSource, url, embedded);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    await this.embedded?.stop();
  }
}

@Global()
@Module({
  providers: [
    { provide: Database, useFactory: (settings: Settings) => Database.open(settings), inject: [Settings] },
    { provide: DataSource, useFactory: (db: Database) => db.dataSource, inject: [Database] },
    ...databaseActivityGauges,
    DatabaseActivity,
    databaseCircuitGauge,
    DatabaseBreaker,
    ...listenMetrics,
    {
      provide: DatabaseNotifications,
      useFactory: (db: Database, settings: Settings, down: Gauge<string>, reconnects: Counter<string>) =>
        new DatabaseNotifications(settings.DATABASE_LISTEN_URL ?? db.url, { down, reconnects }),
      inject: [Database, Settings, getToken('db_listen_down'), getToken('db_listen_reconnects_total')],
    },
  ],
  exports: [DataSource, DatabaseBreaker, DatabaseNotifications],
})
export class DatabaseModule {}
