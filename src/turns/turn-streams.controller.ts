import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Observable } from 'rxjs';
import { Owner } from '../auth/owner.decorator.js';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { SessionIdPipe, TurnIdPipe } from '../common/uuid-param.pipe.js';
import { Settings } from '../config/settings.js';
import { writeEventStream } from './protocol/sse-response.js';
import type { StampedEvent } from './protocol/turn-event.js';
import { ApiTurnStream, LAST_EVENT_ID_HEADER } from './turn-event.schema.js';
import { TurnStreams } from './turn-streams.js';

const BAD_ID = 'a malformed `Last-Event-ID` (`bad_last_event_id`), or one this session never sent (`unknown_last_event_id`)';
const LAST_EVENT_ID_QUERY = {
  name: 'lastEventId',
  required: false,
  description: 'For clients that cannot set headers (a browser `EventSource` on its first connection); the header wins when both are sent',
};

/**
 * Joining and resuming streams (GET, so a browser `EventSource` can open them): the stored events
 * after `Last-Event-ID`, then the running turn live until its `done`, whichever instance runs it.
 */
@ApiTags('turns')
@ApiParam({ name: 'id', format: 'uuid', description: 'The session' })
@ApiHeader(LAST_EVENT_ID_HEADER)
@ApiQuery(LAST_EVENT_ID_QUERY)
@Controller('v1/sessions/:id')
export class TurnStreamsController {
  constructor(
    private readonly streams: TurnStreams,
    private readonly settings: Settings,
  ) {}

  @Get('stream')
  @ApiOperation({
    summary:
      "The session's stream: the events after `Last-Event-ID`, then the running turn live; without it the running turn's, or the last turn's (ending with its `done`)",
  })
  @ApiTurnStream({ joined: true })
  @ApiErrorResponses({
    400: `\`id\` is not a UUID, ${BAD_ID}`,
    404: 'No such session for this owner, or deleted',
    503: DATABASE_UNAVAILABLE,
  })
  async session(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Headers('last-event-id') header: string | undefined,
    @Query('lastEventId') query: string | undefined,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return this.write(await this.streams.ofSession(owner, id, header ?? query), res);
  }

  @Get('turns/:turnId/stream')
  @ApiOperation({ summary: "One turn's stream: its events after `Last-Event-ID` (all without it), then live until its `done`" })
  @ApiParam({ name: 'turnId', format: 'uuid', description: 'The `turnId` of its `turn` event' })
  @ApiTurnStream({ joined: true })
  @ApiErrorResponses({
    400: `An id is not a UUID (\`bad_turn_id\`), ${BAD_ID}`,
    404: 'No such session for this owner, or deleted; or no such turn in it (`turn_not_found`)',
    503: DATABASE_UNAVAILABLE,
  })
  async turn(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Param('turnId', TurnIdPipe) turnId: string,
    @Headers('last-event-id') header: string | undefined,
    @Query('lastEventId') query: string | undefined,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return this.write(await this.streams.ofTurn(owner, id, turnId, header ?? query), res);
  }

  private write(events$: Observable<StampedEvent>, res: Response): Observable<null> {
    return writeEventStream(events$, res, { pingSeconds: this.settings.SSE_PING_SECONDS, retryMs: this.settings.SSE_RETRY_MS });
  }
}
