/**
 * The TypeORM CLI's DataSource (`npm run migration:*`), built from the same options as the app.
 * With DATABASE_URL unset it starts the embedded PostgreSQL under DATA_DIR and stops it on exit.
 */
import 'reflect-metadata';
import 'dotenv/config';
import { resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { loadSettings } from './src/config/load-settings.js';
import { dataSourceOptions } from './src/database/data-source-options.js';
import { EmbeddedDatabase } from './src/database/embedded-postgres.js';

const settings = loadSettings(process.env);
let url = settings.DATABASE_URL;
if (!url) {
  const embedded = await EmbeddedDatabase.start({ dataDir: resolve(settings.DATA_DIR, 'pg') });
  url = embedded.url;
}

export default new DataSource(dataSourceOptions(url, 2));
