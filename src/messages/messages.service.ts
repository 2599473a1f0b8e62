import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity.js';
import { MessageEntity, StoredToolCall } from './message.entity.js';
import { MessagePage, MessageView } from './message.dto.js';

export type NewMessage = Pick<MessageEntity, 'role' | 'content'> &
  Partial<Pick<MessageEntity, 'toolCalls' | 'toolCallId' | 'agent' | 'status' | 'metadata' | 'turnId'>>;

export function toMessageView(m: MessageEntity): MessageView {
  return {
    id: m.id,
    role: m.role,
    content: m.content,
    ...(m.toolCalls ? { toolCalls: m.toolCalls } : {}),
    ...(m.toolCallId ? { toolCallId: m.toolCallId } : {}),
    agent: m.agent,
    status: m.status,
    ...(m.metadata ? { metadata: m.metadata } : {}),
    createdAt: m.createdAt,
  };
}

/** The tool calls of the latest assistant answer that have no tool message yet. */
export interface OutstandingCalls {
  messageId: string;
  calls: StoredToolCall[];
  unanswered: StoredToolCall[];
}

/** The message history: append-only rows in conversation order. */
@Injectable()
export class MessagesService {
  constructor(private readonly dataSource: DataSource) {}

  /** Appends messages in order and counts them on the session, in the caller's micro-transaction. */
  async append(m: EntityManager, sessionId: string, messages: NewMessage[]): Promise<MessageEntity[]> {
    if (messages.length === 0) return [];
    const rows = messages.map((msg) => ({ status: 'complete' as const, ...msg, sessionId }));
    const result = await m
      .createQueryBuilder()
      .insert()
      .into(MessageEntity)
      .values(rows as QueryDeepPartialEntity<MessageEntity>[])
      .returning(['id', 'seq', 'createdAt'])
      .execute();
    await m.query(
      `UPDATE sessions SET message_count = message_count + $2, last_activity_at = now(), updated_at = now() WHERE id = $1`,
      [sessionId, messages.length],
    );
    return rows.map((row, i) => {
      const generated = result.raw[i] as { id: string; seq: string; created_at: Date };
      return Object.assign(new MessageEntity(), {
        toolCalls: null,
        toolCallId: null,
        agent: null,
        metadata: null,
        turnId: null,
        ...row,
        id: generated.id,
        seq: String(generated.seq),
        createdAt: generated.created_at,
      });
    });
  }

  /** The whole stored history, oldest first: what the LLM's context is built from. */
  history(sessionId: string, manager: EntityManager = this.dataSource.manager): Promise<MessageEntity[]> {
    return manager.find(MessageEntity, { where: { sessionId }, order: { seq: 'ASC' } });
  }

  async page(sessionId: string, limit = 100, after?: string): Promise<MessagePage> {
    const qb = this.dataSource.manager
      .createQueryBuilder(MessageEntity, 'm')
      .where('m.session_id = :sessionId', { sessionId })
      .orderBy('m.seq', 'ASC')
      .limit(limit + 1);
    if (after) qb.andWhere('m.seq > :after', { after });
    const rows = await qb.getMany();
    const page = rows.slice(0, limit);
    return {
      items: page.map(toMessageView),
      nextCursor: rows.length > limit ? String(page[page.length - 1].seq) : null,
    };
  }

  /** The latest assistant answer with tool calls, if some of its calls still wait for a result. */
  async outstandingCalls(sessionId: string, manager: EntityManager = this.dataSource.manager): Promise<OutstandingCalls | undefined> {
    const [last] = await manager.query(
      `SELECT id, seq, tool_calls FROM messages
       WHERE session_id = $1 AND role = 'assistant' ORDER BY seq DESC LIMIT 1`,
      [sessionId],
    );
    const calls: StoredToolCall[] = last?.tool_calls ?? [];
    if (calls.length === 0) return undefined;
    const answered: Array<{ tool_call_id: string }> = await manager.query(
      `SELECT tool_call_id FROM messages WHERE session_id = $1 AND role = 'tool' AND seq > $2`,
      [sessionId, last.seq],
    );
    const done = new Set(answered.map((r) => r.tool_call_id));
    const unanswered = calls.filter((c) => !done.has(c.id));
    return unanswered.length ? { messageId: last.id, calls, unanswered } : undefined;
  }

  /** The assistant message that made a tool call, with that call. */
  async findCall(sessionId: string, toolCallId: string): Promise<{ message: MessageEntity; call: StoredToolCall } | undefined> {
    const message = await this.dataSource.manager
      .createQueryBuilder(MessageEntity, 'm')
      .where('m.session_id = :sessionId', { sessionId })
      .andWhere(`m.role = 'assistant'`)
      .andWhere(`m.tool_calls @> :probe::jsonb`, { probe: JSON.stringify([{ id: toolCallId }]) })
      .orderBy('m.seq', 'DESC')
      .getOne();
    const call = message?.toolCalls?.find((c) => c.id === toolCallId);
    return message && call ? { message, call } : undefined;
  }

  async hasResult(sessionId: string, toolCallId: string): Promise<boolean> {
    const rows = await this.dataSource.query(
      `SELECT 1 FROM messages WHERE session_id = $1 AND role = 'tool' AND tool_call_id = $2 LIMIT 1`,
      [sessionId, toolCallId],
    );
    return rows.length > 0;
  }
}
