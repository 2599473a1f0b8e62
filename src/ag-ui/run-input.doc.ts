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

/** `Idempotency-Key` on the AG-UI routes: optional, as the `runId` is the run's key already. */
export const AG_UI_IDEMPOTENCY_KEY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Up to 255 visible ASCII characters; when sent it is the run’s idempotency key instead of its `runId`. For 24 h the same key ' +
    'with the same body starts nothing and answers the first run’s events; with another body it is a 422.',
};

class ForwardedPropsDoc {
  @ApiPropertyOptional({
    enum: ['cancel', 'continue'],
    description:
      'What the run does when the client leaves: `cancel` stops it (the text so far is stored as interrupted); `continue` runs it to ' +
      'its end, stored for the next run and on `GET /v1/sessions/{id}/turns/{turnId}/stream`. Default: the `ON_DISCONNECT` setting.',
  })
  onDisconnect?: string;
}

export class RunAgentInputDoc {
  @ApiProperty({ description: 'The session: its UUID, or any other string naming a thread of this key' }) threadId: string;
  @ApiProperty({
    description:
      'Names this run; echoed in RUN_STARTED and RUN_FINISHED. It is the run’s idempotency key (unless an `Idempotency-Key` is sent), ' +
      'so up to 255 visible ASCII characters: the same run posted again starts nothing and answers the first one’s events; ' +
      'the same `runId` with another body is a 422 `idempotency_key_reused`',
    example: '6b1d3f5e-2c4a-4f8e-9a7b-0c1d2e3f4a5b',
  })
  runId: string;
  @ApiProperty({ type: [AgUiMessageDoc], description: 'The conversation as the client has it; the stored history is the truth' })
  messages: AgUiMessageDoc[];
  @ApiPropertyOptional({ type: [AgUiToolDoc], description: 'The tools the client can run' }) tools?: AgUiToolDoc[];
  @ApiPropertyOptional({ type: [Object], description: 'Accepted and not used' }) context?: unknown[];
  @ApiPropertyOptional({ type: Object, description: 'Accepted and not used' }) state?: unknown;
  @ApiPropertyOptional({ type: ForwardedPropsDoc, description: 'Other properties are accepted and not used' })
  forwardedProps?: ForwardedPropsDoc;
  @ApiPropertyOptional({ type: [ResumeEntryDoc], description: 'Answers to the interrupts that ended the previous run' })
  resume?: ResumeEntryDoc[];
}
