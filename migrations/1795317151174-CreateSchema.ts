import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateSchema1795317151174 implements MigrationInterface {
  name = 'CreateSchema1795317151174';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "sessions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "owner" character varying(200) NOT NULL, "title" character varying(200), "current_agent" character varying(50) NOT NULL, "message_count" integer NOT NULL DEFAULT '0', "active_turn_id" uuid, "lease_expires_at" TIMESTAMP WITH TIME ZONE, "deleted_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "last_activity_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_3238ef96f18b355b671619111bc" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "idx_sessions_idle" ON "sessions"  ("last_activity_at") WHERE deleted_at IS NULL`);
    await queryRunner.query(
      `CREATE INDEX "idx_sessions_owner_activity" ON "sessions"  ("owner", "last_activity_at", "id") WHERE deleted_at IS NULL`,
    );
    await queryRunner.query(
      `CREATE TABLE "turns" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "session_id" uuid NOT NULL, "kind" character varying(20) NOT NULL DEFAULT 'message', "status" character varying(30) NOT NULL DEFAULT 'running', "agent" character varying(50) NOT NULL, "prompt_tokens" integer, "completion_tokens" integer, "error" text, "cancel_requested_at" TIMESTAMP WITH TIME ZONE, "started_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "finished_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_66edaea493f45e3c39d7c3553ed" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "idx_turns_running" ON "turns"  ("status") WHERE status = 'running'`);
    await queryRunner.query(`CREATE INDEX "idx_turns_session_started" ON "turns"  ("session_id", "started_at") `);
    await queryRunner.query(
      `CREATE TABLE "agent_switches" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "session_id" uuid NOT NULL, "turn_id" uuid, "from_agent" character varying(50) NOT NULL, "to_agent" character varying(50) NOT NULL, "reason" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_928bca287bc58852b629d31a606" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "idx_agent_switches_session" ON "agent_switches"  ("session_id", "created_at") `);
    await queryRunner.query(
      `CREATE TABLE "messages" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "seq" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "session_id" uuid NOT NULL, "turn_id" uuid, "role" character varying(20) NOT NULL, "content" text, "tool_calls" jsonb, "tool_call_id" character varying(200), "agent" character varying(50), "status" character varying(20) NOT NULL DEFAULT 'complete', "metadata" jsonb, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_18325f38ae6de43878487eff986" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_messages_tool_result" ON "messages"  ("session_id", "tool_call_id") WHERE role = 'tool'`,
    );
    await queryRunner.query(`CREATE INDEX "idx_messages_session_seq" ON "messages"  ("session_id", "seq") `);
    await queryRunner.query(
      `CREATE TABLE "approvals" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "session_id" uuid NOT NULL, "turn_id" uuid, "message_id" uuid NOT NULL, "tool_call_id" character varying(200) NOT NULL, "tool_name" character varying(100) NOT NULL, "arguments" jsonb NOT NULL, "approved_arguments" jsonb, "status" character varying(20) NOT NULL DEFAULT 'pending', "reason" text NOT NULL, "feedback" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "decided_at" TIMESTAMP WITH TIME ZONE, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_690417aaefa84d18b1a59e2a499" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_approvals_tool_call" ON "approvals"  ("session_id", "tool_call_id") `);
    await queryRunner.query(`CREATE INDEX "idx_approvals_pending_expiry" ON "approvals"  ("expires_at") WHERE status = 'pending'`);
    await queryRunner.query(`CREATE INDEX "idx_approvals_session_status" ON "approvals"  ("session_id", "status", "created_at") `);
    await queryRunner.query(
      `ALTER TABLE "turns" ADD CONSTRAINT "FK_65b96eb4deb0caccb636883bcf9" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "agent_switches" ADD CONSTRAINT "FK_77eac3d44ae2ec60db83ff60fad" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "agent_switches" ADD CONSTRAINT "FK_a003a6af0d787cd87c3db9c1684" FOREIGN KEY ("turn_id") REFERENCES "turns"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "messages" ADD CONSTRAINT "FK_ff71b7760071ed9caba7f02beb4" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "messages" ADD CONSTRAINT "FK_9a9073152033b2bcd499ead4aa7" FOREIGN KEY ("turn_id") REFERENCES "turns"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "approvals" ADD CONSTRAINT "FK_703c56eb9d075ddd837fed481a4" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "approvals" ADD CONSTRAINT "FK_914cddc8f298b068c8d25f09d6f" FOREIGN KEY ("turn_id") REFERENCES "turns"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "approvals" ADD CONSTRAINT "FK_04f6a69df22f3e9ef3825253a4d" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "approvals" DROP CONSTRAINT "FK_04f6a69df22f3e9ef3825253a4d"`);
    await queryRunner.query(`ALTER TABLE "approvals" DROP CONSTRAINT "FK_914cddc8f298b068c8d25f09d6f"`);
    await queryRunner.query(`ALTER TABLE "approvals" DROP CONSTRAINT "FK_703c56eb9d075ddd837fed481a4"`);
    await queryRunner.query(`ALTER TABLE "messages" DROP CONSTRAINT "FK_9a9073152033b2bcd499ead4aa7"`);
    await queryRunner.query(`ALTER TABLE "messages" DROP CONSTRAINT "FK_ff71b7760071ed9caba7f02beb4"`);
    await queryRunner.query(`ALTER TABLE "agent_switches" DROP CONSTRAINT "FK_a003a6af0d787cd87c3db9c1684"`);
    await queryRunner.query(`ALTER TABLE "agent_switches" DROP CONSTRAINT "FK_77eac3d44ae2ec60db83ff60fad"`);
    await queryRunner.query(`ALTER TABLE "turns" DROP CONSTRAINT "FK_65b96eb4deb0caccb636883bcf9"`);
    await queryRunner.query(`DROP INDEX "public"."idx_approvals_session_status"`);
    await queryRunner.query(`DROP INDEX "public"."idx_approvals_pending_expiry"`);
    await queryRunner.query(`DROP INDEX "public"."uq_approvals_tool_call"`);
    await queryRunner.query(`DROP TABLE "approvals"`);
    await queryRunner.query(`DROP INDEX "public"."idx_messages_session_seq"`);
    await queryRunner.query(`DROP INDEX "public"."uq_messages_tool_result"`);
    await queryRunner.query(`DROP TABLE "messages"`);
    await queryRunner.query(`DROP INDEX "public"."idx_agent_switches_session"`);
    await queryRunner.query(`DROP TABLE "agent_switches"`);
    await queryRunner.query(`DROP INDEX "public"."idx_turns_session_started"`);
    await queryRunner.query(`DROP INDEX "public"."idx_turns_running"`);
    await queryRunner.query(`DROP TABLE "turns"`);
    await queryRunner.query(`DROP INDEX "public"."idx_sessions_owner_activity"`);
    await queryRunner.query(`DROP INDEX "public"."idx_sessions_idle"`);
    await queryRunner.query(`DROP TABLE "sessions"`);
  }
}
