import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { Owner } from '../auth/owner.decorator.js';
import { SessionIdPipe } from '../sessions/sessions.controller.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { ListMessagesQuery, MessagePage } from './message.dto.js';
import { MessagesService } from './messages.service.js';

/** A session's history, page by page in conversation order. */
@ApiTags('turns')
@ApiParam({ name: 'id', format: 'uuid', description: 'The session' })
@Controller('v1/sessions/:id')
export class MessagesController {
  constructor(
    private readonly messages: MessagesService,
    private readonly sessions: SessionsService,
  ) {}

  @Get('messages')
  @ApiOperation({ summary: "The session's messages in conversation order, a page at a time" })
  @ApiOkResponse({ type: MessagePage })
  @ApiErrorResponses({
    400: '`id` is not a UUID, or a bad `limit` or `after`',
    404: 'No such session for this owner, or deleted',
    503: DATABASE_UNAVAILABLE,
  })
  async listMessages(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Query() query: ListMessagesQuery,
  ): Promise<MessagePage> {
    await this.sessions.get(owner, id);
    return this.messages.page(id, query.limit, query.after);
  }
}
