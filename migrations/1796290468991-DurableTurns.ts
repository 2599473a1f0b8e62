import { MigrationInterface, QueryRunner } from 'typeorm';

export class DurableTurns1796290468991 implements MigrationInterface {
  name = 'DurableTurns1796290468991';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
            DROP INDEX "public"."idx_turns_session_started"
        `);
    await queryRunner.query(`
            CREATE TABLE "turn_events" (
                "id" bigint NOT NULL,
                "first_id" bigint NOT NULL,
                "turn_id" uuid NOT NULL,
                "events" jsonb NOT NULL,
                "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
                CONSTRAINT "PK_58204b1d520db52981ac1c3145f" PRIMARY KEY ("id")
            )
        `);
    await queryRunner.query(`
            CREATE INDEX "idx_turn_events_created" ON "turn_events" USING brin ("created_at")
        `);
    await queryRunner.query(`
            CREATE TABLE "idempotency_keys" (
                "owner" character varying(200) NOT NULL,
                "key" character varying(255) NOT NULL,
                "fingerprint" character(64) NOT NULL,
                "session_id" uuid NOT NULL,
                "turn_id" uuid,
                "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
                CONSTRAINT "PK_f796aec32cfd80b443f883257a6" PRIMARY KEY ("owner", "key")
            )
        `);
    await queryRunner.query(`
            CREATE INDEX "idx_idempotency_keys_created" ON "idempotency_keys" ("created_at")
        `);
    await queryRunner.query(`
            ALTER TABLE "turns"
            ADD "seq" bigint GENERATED ALWAYS AS IDENTITY NOT NULL
        `);
    await queryRunner.query(`
            CREATE INDEX "idx_turns_session_seq" ON "turns" ("session_id", "seq")
        `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
            DROP INDEX "public"."idx_turns_session_seq"
        `);
    await queryRunner.query(`
            ALTER TABLE "turns" DROP COLUMN "seq"
        `);
    await queryRunner.query(`
            DROP INDEX "public"."idx_idempotency_keys_created"
        `);
    await queryRunner.query(`
            DROP TABLE "idempotency_keys"
        `);
    await queryRunner.query(`
            DROP INDEX "public"."idx_turn_events_created"
        `);
    await queryRunner.query(`
            DROP TABLE "turn_events"
        `);
    await queryRunner.query(`
            CREATE INDEX "idx_turns_session_started" ON "turns" USING btree ("session_id", "started_at")
        `);
  }
}
