import { BadRequestException, Body, Controller, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Observable } from 'rxjs';
import { DecideApprovalDto } from '../approvals/approval.dto.js';
import { Owner } from '../auth/owner.decorator.js';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { Settings } from '../config/settings.js';
import { SessionIdPipe } from '../sessions/sessions.controller.js';
import { CancelResult, PostMessageDto, ToolResultDto } from '../messages/message.dto.js';
import { writeEventStream } from './protocol/sse-response.js';
import { ApiTurnStream } from './turn-event.schema.js';
import { TurnRunner } from './turn-runner.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NOT_FOUND = 'No such session for this owner, or deleted';
const BUSY = 'Another turn of the session is running (`session_busy`)';
const UNAVAILABLE = `${DATABASE_UNAVAILABLE}, or the service is stopping (\`shutting_down\`)`;

/**
 * The turn routes: each answers a Server-Sent Events stream. The returned Observable is what the
 * Unit of Work interceptor subscribes, so the Unit of Work spans the whole stream.
 */
@ApiTags('turns')
@ApiParam({ name: 'id', format: 'uuid', description: 'The session' })
@Controller('v1/sessions/:id')
export class TurnsController {
  constructor(
    private readonly turns: TurnRunner,
    private readonly settings: Settings,
  ) {}

  @Post('messages')
  @ApiOperation({ summary: "Send a user message; the agents' answer streams back" })
  @ApiTurnStream()
  @ApiErrorResponses({ 400: '`id` is not a UUID, a bad body, or an unknown agent', 404: NOT_FOUND, 409: BUSY, 503: UNAVAILABLE })
  async postMessage(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Body() body: PostMessageDto,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return writeEventStream(await this.turns.startMessage(owner, id, body), res, this.settings.SSE_PING_SECONDS);
  }

  @Post('tool-results')
  @ApiOperation({ summary: 'Post the result of a tool the client ran; the turn continues as a stream' })
  @ApiTurnStream()
  @ApiErrorResponses({
    400: '`id` is not a UUID, or a bad body',
    404: `${NOT_FOUND}, or no such tool call in it (\`tool_call_not_found\`)`,
    409: `${BUSY}, the call already has a result (\`tool_result_exists\`), or it waits for approval (\`awaiting_approval\`)`,
    410: 'The approval the call needed expired (`approval_expired`)',
    503: UNAVAILABLE,
  })
  async postToolResult(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Body() body: ToolResultDto,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return writeEventStream(await this.turns.startToolResult(owner, id, body), res, this.settings.SSE_PING_SECONDS);
  }

  @Post('approvals/:approvalId')
  @ApiOperation({ summary: 'Approve, edit or reject a held tool call; the turn continues as a stream' })
  @ApiParam({ name: 'approvalId', format: 'uuid' })
  @ApiTurnStream()
  @ApiErrorResponses({
    400: 'An id is not a UUID, a bad body, or edited arguments the agent may not use (`invalid_arguments`)',
    404: `${NOT_FOUND}, or no such approval in it (\`approval_not_found\`)`,
    409: `${BUSY}, or the approval was already decided (\`approval_decided\`)`,
    410: 'The approval expired (`approval_expired`)',
    503: UNAVAILABLE,
  })
  async decide(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Param('approvalId') approvalId: string,
    @Body() body: DecideApprovalDto,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    if (!UUID.test(approvalId))
      throw new BadRequestException({ statusCode: 400, code: 'bad_approval_id', message: 'approvalId must be a UUID' });
    return writeEventStream(await this.turns.startDecision(owner, id, approvalId, body), res, this.settings.SSE_PING_SECONDS);
  }

  @Post('cancel')
  @HttpCode(202)
  @ApiOperation({ summary: "Stop the session's running turn" })
  @ApiAcceptedResponse({ type: CancelResult })
  @ApiErrorResponses({ 400: '`id` is not a UUID', 404: NOT_FOUND, 503: DATABASE_UNAVAILABLE })
  cancel(@Owner() owner: string, @Param('id', SessionIdPipe) id: string): Promise<CancelResult> {
    return this.turns.cancel(owner, id);
  }
}
