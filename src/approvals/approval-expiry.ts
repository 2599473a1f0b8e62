import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import type { MessageEntity } from '../messages/message.entity.js';
import { MessagesService } from '../messages/messages.service.js';
import { SessionLease } from '../sessions/session-lease.js';
import { TransactionHost } from '../unit-of-work/transaction-host.js';
import { ApprovalsService } from './approvals.service.js';

/** The tool message that answers a held call nobody decided on in time. */
export const NOT_RUN_EXPIRED = 'Not run: the approval request expired before anyone decided.';

/** Sessions handled per sweep; the rest wait for the next one. */
const SESSIONS_PER_SWEEP = 100;

/**
 * Expires approvals nobody decided on within `APPROVAL_TTL_SECONDS`. An expired approval gets a
 * tool message in the history, so its call counts as answered and the next LLM step sees a history
 * any OpenAI-compatible API accepts. Turns close the expired approvals of their session themselves;
 * the sweep closes those of idle sessions. It lives with the message history (MessagesModule)
 * because it writes tool messages.
 */
@Injectable()
export class ApprovalExpiry {
  private readonly logger = new Logger(ApprovalExpiry.name);

  constructor(
    private readonly txHost: TransactionHost,
    private readonly approvals: ApprovalsService,
    private readonly messages: MessagesService,
  ) {}

  /** Closes the session's pending approvals past their expiry and stores their tool messages, in the current micro-transaction. */
  async closeExpired(sessionId: string, by: { turnId: string | null; agent: string | null }): Promise<MessageEntity[]> {
    const closed = await this.approvals.close(sessionId, 'expired');
    return this.messages.append(
      sessionId,
      closed.map((approval) => ({
        role: 'tool',
        toolCallId: approval.toolCallId,
        content: NOT_RUN_EXPIRED,
        turnId: by.turnId,
        agent: by.agent,
      })),
    );
  }

  /** Closes expired approvals of sessions no turn is running on; refreshes `approvals_pending`. Returns how many expired. */
  @Interval('approval-expiry', 10_000)
  async sweep(): Promise<number> {
    try {
      const sessionIds = await this.approvals.expiredSessions(SESSIONS_PER_SWEEP);
      let expired = 0;
      if (sessionIds.length > 0) {
        await this.txHost.run('approval_expiry', async () => {
          for (const sessionId of sessionIds) {
            const closed = await this.txHost.transaction('expire_approvals', async () => {
              // The row lock orders this against a turn taking the lease: that turn then reads the closed history.
              const [free]: Array<{ agent: string }> = await this.txHost.tx.query(
                `SELECT s.current_agent AS agent FROM sessions s WHERE s.id = $1 AND ${SessionLease.FREE} FOR UPDATE`,
                [sessionId],
              );
              if (!free) return 0; // a running turn closes them itself
              return (await this.closeExpired(sessionId, { turnId: null, agent: free.agent })).length;
            });
            expired += closed;
          }
        });
      }
      await this.approvals.refreshPendingGauge();
      if (expired > 0) this.logger.log({ msg: 'expired approvals nobody decided on', count: expired });
      return expired;
    } catch (error) {
      this.logger.warn({ msg: 'approval expiry sweep failed', error: (error as Error).message });
      return 0;
    }
  }
}
