import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, ValidateIf } from 'class-validator';
import { TurnRequestDto } from '../common/turn-request.dto.js';
import { UsageData } from '../common/usage.js';
import { TURN_STATUSES, type TurnStatus } from '../common/turn-statuses.js';
import type { StoredToolCall } from './message.entity.js';

export const MAX_CONTENT_LENGTH = 100_000;

export class PostMessageDto extends TurnRequestDto {
  @ApiProperty({ maxLength: MAX_CONTENT_LENGTH, example: 'Explain what this project does' })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_CONTENT_LENGTH)
  @Matches(/\S/, { message: 'content must not be blank' })
  content: string;

  @ApiPropertyOptional({ example: 'coder', description: 'Hand this message straight to this agent' })
  @IsOptional()
  @IsString()
  @MaxLength(50)
  agentType?: string;
}

export class ToolResultDto extends TurnRequestDto {
  @ApiProperty({ example: 'call_abc123' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  toolCallId: string;

  @ApiPropertyOptional({ description: 'What the tool printed or returned' })
  @ValidateIf((o: ToolResultDto) => o.error === undefined)
  @IsString({ message: 'output must be a string (give output or error)' })
  @MaxLength(MAX_CONTENT_LENGTH)
  output?: string;

  @ApiPropertyOptional({ description: 'Why the tool failed' })
  @IsOptional()
  @IsString()
  @MaxLength(MAX_CONTENT_LENGTH)
  error?: string;
}

export class ListMessagesQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page' })
  @IsOptional()
  @IsString()
  @Matches(/^\d{1,18}$/, { message: 'after must be a cursor returned by this API' }) // within bigint
  after?: string;
}

export class ToolCallView implements StoredToolCall {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['function'] }) type: 'function';
  @ApiProperty({ example: { name: 'read_file', arguments: '{"path":"README.md"}' } })
  function: { name: string; arguments: string };
}

export class MessageView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: ['user', 'assistant', 'tool', 'system'] }) role: 'user' | 'assistant' | 'tool' | 'system';
  @ApiProperty({ nullable: true, type: String }) content: string | null;
  @ApiPropertyOptional({ type: [ToolCallView] }) toolCalls?: StoredToolCall[];
  @ApiPropertyOptional() toolCallId?: string;
  @ApiProperty({ nullable: true, type: String }) agent: string | null;
  @ApiProperty({ enum: ['complete', 'interrupted'] }) status: 'complete' | 'interrupted';
  @ApiPropertyOptional({ type: Object }) metadata?: Record<string, unknown>;
  @ApiProperty() createdAt: Date;
}

/** The turn that wrote a message, as its `done` event told it: a history shows each turn's end without its stream. */
export class TurnSummary {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: TURN_STATUSES, description: "`running` until the turn's `done`" }) status: TurnStatus;
  @ApiPropertyOptional({ type: UsageData, description: 'Absent when the LLM reported none' }) usage?: UsageData;
}

export class HistoryMessageView extends MessageView {
  @ApiProperty({ type: TurnSummary, nullable: true, description: "Null for a message written outside a turn (the expiry sweep's)" })
  turn: TurnSummary | null;
}

export class MessagePage {
  @ApiProperty({ type: [HistoryMessageView] }) items: HistoryMessageView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}

export class CancelResult {
  @ApiProperty({ description: 'Whether a running turn was told to stop' }) cancelled: boolean;
}
