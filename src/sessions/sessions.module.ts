import { Module } from '@nestjs/common';
import { SessionLease } from './session-lease.js';
import { SessionsController } from './sessions.controller.js';
import { SessionsService } from './sessions.service.js';

/** Sessions (conversations): CRUD, listing, soft delete, the per-session turn lease. */
@Module({
  controllers: [SessionsController],
  providers: [SessionsService, SessionLease],
  exports: [SessionsService, SessionLease],
})
export class SessionsModule {}
