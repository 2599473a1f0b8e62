import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** OpenAPI description only: the body is validated by the protocol's own schema (see run-input.ts). */
class AgUiMessageDoc {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['user', 'assistant', 'tool', 'system', 'developer', 'activity', 'reasoning'] }) role: string;
  @ApiPropertyOptional({ description: 'Text, or text content parts' }) content?: string;
  @ApiPropertyOptional({ description: 'On a tool message: the call it answers' }) toolCallId?: string;
  @ApiPropertyOptional({ description: 'On a tool message: why the tool failed' }) error?: string;
  @ApiPropertyOptional({ type: [Object], description: 'On an assistant message: its tool calls (OpenAI shape)' })
  toolCalls?: unknown[];
}

class AgUiToolDoc {
  @ApiProperty({ example: 'read_file' }) name: string;
  @ApiProperty() description: string;
  @ApiPropertyOptional({ type: Object, description: 'JSON Schema of the arguments' }) parameters?: unknown;
}

class ResumeEntryDoc {
  @ApiProperty({ format: 'uuid', description: 'The id of the interrupt (the approval) being answered' }) interruptId: string;
  @ApiProperty({ enum: ['resolved', 'cancelled'], description: '`cancelled` rejects the held call' }) status: string;
  @ApiPropertyOptional({
    type: Object,
    description: 'With `resolved`: `{decision: "approve" | "edit" | "reject", arguments?, feedback?}`',
    example: { decision: 'edit', arguments: { path: 'notes/plan.md', content: 'draft' } },
  })
  payload?: unknown;
}

export class RunAgentInputDoc {
  @ApiProperty({ description: 'The session: its UUID, or any other string naming a thread of this key' }) threadId: string;
  @ApiProperty({ description: 'Names this run; echoed in RUN_STARTED and RUN_FINISHED' }) runId: string;
  @ApiProperty({ type: [AgUiMessageDoc], description: 'The conversation as the client has it; the stored history is the truth' })
  messages: AgUiMessageDoc[];
  @ApiPropertyOptional({ type: [AgUiToolDoc], description: 'The tools the client can run' }) tools?: AgUiToolDoc[];
  @ApiPropertyOptional({ type: [Object], description: 'Accepted and not used' }) context?: unknown[];
  @ApiPropertyOptional({ type: Object, description: 'Accepted and not used' }) state?: unknown;
  @ApiPropertyOptional({ type: Object, description: 'Accepted and not used' }) forwardedProps?: unknown;
  @ApiPropertyOptional({ type: [ResumeEntryDoc], description: 'Answers to the interrupts that ended the previous run' })
  resume?: ResumeEntryDoc[];
}
