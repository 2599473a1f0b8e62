import { BadRequestException, Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { Owner } from '../auth/owner.decorator.js';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { SessionIdPipe } from '../sessions/sessions.controller.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { AgentCatalog } from './agent-catalog.js';
import { AgentSwitches } from './agent-switches.js';

export class SwitchAgentDto {
  @ApiProperty({ example: 'architect' })
  @IsString()
  @MaxLength(50)
  agentType: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

class AgentSwitchView {
  @ApiProperty() from: string;
  @ApiProperty() to: string;
  @ApiProperty() reason: string;
  @ApiProperty() at: Date;
}

export class SessionAgentView {
  @ApiProperty() current: string;
  @ApiProperty() switchCount: number;
  @ApiProperty({ type: [AgentSwitchView] }) history: AgentSwitchView[];
}

const NOT_FOUND = 'No such session for this owner, or deleted';

/** A session's current agent, its switch history, and switching by hand. */
@ApiTags('agents')
@ApiParam({ name: 'id', format: 'uuid', description: 'The session' })
@Controller('v1/sessions/:id/agent')
export class SessionAgentController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly catalog: AgentCatalog,
    private readonly switches: AgentSwitches,
  ) {}

  @Get()
  @ApiOperation({ summary: "The session's current agent and its switch history" })
  @ApiOkResponse({ type: SessionAgentView })
  @ApiErrorResponses({ 400: '`id` is not a UUID', 404: NOT_FOUND, 503: DATABASE_UNAVAILABLE })
  async get(@Owner() owner: string, @Param('id', SessionIdPipe) id: string): Promise<SessionAgentView> {
    const session = await this.sessions.get(owner, id);
    const history = await this.switches.history(id);
    return { current: session.currentAgent, switchCount: history.length, history };
  }

  @Put()
  @ApiOperation({ summary: 'Switch the session to another agent by hand' })
  @ApiOkResponse({ type: SessionAgentView })
  @ApiErrorResponses({
    400: '`id` is not a UUID, a bad body, or an unknown agent (`unknown_agent`)',
    404: NOT_FOUND,
    409: 'A turn is running (`session_busy`)',
    503: DATABASE_UNAVAILABLE,
  })
  async switch(@Owner() owner: string, @Param('id', SessionIdPipe) id: string, @Body() body: SwitchAgentDto): Promise<SessionAgentView> {
    if (!this.catalog.has(body.agentType)) {
      const known = this.catalog
        .list()
        .map((a) => a.type)
        .join(', ');
      throw new BadRequestException({ statusCode: 400, code: 'unknown_agent', message: `agentType must be one of: ${known}` });
    }
    await this.sessions.get(owner, id);
    await this.switches.switchByHand(owner, id, body.agentType, body.reason);
    return this.get(owner, id);
  }
}
