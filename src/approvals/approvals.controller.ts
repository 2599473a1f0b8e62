import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { Owner } from '../auth/owner.decorator.js';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { SessionIdPipe } from '../sessions/sessions.controller.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { ApprovalList, ListApprovalsQuery } from './approval.dto.js';
import { ApprovalsService } from './approvals.service.js';

/** A session's approvals: a client restores its pending dialogs from this after a restart. Decisions are turns (see TurnsController). */
@ApiTags('approvals')
@ApiParam({ name: 'id', format: 'uuid', description: 'The session' })
@Controller('v1/sessions/:id/approvals')
export class ApprovalsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly approvals: ApprovalsService,
  ) {}

  @Get()
  @ApiOperation({ summary: "The session's approvals, oldest first; `status=pending` for those still waiting for a decision" })
  @ApiOkResponse({ type: ApprovalList })
  @ApiErrorResponses({
    400: '`id` is not a UUID, or an unknown status',
    404: 'No such session for this owner, or deleted',
    503: DATABASE_UNAVAILABLE,
  })
  async list(@Owner() owner: string, @Param('id', SessionIdPipe) id: string, @Query() query: ListApprovalsQuery): Promise<ApprovalList> {
    await this.sessions.get(owner, id);
    return this.approvals.list(id, query.status);
  }
}
