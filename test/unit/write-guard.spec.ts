import { expect } from 'expect';
import { describe, it } from 'node:test';
import { isWrite } from '../../src/unit-of-work/write-guard.js';

describe('telling writes from reads', () => {
  it('takes plain selects, CTE reads, SHOW and LISTEN for reads', () => {
    for (const sql of [
      'SELECT 1',
      '  select id, updated_at, deleted_at FROM sessions',
      `WITH last AS (SELECT max(seq) AS seq FROM messages) SELECT * FROM last`,
      '(SELECT 1) UNION (SELECT 2)',
      'SHOW server_version',
      'LISTEN turn_events',
      `SELECT id FROM messages WHERE content = 'please update and delete this'`,
      `SELECT 1 -- then insert nothing`,
    ]) {
      expect([sql, isWrite(sql)]).toEqual([sql, false]);
    }
  });

  it('takes any statement that changes data, locks rows or calls a writing function for a write', () => {
    for (const sql of [
      'INSERT INTO sessions (owner) VALUES ($1)',
      '/* note */ UPDATE sessions SET title = $1',
      'delete from messages',
      `WITH taken AS (UPDATE sessions SET active_turn_id = $1 RETURNING id) SELECT * FROM taken`,
      'SELECT id FROM sessions WHERE id = $1 FOR UPDATE',
      `SELECT nextval('seq')`,
      `SELECT set_config('x', 'y', false)`,
      'TRUNCATE messages',
      'CREATE TABLE x (id int)',
      'START TRANSACTION',
      `SELECT pg_notify('turn_events', $1)`,
      `NOTIFY turn_events`,
    ]) {
      expect([sql, isWrite(sql)]).toEqual([sql, true]);
    }
  });
});
