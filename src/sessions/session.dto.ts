import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';

export class CreateSessionDto {
  @ApiPropertyOptional({ maxLength: 200, example: 'Refactor the parser' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  title?: string;

  @ApiPropertyOptional({ example: 'coder', description: 'Start with this agent instead of the orchestrator' })
  @IsOptional()
  @IsString()
  @MaxLength(50)
  agentType?: string;
}

export class UpdateSessionDto {
  @ApiProperty({ maxLength: 200, example: 'Parser refactoring' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  @Matches(/\S/, { message: 'title must not be blank' })
  title: string;
}

export class ListSessionsQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor must be a cursor returned by this API' })
  cursor?: string;
}

export class SessionView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ nullable: true, type: String }) title: string | null;
  @ApiProperty({ example: 'orchestrator' }) currentAgent: string;
  @ApiProperty({ enum: ['idle', 'busy'] }) status: 'idle' | 'busy';
  @ApiProperty() messageCount: number;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;
  @ApiProperty() lastActivityAt: Date;
}

export class SessionPage {
  @ApiProperty({ type: [SessionView] }) items: SessionView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}
