import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Owner } from '../auth/owner.decorator.js';
import { SessionIdPipe } from '../sessions/sessions.controller.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { ListMessagesQuery, MessagePage } from './message.dto.js';
import { MessagesService } from './messages.service.js';

/** A session's history, page by page in conversation order. */
@ApiTags('turns')
@Controller('v1/sessions/:id')
export class MessagesController {
  constructor(
    private readonly messages: MessagesService,
    private readonly sessions: SessionsService,
  ) {}

  @Get('messages')
  @ApiOkResponse({ type: MessagePage })
  @ApiNotFoundResponse()
  async listMessages(
    @Owner() owner: string,
    @Param('id', SessionIdPipe) id: string,
    @Query() query: ListMessagesQuery,
  ): Promise<MessagePage> {
    await this.sessions.get(owner, id);
    return this.messages.page(id, query.limit, query.after);
  }
}
