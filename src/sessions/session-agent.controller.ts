import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { Owner } from '../auth/owner.decorator.js';
import { SessionIdPipe } from '../common/uuid-param.pipe.js';
import { SessionsService } from './sessions.service.js';
import { AgentCatalog } from '../agents/agent-catalog.js';
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

/** A session's current agent, its switch history, and switching by hand. */
@ApiTags('agents')
@Controller('v1/sessions/:id/agent')
export class SessionAgentController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly catalog: AgentCatalog,
    private readonly switches: AgentSwitches,
  ) {}

  @Get()
  @ApiOkResponse({ type: SessionAgentView })
  @ApiNotFoundResponse()
  async get(@Owner() owner: string, @Param('id', SessionIdPipe) id: string): Promise<SessionAgentView> {
    const session = await this.sessions.get(owner, id);
    const history = await this.switches.history(id);
    return { current: session.currentAgent, switchCount: history.length, history };
  }

  @Put()
  @ApiOkResponse({ type: SessionAgentView })
  @ApiNotFoundResponse()
  @ApiConflictResponse({ description: 'A turn is running' })
  async switch(@Owner() owner: string, @Param('id', SessionIdPipe) id: string, @Body() body: SwitchAgentDto): Promise<SessionAgentView> {
    this.catalog.known(body.agentType);
    await this.sessions.get(owner, id);
    await this.switches.switchByHand(owner, id, body.agentType, body.reason);
    return this.get(owner, id);
  }
}
