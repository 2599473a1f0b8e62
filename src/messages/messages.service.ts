import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { usageOf } from '../common/usage.js';
import type { LlmToolCall } from '../llm/llm-provider.js';
import { sessionWrites } from '../sessions/session-writes.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';
import { HistoryEntry, MessageEntity, StoredToolCall } from './message.entity.js';
import { HistoryMessageView, MessagePage, MessageView } from './message.dto.js';

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

/** A history item: the message and the turn that wrote it (`m.turn` joined). */
function toHistoryView(m: MessageEntity): HistoryMessageView {
  const usage = m.turn && usageOf(m.turn.promptTokens, m.turn.completionTokens);
  return { ...toMessageView(m), turn: m.turn ? { id: m.turn.id, status: m.turn.status, ...(usage ? { usage } : {}) } : null };
}

/** The tool calls of the latest assistant answer in `history` that no tool message answers yet. */
export function unansweredCalls(history: HistoryEntry[]): StoredToolCall[] {
  for (let i = history.length - 1; i >= 0; i--) {
    if (history[i].role !== 'assistant') continue;
    const answered = new Set(
      history
        .slice(i + 1)
        .filter((m) => m.role === 'tool')
        .map((m) => m.toolCallId),
    );
    return (history[i].toolCalls ?? []).filter((call) => !answered.has(call.id));
  }
  return [];
}

/** The message history: append-only rows in conversation order. */
@Injectable()
export class MessagesService {
  constructor(private readonly txHost: TransactionHost) {}

  /**
   * Appends messages in order and counts them on the session — one statement, in the current
   * micro-transaction. `title` names a session that has none yet.
   */
  async append(sessionId: string, messages: NewMessage[], title?: string): Promise<MessageEntity[]> {
    if (messages.length === 0) return [];
    const rows = messages.map((msg, ord) => ({
      ord,
      turn_id: msg.turnId ?? null,
      role: msg.role,
      content: msg.content,
      tool_calls: msg.toolCalls ?? null,
      tool_call_id: msg.toolCallId ?? null,
      agent: msg.agent ?? null,
      status: msg.status ?? 'complete',
      metadata: msg.metadata ?? null,
    }));
    const inserted: Array<{ id: string; seq: string; created_at: Date }> = await this.txHost.tx.query(
      `WITH inserted AS (
         INSERT INTO messages (session_id, turn_id, role, content, tool_calls, tool_call_id, agent, status, metadata)
         SELECT $1, x.turn_id, x.role, x.content, x.tool_calls, x.tool_call_id, x.agent, x.status, x.metadata
         FROM jsonb_to_recordset($2::jsonb) AS x(ord int, turn_id uuid, role varchar, content text, tool_calls jsonb,
                                                tool_call_id varchar, agent varchar, status varchar, metadata jsonb)
         ORDER BY x.ord
         RETURNING id, seq, created_at),
       counted AS (${sessionWrites.countMessages({ session: '$1', count: '$3', title: '$4' })})
       SELECT id, seq, created_at FROM inserted ORDER BY seq`,
      [sessionId, JSON.stringify(rows), rows.length, title ?? null],
    );
    return rows.map((row, i) =>
      Object.assign(new MessageEntity(), {
        id: inserted[i].id,
        seq: String(inserted[i].seq),
        sessionId,
        turnId: row.turn_id,
        role: row.role,
        content: row.content,
        toolCalls: row.tool_calls,
        toolCallId: row.tool_call_id,
        agent: row.agent,
        status: row.status,
        metadata: row.metadata,
        createdAt: inserted[i].created_at,
      }),
    );
  }

  /** The whole stored history, oldest first: what the LLM's context is built from (only the columns it needs). */
  history(sessionId: string): Promise<HistoryEntry[]> {
    return this.txHost.tx.query(
      `SELECT role, content, tool_calls AS "toolCalls", tool_call_id AS "toolCallId", metadata->'providerState' AS "providerState"
       FROM messages WHERE session_id = $1 ORDER BY seq`,
      [sessionId],
    );
  }

  async page(sessionId: string, limit = 100, after?: string): Promise<MessagePage> {
    const qb = this.txHost.tx
      .createQueryBuilder(MessageEntity, 'm')
      .leftJoinAndSelect('m.turn', 't')
      .where('m.session_id = :sessionId', { sessionId })
      .orderBy('m.seq', 'ASC')
      .limit(limit + 1);
    if (after) qb.andWhere('m.seq > :after', { after });
    const rows = await qb.getMany();
    const page = rows.slice(0, limit);
    return {
      items: page.map(toHistoryView),
      nextCursor: rows.length > limit ? String(page[page.length - 1].seq) : null,
    };
  }

  /** The assistant message that made a tool call, with that call. */
  async findCall(sessionId: string, toolCallId: string): Promise<{ message: MessageEntity; call: StoredToolCall } | undefined> {
    const message = await this.txHost.tx
      .createQueryBuilder(MessageEntity, 'm')
      .where('m.session_id = :sessionId', { sessionId })
      .andWhere(`m.role = 'assistant'`)
      .andWhere(`m.tool_calls @> :probe::jsonb`, { probe: JSON.stringify([{ id: toolCallId }]) })
      .orderBy('m.seq', 'DESC')
      .getOne();
    const call = message?.toolCalls?.find((c) => c.id === toolCallId);
    return message && call ? { message, call } : undefined;
  }

  /**
   * The LLM's tool calls in the stored (OpenAI) shape, with ids unique within the session: some
   * OpenAI-compatible servers number calls per answer (`call_0`) or send none, and a client posts its
   * result by id. The LLM only ever sees the stored ids, so replacing one is safe.
   */
  async uniqueToolCalls(sessionId: string, calls: LlmToolCall[]): Promise<StoredToolCall[]> {
    if (calls.length === 0) return [];
    const given = calls.map((c) => c.id).filter(Boolean);
    const taken: Array<{ id: string }> = given.length
      ? await this.txHost.tx.query(
          `SELECT DISTINCT call->>'id' AS id FROM messages msg, jsonb_array_elements(msg.tool_calls) call
           WHERE msg.session_id = $1 AND msg.role = 'assistant' AND msg.tool_calls IS NOT NULL AND call->>'id' = ANY($2)`,
          [sessionId, given],
        )
      : [];
    const used = new Set(taken.map((r) => r.id));
    return calls.map((c) => {
      const id = c.id && !used.has(c.id) ? c.id : `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
      used.add(id);
      return { id, type: 'function', function: { name: c.name, arguments: c.arguments } };
    });
  }

  async agentOf(messageId: string): Promise<string | undefined> {
    const [row] = await this.txHost.tx.query(`SELECT agent FROM messages WHERE id = $1`, [messageId]);
    return row?.agent ?? undefined;
  }

  async hasResult(sessionId: string, toolCallId: string): Promise<boolean> {
    const rows = await this.txHost.tx.query(
      `SELECT 1 FROM messages WHERE session_id = $1 AND role = 'tool' AND tool_call_id = $2 LIMIT 1`,
      [sessionId, toolCallId],
    );
    return rows.length > 0;
  }
}
