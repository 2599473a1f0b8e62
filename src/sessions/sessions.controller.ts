import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AgentCatalog } from '../agents/agent-catalog.js';
import { Owner } from '../auth/owner.decorator.js';
import { SessionIdPipe } from '../common/uuid-param.pipe.js';
import { CreateSessionDto, ListSessionsQuery, SessionPage, SessionView, UpdateSessionDto } from './session.dto.js';
import { SessionsService } from './sessions.service.js';

@ApiTags('sessions')
@Controller('v1/sessions')
export class SessionsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly agents: AgentCatalog,
  ) {}

  @Post()
  @ApiCreatedResponse({ type: SessionView })
  create(@Owner() owner: string, @Body() body: CreateSessionDto): Promise<SessionView> {
    const agent = this.agents.known(body.agentType ?? this.agents.defaultAgent().type);
    return this.sessions.create(owner, { title: body.title, agent });
  }

  @Get()
  @ApiOkResponse({ type: SessionPage })
  list(@Owner() owner: string, @Query() query: ListSessionsQuery): Promise<SessionPage> {
    return this.sessions.list(owner, query.limit, query.cursor);
  }

  @Get(':id')
  @ApiOkResponse({ type: SessionView })
  @ApiNotFoundResponse({ description: 'No such session for this owner, or deleted' })
  get(@Owner() owner: string, @Param('id', SessionIdPipe) id: string): Promise<SessionView> {
    return this.sessions.get(owner, id);
  }

  @Patch(':id')
  @ApiOkResponse({ type: SessionView })
  rename(@Owner() owner: string, @Param('id', SessionIdPipe) id: string, @Body() body: UpdateSessionDto): Promise<SessionView> {
    return this.sessions.rename(owner, id, body.title);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Soft-deleted: the session answers 404 from now on' })
  async remove(@Owner() owner: string, @Param('id', SessionIdPipe) id: string): Promise<void> {
    await this.sessions.softDelete(owner, id);
  }
}
