import { Module } from '@nestjs/common';

/** The approval policy, pending approvals, decisions and expiry. */
@Module({})
export class ApprovalsModule {}
