import type { DataSource, QueryRunner } from 'typeorm';
import { NoUnitOfWorkError } from './transaction-errors.js';

const COMMENTS_AND_LITERALS = /--[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^']|'')*'/g;
/** Statements that may run without a transaction: reads, and listening for notifications (which changes no data). */
const READ = /^[\s(]*(?:select|with|show|values|table|explain|listen|unlisten)\b/i;
/** Anything in a read that would write, lock or change session state anyway. */
const WRITES =
  /\b(?:insert|update|delete|merge|truncate|copy|create|alter|drop|grant|revoke|lock|nextval|setval|set_config|pg_notify|pg_advisory_\w+)\b/i;

/** Whether `sql` may change the database (or lock rows): then it belongs in a micro-transaction. */
export function isWrite(sql: string): boolean {
  const text = sql.replace(COMMENTS_AND_LITERALS, ' ');
  return !READ.test(text) || WRITES.test(text);
}

/** A query runner the Unit of Work made for one of its micro-transactions. */
function inMicroTransaction(runner: QueryRunner): boolean {
  return typeof (runner.data as { unitOfWork?: unknown } | undefined)?.unitOfWork === 'string';
}

/**
 * Every query of `dataSource` — entity API, query builder or raw `query()` — goes through a query
 * runner; this makes each runner refuse a write unless the Unit of Work opened it for a
 * micro-transaction. Installed once migrations have run, so that schema changes pass.
 */
export function guardWrites(dataSource: DataSource): void {
  const driver = dataSource.driver;
  const create = driver.createQueryRunner.bind(driver);
  driver.createQueryRunner = (mode) => {
    const runner = create(mode);
    const query = runner.query.bind(runner);
    runner.query = ((sql: string, ...rest: unknown[]) => {
      if (!inMicroTransaction(runner) && isWrite(sql)) {
        const verb = sql.trim().split(/\s+/, 1)[0].toUpperCase();
        return Promise.reject(new NoUnitOfWorkError(`a write (${verb} …)`));
      }
      return (query as (sql: string, ...rest: unknown[]) => Promise<unknown>)(sql, ...rest);
    }) as QueryRunner['query'];
    return runner;
  };
}
