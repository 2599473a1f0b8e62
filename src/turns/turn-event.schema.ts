import { applyDecorators, Type } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiResponse, ApiSchema, getSchemaPath } from '@nestjs/swagger';
import { MessageView } from '../messages/message.dto.js';
import { STREAM_ERROR_CODES, type DoneStatus, type StreamErrorCode, type TurnEvent } from './protocol/turn-event.js';
import { UsageData } from '../common/usage.js';
import { DONE_STATUSES } from '../common/turn-statuses.js';

/*
 * The OpenAPI schemas of the stream's events: one named schema per event, `{id, event, data}` as
 * the SSE fields carry them. Each data class implements the event's type in `turn-event.ts`, so a
 * field added there and not here fails the type-check; `EVENT_SCHEMAS` fails it for a new event.
 */

type DataOf<K extends TurnEvent['type']> = Extract<TurnEvent, { type: K }>['data'];

class SseFields {
  @ApiProperty({
    description:
      'The SSE `id:` field: increases over the whole session (across turns, reconnects and instances); send it back as `Last-Event-ID`',
    example: '4200000017',
  })
  id: string;
}

export class TurnStartData implements DataOf<'turn'> {
  @ApiProperty({ format: 'uuid' }) turnId: string;
  @ApiProperty({ format: 'uuid' }) sessionId: string;
  @ApiProperty({ example: 'orchestrator', description: 'The agent the turn starts with' }) agent: string;
}

export class AgentSwitchedData implements DataOf<'agent_switched'> {
  @ApiProperty({ example: 'orchestrator' }) from: string;
  @ApiProperty({ example: 'coder' }) to: string;
  @ApiProperty() reason: string;
}

export class TokenData implements DataOf<'token'> {
  @ApiProperty({ description: 'Assistant text as the LLM produces it' }) delta: string;
}

/** In the design's protocol; sent when the provider streams a reasoning model's thinking. */
export class ReasoningData {
  @ApiProperty({ description: "A reasoning model's thinking, as the provider streams it" }) delta: string;
}

export class MessageData implements DataOf<'message'> {
  @ApiProperty({ type: MessageView, description: 'A message just committed' }) message: MessageView;
}

export class ToolCallData implements DataOf<'tool_call'> {
  @ApiProperty({ example: 'call_abc123' }) toolCallId: string;
  @ApiProperty({ example: 'read_file' }) name: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Parsed JSON', example: { path: 'README.md' } })
  arguments: Record<string, unknown>;
}

export class ApprovalRequiredData implements DataOf<'approval_required'> {
  @ApiProperty({ format: 'uuid' }) approvalId: string;
  @ApiProperty({ example: 'call_abc123' }) toolCallId: string;
  @ApiProperty({ example: 'write_file' }) name: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Parsed JSON' }) arguments: Record<string, unknown>;
  @ApiProperty({ description: 'Why the call needs approval' }) reason: string;
  @ApiProperty() expiresAt: Date;
}

export class ErrorData implements DataOf<'error'> {
  @ApiProperty({
    enum: STREAM_ERROR_CODES,
    example: 'llm_unavailable',
    description: 'The same codes as the error bodies of the HTTP answers',
  })
  code: StreamErrorCode;
  @ApiProperty() message: string;
}

export class DoneData implements DataOf<'done'> {
  @ApiProperty({ format: 'uuid' }) turnId: string;
  @ApiProperty({ enum: DONE_STATUSES }) status: DoneStatus;
  @ApiPropertyOptional({ type: UsageData }) usage?: UsageData;
}

/** One event's schema, `{id, event: <name>, data: <data class>}`, named after its data class (`TokenData` → `TokenEvent`). */
function eventSchema(name: string, data: Type, description: string): Type {
  class EventSchema extends SseFields {
    @ApiProperty({ enum: [name], description: 'The SSE `event:` field' }) event: string;
    @ApiProperty({ type: data, description: 'The SSE `data:` field, as JSON' }) data: unknown;
  }
  ApiSchema({ name: data.name.replace(/Data$/, 'Event'), description })(EventSchema);
  return EventSchema;
}

/** Every event of the protocol, in the order a client meets them. */
export const EVENT_SCHEMAS: Record<TurnEvent['type'] | 'reasoning', Type> = {
  turn: eventSchema('turn', TurnStartData, 'Always first'),
  agent_switched: eventSchema('agent_switched', AgentSwitchedData, 'Another agent takes over the turn'),
  token: eventSchema('token', TokenData, 'Assistant text as the LLM produces it'),
  reasoning: eventSchema('reasoning', ReasoningData, "A reasoning model's thinking, when the provider streams it"),
  message: eventSchema('message', MessageData, 'After a message is committed'),
  tool_call: eventSchema('tool_call', ToolCallData, 'The client must run this tool and post the result to `tool-results`'),
  approval_required: eventSchema(
    'approval_required',
    ApprovalRequiredData,
    'A risky tool call waits for a decision on `approvals/{approvalId}`',
  ),
  error: eventSchema('error', ErrorData, 'Something failed; `done` follows'),
  done: eventSchema('done', DoneData, "Always last: the turn's status is committed before it is sent"),
};

const STREAM_DESCRIPTION =
  'A stream of Server-Sent Events, each one of the event schemas below (`event:` names it, `data:` is its JSON, `id:` its place in the session). ' +
  'It opens with a `retry:` line; `turn` comes first and `done` last; a `: ping` comment line (never a block of its own) keeps the connection open while nothing else is sent. ' +
  'A request refused before the stream starts is answered with JSON instead.';

const REPEAT =
  ' A repeat of an earlier request with the same `Idempotency-Key` starts nothing and answers the first request’s turn stream (replay, then live), after its `Last-Event-ID` if sent.';

/** `Idempotency-Key` on the routes that create something. */
export const IDEMPOTENCY_KEY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Up to 255 visible ASCII characters (e.g. a UUID). For 24 h a repeat with the same key starts nothing and answers what the first request made; the same key with another request is a 422.',
};

/** `Last-Event-ID`: where a resumed stream starts. */
export const LAST_EVENT_ID_HEADER = {
  name: 'Last-Event-ID',
  required: false,
  description: 'The `id:` of the last event received: the stream starts after it (EventSource clients send it when they reconnect)',
};

/** The 200 of a turn route: `text/event-stream` whose events are a `oneOf` of the named event schemas. A joined stream may be a 204. */
export function ApiTurnStream(options: { joined?: boolean } = {}): MethodDecorator {
  const schemas = Object.values(EVENT_SCHEMAS);
  return applyDecorators(
    ApiExtraModels(...schemas),
    ApiResponse({
      status: 204,
      description: options.joined
        ? 'Nothing to stream: no event after `Last-Event-ID` and no turn running, or no turn yet (EventSource clients stop reconnecting)'
        : 'A repeat whose turn has ended and sent everything after its `Last-Event-ID`',
    }),
    ApiOkResponse({
      description: STREAM_DESCRIPTION + (options.joined ? '' : REPEAT),
      content: {
        'text/event-stream': {
          schema: {
            oneOf: schemas.map((schema) => ({ $ref: getSchemaPath(schema) })),
            discriminator: {
              propertyName: 'event',
              mapping: Object.fromEntries(Object.entries(EVENT_SCHEMAS).map(([name, schema]) => [name, getSchemaPath(schema)])),
            },
          },
        },
      },
    }),
  );
}
