import { Body, Controller, Headers, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiHeader, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Observable } from 'rxjs';
import { DecideApprovalDto } from '../approvals/approval.dto.js';
import { Owner } from '../auth/owner.decorator.js';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { Settings } from '../config/settings.js';
import { ApprovalIdPipe, SessionIdPipe } from '../common/uuid-param.pipe.js';
import { IdempotencyKeyHeader } from '../idempotency/idempotency-key.decorator.js';
import { claimOf } from '../idempotency/idempotency-keys.js';
import { CancelResult, PostMessageDto, ToolResultDto } from '../messages/message.dto.js';
import { writeEventStream } from './protocol/sse-response.js';
import type { StampedEvent } from './protocol/turn-event.js';
import { ApiTurnStream, IDEMPOTENCY_KEY_HEADER, LAST_EVENT_ID_HEADER } from './turn-event.schema.js';
import { TurnRunner } from './turn-runner.js';
import type { TurnOptions } from './turn.js';

const NOT_FOUND = 'No such session for this owner, or deleted';
const BUSY = 'Another turn of the session is running (`session_busy`)';
const UNAVAILABLE = `${DATABASE_UNAVAILABLE}, or the service is stopping (\`shutting_down\`)`;
const BAD_HEADERS =
  "a malformed `Idempotency-Key` (`bad_idempotency_key`), or a repeat's bad `Last-Event-ID` (`bad_last_event_id`, `unknown_last_event_id`)";
const REUSED = 'The `Idempotency-Key` was used with another request (`idempotency_key_reused`)';

/**
 * The turn routes: each answers a Server-Sent Events stream. The returned Observable is what the
 * Unit of Work interceptor subscribes, so the Unit of Work spans the whole stream (with
 * `onDisconnect: continue`, the whole turn).
 */
@ApiTags('turns')
@ApiParam({ name: 'id', format: 'uuid', description: 'The session' })
@ApiHeader(IDEMPOTENCY_KEY_HEADER)
@ApiHeader(LAST_EVENT_ID_HEADER)
@Controller('v1/sessions/:id')
export class TurnsController {
  constructor(
    private readonly turns: TurnRunner,
    private readonly settings: Settings,
  ) {}

  @Post('messages')
  @ApiOperation({ summary: "Send a user message; the agents' answer streams back" })
  @ApiTurnStream()
  @ApiErrorResponses({
    400: `\`id\` is not a UUID, a bad body, an unknown agent, ${BAD_HEADERS}`,
    404: NOT_FOUND,
    409: BUSY,
    422: REUSED,
    503: UNAVAILABLE,
  })
  async postMessage(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Body() body: PostMessageDto,
    @IdempotencyKeyHeader() key: string | undefined,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    const options = this.options(`POST /v1/sessions/${id}/messages`, body, key, lastEventId);
    return this.write(await this.turns.startMessage(owner, id, body, options), res);
  }

  @Post('tool-results')
  @ApiOperation({ summary: 'Post the result of a tool the client ran; the turn continues as a stream' })
  @ApiTurnStream()
  @ApiErrorResponses({
    400: `\`id\` is not a UUID, a bad body, ${BAD_HEADERS}`,
    404: `${NOT_FOUND}, or no such tool call in it (\`tool_call_not_found\`)`,
    409: `${BUSY}, the call already has a result (\`tool_result_exists\`), or it waits for approval (\`awaiting_approval\`)`,
    410: 'The approval the call needed expired (`approval_expired`)',
    422: REUSED,
    503: UNAVAILABLE,
  })
  async postToolResult(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Body() body: ToolResultDto,
    @IdempotencyKeyHeader() key: string | undefined,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    const options = this.options(`POST /v1/sessions/${id}/tool-results`, body, key, lastEventId);
    return this.write(await this.turns.startToolResult(owner, id, body, options), res);
  }

  @Post('approvals/:approvalId')
  @ApiOperation({ summary: 'Approve, edit or reject a held tool call; the turn continues as a stream' })
  @ApiParam({ name: 'approvalId', format: 'uuid' })
  @ApiTurnStream()
  @ApiErrorResponses({
    400: `An id is not a UUID, a bad body, edited arguments the agent may not use (\`invalid_arguments\`), ${BAD_HEADERS}`,
    404: `${NOT_FOUND}, or no such approval in it (\`approval_not_found\`)`,
    409: `${BUSY}, or the approval was already decided (\`approval_decided\`)`,
    410: 'The approval expired (`approval_expired`)',
    422: REUSED,
    503: UNAVAILABLE,
  })
  async decide(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Param('approvalId', ApprovalIdPipe) approvalId: string,
    @Body() body: DecideApprovalDto,
    @IdempotencyKeyHeader() key: string | undefined,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    const options = this.options(`POST /v1/sessions/${id}/approvals/${approvalId}`, body, key, lastEventId);
    return this.write(await this.turns.startDecision(owner, id, approvalId, body, options), res);
  }

  @Post('cancel')
  @HttpCode(202)
  @ApiOperation({ summary: "Stop the session's running turn" })
  @ApiAcceptedResponse({ type: CancelResult })
  @ApiErrorResponses({ 400: '`id` is not a UUID', 404: NOT_FOUND, 503: DATABASE_UNAVAILABLE })
  cancel(@Owner() owner: string, @Param('id', SessionIdPipe) id: string): Promise<CancelResult> {
    return this.turns.cancel(owner, id);
  }

  private options(route: string, body: { onDisconnect?: 'cancel' | 'continue' }, key?: string, lastEventId?: string): TurnOptions {
    return { onDisconnect: body.onDisconnect, idempotency: key ? claimOf(key, route, body) : undefined, lastEventId };
  }

  private write(events$: Observable<StampedEvent>, res: Response): Observable<null> {
    return writeEventStream(events$, res, { pingSeconds: this.settings.SSE_PING_SECONDS, retryMs: this.settings.SSE_RETRY_MS });
  }
}
