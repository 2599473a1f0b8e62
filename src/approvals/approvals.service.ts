import { ConflictException, GoneException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { Settings } from '../config/settings.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';
import { ApprovalEntity, ApprovalStatus } from './approval.entity.js';
import { ApprovalList, ApprovalView } from './approval.dto.js';

export type Decision = 'approve' | 'edit' | 'reject';
const DECIDED: Record<Decision, ApprovalStatus> = { approve: 'approved', edit: 'edited', reject: 'rejected' };

export function toApprovalView(a: ApprovalEntity, now = new Date()): ApprovalView {
  const expired = a.status === 'pending' && a.expiresAt <= now;
  return {
    id: a.id,
    toolCallId: a.toolCallId,
    toolName: a.toolName,
    arguments: a.arguments,
    ...(a.approvedArguments ? { approvedArguments: a.approvedArguments } : {}),
    status: expired ? 'expired' : a.status,
    reason: a.reason,
    ...(a.feedback ? { feedback: a.feedback } : {}),
    createdAt: a.createdAt,
    ...(a.decidedAt ? { decidedAt: a.decidedAt } : {}),
    expiresAt: a.expiresAt,
  };
}

export function approvalNotFound(id: string): NotFoundException {
  return new NotFoundException({ statusCode: 404, code: 'approval_not_found', message: `approval ${id} not found` });
}

export function approvalExpired(approval: Pick<ApprovalEntity, 'id' | 'expiresAt'>): GoneException {
  return new GoneException({
    statusCode: 410,
    code: 'approval_expired',
    message: `approval ${approval.id} expired at ${approval.expiresAt.toISOString()}`,
  });
}

/** Pending approvals of risky tool calls, their decisions and their expiry. */
@Injectable()
export class ApprovalsService {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly settings: Settings,
    @InjectMetric('approvals_requested_total') private readonly requested: Counter<string>,
    @InjectMetric('approvals_decided_total') private readonly decided: Counter<string>,
    @InjectMetric('approval_decision_seconds') private readonly decisionTime: Histogram<string>,
    @InjectMetric('approvals_pending') private readonly pending: Gauge<string>,
  ) {}

  /** Holds a tool call for a person, in the current micro-transaction (`save_approval`). */
  async request(input: {
    sessionId: string;
    turnId: string;
    messageId: string;
    toolCallId: string;
    toolName: string;
    args: Record<string, unknown>;
    reason: string;
  }): Promise<ApprovalEntity> {
    // clock_timestamp(), not now(): the calls of one answer are held in one transaction and are listed in their order.
    const rows: Array<{ id: string; expiresAt: Date; createdAt: Date }> = await this.txHost.tx.query(
      `INSERT INTO approvals (session_id, turn_id, message_id, tool_call_id, tool_name, arguments, reason, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp(), clock_timestamp() + make_interval(secs => $8))
       RETURNING id, expires_at AS "expiresAt", created_at AS "createdAt"`,
      [
        input.sessionId,
        input.turnId,
        input.messageId,
        input.toolCallId,
        input.toolName,
        input.args,
        input.reason,
        this.settings.APPROVAL_TTL_SECONDS,
      ],
    );
    return Object.assign(new ApprovalEntity(), {
      sessionId: input.sessionId,
      turnId: input.turnId,
      messageId: input.messageId,
      toolCallId: input.toolCallId,
      toolName: input.toolName,
      arguments: input.args,
      approvedArguments: null,
      status: 'pending',
      reason: input.reason,
      feedback: null,
      decidedAt: null,
      ...rows[0],
    });
  }

  counted(approval: ApprovalEntity): void {
    this.requested.inc({ tool: approval.toolName });
  }

  async list(sessionId: string, status?: ApprovalStatus): Promise<ApprovalList> {
    const rows = await this.txHost.tx.find(ApprovalEntity, { where: { sessionId }, order: { createdAt: 'ASC', id: 'ASC' } });
    const now = new Date();
    const items = rows.map((a) => toApprovalView(a, now)).filter((a) => !status || a.status === status);
    return { items };
  }

  async get(sessionId: string, approvalId: string): Promise<ApprovalEntity> {
    const approval = await this.txHost.tx.findOne(ApprovalEntity, { where: { id: approvalId, sessionId } });
    if (!approval) throw approvalNotFound(approvalId);
    return approval;
  }

  /**
   * Decides a pending approval with one conditional UPDATE, so that of two racing decisions exactly
   * one wins. Not pending: 409; pending but past its expiry: 410.
   */
  async decide(
    approval: ApprovalEntity,
    decision: Decision,
    input: { approvedArguments?: Record<string, unknown>; feedback?: string },
  ): Promise<ApprovalEntity> {
    const [rows] = await this.txHost.tx.query(
      `UPDATE approvals SET status = $2, approved_arguments = $3, feedback = $4, decided_at = now()
       WHERE id = $1 AND status = 'pending' AND expires_at > now()
       RETURNING decided_at AS "decidedAt"`,
      [approval.id, DECIDED[decision], input.approvedArguments ?? null, input.feedback ?? null],
    );
    if (!rows.length) {
      const current = await this.txHost.tx.findOne(ApprovalEntity, { where: { id: approval.id } });
      if (current?.status === 'pending' || current?.status === 'expired') throw approvalExpired(current);
      throw new ConflictException({
        statusCode: 409,
        code: 'approval_decided',
        message: `approval ${approval.id} was already decided (${current?.status})`,
      });
    }
    return Object.assign(new ApprovalEntity(), approval, {
      status: DECIDED[decision],
      approvedArguments: input.approvedArguments ?? null,
      feedback: input.feedback ?? null,
      decidedAt: rows[0].decidedAt,
    });
  }

  /** Counted once the decision has committed. */
  decisionCounted(approval: ApprovalEntity): void {
    this.decided.inc({ decision: approval.status });
    const decidedAt = approval.decidedAt ?? new Date();
    this.decisionTime.observe((decidedAt.getTime() - approval.createdAt.getTime()) / 1000);
  }

  /**
   * Marks a session's pending approvals closed (`expired`) — those past their expiry, or all of
   * them when the user moved on with a new message — and returns their tool calls.
   */
  async close(sessionId: string, scope: 'expired' | 'all'): Promise<ApprovalEntity[]> {
    const [rows] = await this.txHost.tx.query(
      `UPDATE approvals SET status = 'expired', decided_at = now()
       WHERE session_id = $1 AND status = 'pending' ${scope === 'expired' ? 'AND expires_at <= now()' : ''}
       RETURNING id, tool_call_id AS "toolCallId", tool_name AS "toolName"`,
      [sessionId],
    );
    for (let i = 0; i < rows.length; i++) this.decided.inc({ decision: 'expired' });
    return rows;
  }

  /** Pending approvals past their expiry, across sessions (the sweep). */
  async expiredSessions(limit: number): Promise<string[]> {
    const rows: Array<{ session_id: string }> = await this.txHost.tx.query(
      `SELECT DISTINCT session_id FROM approvals WHERE status = 'pending' AND expires_at <= now() LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.session_id);
  }

  async refreshPendingGauge(): Promise<void> {
    const [row] = await this.txHost.tx.query(`SELECT count(*)::int AS n FROM approvals WHERE status = 'pending' AND expires_at > now()`);
    this.pending.set(row?.n ?? 0);
  }
}
