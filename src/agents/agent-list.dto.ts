import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { AGENT_TYPES, type AgentType } from './agent-definition.js';
import { TOOL_NAMES, type ToolName } from './tools.js';

export class ToolRestrictionDto {
  @ApiPropertyOptional({
    type: [String],
    description: "Workspace-relative globs the tool's path argument must match.",
    example: ['**/*.md'],
  })
  pathGlobs?: string[];
}

export class AgentDto {
  @ApiProperty({ enum: AGENT_TYPES, example: 'coder' })
  type: AgentType;

  @ApiProperty({ example: 'Coder' })
  name: string;

  @ApiProperty({ example: 'Implements changes in the workspace.' })
  description: string;

  @ApiProperty({ enum: TOOL_NAMES, isArray: true, description: 'The tools offered to this agent.' })
  tools: ToolName[];

  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/ToolRestrictionDto' },
    description: 'Limits per tool name, beyond being allowed.',
    example: { write_file: { pathGlobs: ['**/*.md'] } },
  })
  restrictions: Record<string, ToolRestrictionDto>;
}

export class AgentListDto {
  @ApiProperty({ type: [AgentDto] })
  items: AgentDto[];
}
