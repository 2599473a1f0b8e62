import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { IdempotencyKeyHeader } from '../idempotency/idempotency-key.decorator.js';
import { claimOf } from '../idempotency/idempotency-keys.js';
import { AgentCatalog } from '../agents/agent-catalog.js';
import { Owner } from '../auth/owner.decorator.js';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { SessionIdPipe } from '../common/uuid-param.pipe.js';
import { CreateSessionDto, ListSessionsQuery, SessionPage, SessionView, UpdateSessionDto } from './session.dto.js';
import { SessionsService } from './sessions.service.js';

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
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Up to 255 visible ASCII characters (e.g. a UUID). For 24 h a repeat with the same key creates nothing and answers the same session (with `Idempotent-Replayed: true`); the same key with another body is a 422.',
  })
  @ApiCreatedResponse({ type: SessionView })
  @ApiErrorResponses({
    400: 'Invalid body, an unknown agent, or a malformed `Idempotency-Key` (`bad_idempotency_key`)',
    404: 'A repeat whose session was deleted since',
    422: 'The `Idempotency-Key` was used with another request (`idempotency_key_reused`)',
    503: DATABASE_UNAVAILABLE,
  })
  async create(
    @Owner() owner: string,
    @Body() body: CreateSessionDto,
    @IdempotencyKeyHeader() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SessionView> {
    const agent = this.agents.known(body.agentType ?? this.agents.defaultAgent().type);
    if (!key) return this.sessions.create(owner, { title: body.title, agent });
    const { session, repeated } = await this.sessions.createOnce(
      owner,
      { title: body.title, agent },
      claimOf(key, 'POST /v1/sessions', body),
    );
    if (repeated) res.setHeader('Idempotent-Replayed', 'true');
    return session;
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
