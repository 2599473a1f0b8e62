import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DomainError } from '../common/domain-error.js';
import { IdempotencyClaim, IdempotencyKeys } from '../idempotency/idempotency-keys.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';
import { SessionPage, SessionView } from './session.dto.js';

const TITLE_FROM_MESSAGE = 80;

export function sessionNotFound(id: string): DomainError {
  return new DomainError('session_not_found', `session ${id} not found`);
}

export function sessionBusy(id: string): DomainError {
  return new DomainError('session_busy', `session ${id} is running a turn; wait for its done event or cancel it`);
}

interface SessionRow {
  id: string;
  title: string | null;
  current_agent: string;
  message_count: number;
  busy: boolean;
  created_at: Date;
  updated_at: Date;
  last_activity_at: Date;
  cursor_at: string;
}

const SELECT_SESSION = `
  SELECT s.id, s.title, s.current_agent, s.message_count,
         (s.active_turn_id IS NOT NULL AND s.lease_expires_at > now()) AS busy,
         s.created_at, s.updated_at, s.last_activity_at, s.last_activity_at::text AS cursor_at
  FROM sessions s`;

function toView(row: SessionRow): SessionView {
  return {
    id: row.id,
    title: row.title,
    currentAgent: row.current_agent,
    status: row.busy ? 'busy' : 'idle',
    messageCount: Number(row.message_count),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastActivityAt: row.last_activity_at,
  };
}

function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url');
}

/** `timestamptz::text` as PostgreSQL prints it, e.g. `2025-01-31 12:00:00.123456+00`; group 1 is the day. */
const CURSOR_TIME =
  /^([1-9]\d{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])) (?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?[+-](?:0\d|1[0-5])(?::[0-5]\d){0,2}$/;
const CURSOR_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Only what PostgreSQL will accept: a forged cursor is a 400, never a query error. */
function decodeCursor(cursor: string): { at: string; id: string } | undefined {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const day = CURSOR_TIME.exec(at ?? '')?.[1];
  // Date rolls 31 April over to 1 May; PostgreSQL refuses it.
  if (!day || new Date(`${day}T00:00:00Z`).toISOString().slice(0, 10) !== day || !CURSOR_ID.test(id ?? '')) return undefined;
  return { at, id };
}

/** A title from the first user message: trimmed, one line, at most 80 characters. */
export function titleFrom(content: string): string {
  const line = content.replace(/\s+/g, ' ').trim();
  return line.length <= TITLE_FROM_MESSAGE ? line : `${line.slice(0, TITLE_FROM_MESSAGE - 1).trimEnd()}…`;
}

/** Sessions: create, read, list, rename, soft delete — always within one owner. */
@Injectable()
export class SessionsService {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly keys: IdempotencyKeys,
  ) {}

  async create(owner: string, input: { title?: string; agent: string }): Promise<SessionView> {
    return this.txHost.statement('create_session', () => this.insert(owner, input));
  }

  /**
   * `create` under an `Idempotency-Key`: the key is claimed in the transaction that creates the
   * session, so repeats (concurrent ones too) get the session the first request made.
   */
  async createOnce(
    owner: string,
    input: { title?: string; agent: string },
    claim: IdempotencyClaim,
  ): Promise<{ session: SessionView; repeated: boolean }> {
    const earlier = await this.keys.find(owner, claim);
    if (earlier) return { session: await this.get(owner, earlier.sessionId), repeated: true };
    const id = randomUUID();
    const created = await this.txHost.transaction('create_session', async () =>
      (await this.keys.claim(owner, claim, { sessionId: id, turnId: null })) ? this.insert(owner, input, id) : undefined,
    );
    if (created) return { session: created, repeated: false };
    const first = await this.keys.find(owner, claim);
    if (!first) throw new Error('an idempotency key claimed by nobody');
    return { session: await this.get(owner, first.sessionId), repeated: true };
  }

  private async insert(owner: string, input: { title?: string; agent: string }, id: string = randomUUID()): Promise<SessionView> {
    const [row]: SessionRow[] = await this.txHost.tx.query(
      `INSERT INTO sessions (id, owner, title, current_agent) VALUES ($1, $2, $3, $4)
       RETURNING id, title, current_agent, message_count, false AS busy, created_at, updated_at, last_activity_at,
                 last_activity_at::text AS cursor_at`,
      [id, owner, input.title?.trim() || null, input.agent],
    );
    return toView(row);
  }

  /**
   * The owner's session `id`, created on first use: AG-UI clients name their threads. Another
   * owner's or a deleted session stays 404 (the INSERT does nothing when the id exists).
   */
  async open(owner: string, id: string, agent: string): Promise<SessionView> {
    try {
      return await this.get(owner, id);
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'session_not_found')) throw error;
    }
    await this.txHost.statement('create_session', () =>
      this.txHost.tx.query(`INSERT INTO sessions (id, owner, current_agent) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`, [
        id,
        owner,
        agent,
      ]),
    );
    return this.get(owner, id);
  }

  async get(owner: string, id: string): Promise<SessionView> {
    const rows: SessionRow[] = await this.txHost.tx.query(`${SELECT_SESSION} WHERE s.id = $1 AND s.owner = $2 AND s.deleted_at IS NULL`, [
      id,
      owner,
    ]);
    if (!rows[0]) throw sessionNotFound(id);
    return toView(rows[0]);
  }

  /** Newest activity first, by keyset: a page never repeats or skips a session that did not move. */
  async list(owner: string, limit = 20, cursor?: string): Promise<SessionPage> {
    const after = cursor ? decodeCursor(cursor) : undefined;
    if (cursor && !after) throw new DomainError('bad_cursor', 'cursor is not a cursor returned by this API');
    const params: unknown[] = [owner, limit + 1];
    let where = 's.owner = $1 AND s.deleted_at IS NULL';
    if (after) {
      params.push(after.at, after.id);
      where += ' AND (s.last_activity_at, s.id) < ($3::timestamptz, $4::uuid)';
    }
    const rows: SessionRow[] = await this.txHost.tx.query(
      `${SELECT_SESSION} WHERE ${where} ORDER BY s.last_activity_at DESC, s.id DESC LIMIT $2`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(toView), nextCursor: rows.length > limit && last ? encodeCursor(last.cursor_at, last.id) : null };
  }

  async rename(owner: string, id: string, title: string): Promise<SessionView> {
    const [rows] = await this.txHost.transaction('rename_session', () =>
      this.txHost.tx.query(
        `UPDATE sessions SET title = $3, updated_at = now() WHERE id = $1 AND owner = $2 AND deleted_at IS NULL RETURNING id`,
        [id, owner, title.trim()],
      ),
    );
    if (!rows?.length) throw sessionNotFound(id);
    return this.get(owner, id);
  }

  async softDelete(owner: string, id: string): Promise<void> {
    const [rows] = await this.txHost.transaction('delete_session', () =>
      this.txHost.tx.query(
        `UPDATE sessions SET deleted_at = now(), updated_at = now() WHERE id = $1 AND owner = $2 AND deleted_at IS NULL RETURNING id`,
        [id, owner],
      ),
    );
    if (!rows?.length) throw sessionNotFound(id);
  }
}
