import { ApiProperty } from '@nestjs/swagger';

/** A turn's token usage, as `done` and the history's turn summaries give it. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export class UsageData implements Usage {
  @ApiProperty() promptTokens: number;
  @ApiProperty() completionTokens: number;
  @ApiProperty() totalTokens: number;
}

/** No usage when the LLM reported none (0 or unknown), as `done` leaves it out. */
export function usageOf(input: number | null, output: number | null): Usage | undefined {
  if (!input && !output) return undefined;
  const promptTokens = input ?? 0;
  const completionTokens = output ?? 0;
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}
