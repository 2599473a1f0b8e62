import { Module } from '@nestjs/common';
import { SessionLease } from './session-lease.js';
import { SessionRetention } from './session-retention.js';
import { SessionsController } from './sessions.controller.js';
import { SessionsService } from './sessions.service.js';

/** Sessions (conversations): CRUD, listing, soft delete, the per-session turn lease, expiry of idle sessions. */
@Module({
  controllers: [SessionsController],
  providers: [SessionsService, SessionLease, SessionRetention],
  exports: [SessionsService, SessionLease],
})
export class SessionsModule {}
