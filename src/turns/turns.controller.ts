import { BadRequestException, Body, Controller, HttpCode, Param, Post, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { Observable } from 'rxjs';
import { DecideApprovalDto } from '../approvals/approval.dto.js';
import { Owner } from '../auth/owner.decorator.js';
import { Settings } from '../config/settings.js';
import { SessionIdPipe } from '../sessions/sessions.controller.js';
import { CancelResult, PostMessageDto, ToolResultDto } from '../messages/message.dto.js';
import { writeEventStream } from './protocol/sse-response.js';
import { TurnRunner } from './turn-runner.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STREAM_DOC =
  'Answers `text/event-stream`: `turn` first, then `agent_switched`, `token`, `message`, `tool_call`, ' +
  '`approval_required` and `error` events, and `done` last. Refused before the stream starts with JSON: ' +
  '400 bad input, 404 unknown session, 409 `session_busy` while another turn runs.';

/**
 * The turn routes: each answers a Server-Sent Events stream. The returned Observable is what the
 * Unit of Work interceptor subscribes, so the Unit of Work spans the whole stream.
 */
@ApiTags('turns')
@Controller('v1/sessions/:id')
export class TurnsController {
  constructor(
    private readonly turns: TurnRunner,
    private readonly settings: Settings,
  ) {}

  @Post('messages')
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: STREAM_DOC })
  @ApiBadRequestResponse()
  @ApiNotFoundResponse()
  @ApiConflictResponse()
  async postMessage(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Body() body: PostMessageDto,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return writeEventStream(await this.turns.startMessage(owner, id, body), res, this.settings.SSE_PING_SECONDS);
  }

  @Post('tool-results')
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: `${STREAM_DOC} 404 for an unknown tool call, 409 for a second result.` })
  @ApiBadRequestResponse()
  @ApiNotFoundResponse()
  @ApiConflictResponse()
  async postToolResult(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Body() body: ToolResultDto,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return writeEventStream(await this.turns.startToolResult(owner, id, body), res, this.settings.SSE_PING_SECONDS);
  }

  @Post('approvals/:approvalId')
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: `${STREAM_DOC} 409 when the approval was already decided, 410 when it expired.` })
  @ApiBadRequestResponse()
  @ApiNotFoundResponse()
  @ApiConflictResponse()
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
  @ApiAcceptedResponse({ type: CancelResult })
  @ApiNotFoundResponse()
  cancel(@Owner() owner: string, @Param('id', SessionIdPipe) id: string): Promise<CancelResult> {
    return this.turns.cancel(owner, id);
  }
}
