import { MigrationInterface, QueryRunner } from 'typeorm';

/** Rate-limit budgets shared by the instances; UNLOGGED: counters need no crash safety, and every request writes one. */
export class RateLimitHits1796304163286 implements MigrationInterface {
  name = 'RateLimitHits1796304163286';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
            CREATE UNLOGGED TABLE "rate_limit_hits" (
                "key" character(64) NOT NULL,
                "hits" integer NOT NULL,
                "window_ends_at" TIMESTAMP WITH TIME ZONE NOT NULL,
                "blocked_until" TIMESTAMP WITH TIME ZONE,
                CONSTRAINT "PK_d392e81d922afbaed7efb3f1184" PRIMARY KEY ("key")
            )
        `);
    await queryRunner.query(`
            CREATE INDEX "idx_rate_limit_hits_window" ON "rate_limit_hits" ("window_ends_at")
        `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
            DROP INDEX "public"."idx_rate_limit_hits_window"
        `);
    await queryRunner.query(`
            DROP TABLE "rate_limit_hits"
        `);
  }
}
