import { Controller, Get } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AgentCatalog } from './agent-catalog.js';
import { AgentListDto, ToolRestrictionDto } from './agent-list.dto.js';

@ApiTags('agents')
@ApiExtraModels(ToolRestrictionDto)
@Controller('v1/agents')
export class AgentsController {
  constructor(private readonly catalog: AgentCatalog) {}

  @Get()
  @ApiOperation({ summary: 'The agents this instance offers, with their tools and restrictions' })
  @ApiOkResponse({ type: AgentListDto })
  list(): AgentListDto {
    return {
      items: this.catalog.list().map(({ type, name, description, tools, restrictions }) => ({
        type,
        name,
        description,
        tools,
        restrictions,
      })),
    };
  }
}
