import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Owner } from '../auth/owner.decorator.js';
import { SessionIdPipe } from '../common/uuid-param.pipe.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { ApprovalList, ListApprovalsQuery } from './approval.dto.js';
import { ApprovalsService } from './approvals.service.js';

/** A session's approvals: a client restores its pending dialogs from this after a restart. Decisions are turns (see TurnsController). */
@ApiTags('approvals')
@Controller('v1/sessions/:id/approvals')
export class ApprovalsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly approvals: ApprovalsService,
  ) {}

  @Get()
  @ApiOperation({ summary: "The session's approvals, oldest first; `status=pending` for those still waiting for a decision" })
  @ApiOkResponse({ type: ApprovalList })
  @ApiBadRequestResponse({ description: 'Unknown status' })
  @ApiNotFoundResponse({ description: 'No such session for this owner, or deleted' })
  async list(@Owner() owner: string, @Param('id', SessionIdPipe) id: string, @Query() query: ListApprovalsQuery): Promise<ApprovalList> {
    await this.sessions.get(owner, id);
    return this.approvals.list(id, query.status);
  }
}
