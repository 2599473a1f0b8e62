import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AgentCatalog } from '../agents/agent-catalog.js';
import { Owner } from '../auth/owner.decorator.js';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { CreateSessionDto, ListSessionsQuery, SessionPage, SessionView, UpdateSessionDto } from './session.dto.js';
import { SessionsService } from './sessions.service.js';

export const SessionIdPipe = new ParseUUIDPipe({
  version: '4',
  exceptionFactory: () => new BadRequestException({ statusCode: 400, code: 'bad_session_id', message: 'id must be a UUID' }),
});

const NOT_FOUND = 'No such session for this owner, or deleted';

@ApiTags('sessions')
@Controller('v1/sessions')
export class SessionsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly agents: AgentCatalog,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Start a session (a conversation), with the orchestrator unless `agentType` is given' })
  @ApiCreatedResponse({ type: SessionView })
  @ApiErrorResponses({ 400: 'Invalid body, or an unknown agent', 503: DATABASE_UNAVAILABLE })
  create(@Owner() owner: string, @Body() body: CreateSessionDto): Promise<SessionView> {
    const agent = body.agentType ?? this.agents.defaultAgent().type;
    if (!this.agents.has(agent)) {
      const known = this.agents
        .list()
        .map((a) => a.type)
        .join(', ');
      throw new BadRequestException({ statusCode: 400, code: 'unknown_agent', message: `agentType must be one of: ${known}` });
    }
    return this.sessions.create(owner, { title: body.title, agent });
  }

  @Get()
  @ApiOperation({ summary: "The owner's sessions, most recently active first" })
  @ApiOkResponse({ type: SessionPage })
  @ApiErrorResponses({ 400: 'A bad `limit` or `cursor`', 503: DATABASE_UNAVAILABLE })
  list(@Owner() owner: string, @Query() query: ListSessionsQuery): Promise<SessionPage> {
    return this.sessions.list(owner, query.limit, query.cursor);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One session' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: SessionView })
  @ApiErrorResponses({ 400: '`id` is not a UUID', 404: NOT_FOUND, 503: DATABASE_UNAVAILABLE })
  get(@Owner() owner: string, @Param('id', SessionIdPipe) id: string): Promise<SessionView> {
    return this.sessions.get(owner, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Rename a session' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: SessionView })
  @ApiErrorResponses({ 400: '`id` is not a UUID, or a bad title', 404: NOT_FOUND, 503: DATABASE_UNAVAILABLE })
  rename(@Owner() owner: string, @Param('id', SessionIdPipe) id: string, @Body() body: UpdateSessionDto): Promise<SessionView> {
    return this.sessions.rename(owner, id, body.title);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a session (softly: it answers 404 from then on)' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNoContentResponse({ description: 'Soft-deleted: the session answers 404 from now on' })
  @ApiErrorResponses({ 400: '`id` is not a UUID', 404: NOT_FOUND, 503: DATABASE_UNAVAILABLE })
  async remove(@Owner() owner: string, @Param('id', SessionIdPipe) id: string): Promise<void> {
    await this.sessions.softDelete(owner, id);
  }
}
