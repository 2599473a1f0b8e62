import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';

/** What every turn route's body may say besides its input. */
export class TurnRequestDto {
  @ApiPropertyOptional({
    enum: ['cancel', 'continue'],
    description:
      'What the turn does when the client leaves: `cancel` stops it (the LLM request is aborted, the text so far is stored as interrupted); ' +
      '`continue` runs it to its end, to be joined on `GET .../turns/{turnId}/stream`. Default: the `ON_DISCONNECT` setting (`cancel`).',
  })
  @IsOptional()
  @IsIn(['cancel', 'continue'])
  onDisconnect?: 'cancel' | 'continue';
}
