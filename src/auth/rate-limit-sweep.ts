import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { TransactionHost } from '../unit-of-work/transaction-host.js';

/** Deletes the budgets whose window and block are over: a key that comes back starts a fresh row anyway. */
@Injectable()
export class RateLimitSweep {
  private readonly logger = new Logger('RateLimit');

  constructor(private readonly txHost: TransactionHost) {}

  @Interval('rate-limit-sweep', 60_000)
  async sweep(): Promise<number> {
    try {
      const [rows]: [unknown[]] = await this.txHost.run('rate_limit_sweep', () =>
        this.txHost.statement('delete_spent_rate_limits', () =>
          this.txHost.tx.query(
            `DELETE FROM rate_limit_hits WHERE window_ends_at < now() AND (blocked_until IS NULL OR blocked_until < now()) RETURNING 1`,
          ),
        ),
      );
      return rows.length;
    } catch (error) {
      this.logger.warn({ msg: 'rate limit sweep failed', error: (error as Error).message });
      return 0;
    }
  }
}
