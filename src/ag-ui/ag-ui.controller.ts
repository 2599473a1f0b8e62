import { Body, Controller, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { Owner } from '../auth/owner.decorator.js';
import { Settings } from '../config/settings.js';
import { IdempotencyKeyHeader, isIdempotencyKey } from '../idempotency/idempotency-key.decorator.js';
import { claimOf } from '../idempotency/idempotency-keys.js';
import { AgUiRuns } from './ag-ui-runs.js';
import { negotiatedMediaType, writeAgUiStream } from './ag-ui-stream.js';
import { EventTranslation } from './event-translation.js';
import { AG_UI_IDEMPOTENCY_KEY_HEADER, RunAgentInputDoc } from './run-input.doc.js';
import { invalidInput, parseRunInput } from './run-input.js';

const STREAM_DOC =
  'AG-UI 1.0 events, as `text/event-stream` or, with `Accept: application/vnd.ag-ui.event+proto`, length-prefixed protobuf: ' +
  'RUN_STARTED; STEP_STARTED/STEP_FINISHED for each agent that works, with a CUSTOM `agent_switched` between two; TEXT_MESSAGE_*; ' +
  'TOOL_CALL_START/ARGS/END for calls the client must run (the run then finishes with `pendingToolCallIds`); MESSAGES_SNAPSHOT ' +
  '(the stored history, with the runtime’s ids); RUN_FINISHED with usage, and with an `interrupt` outcome while calls wait for ' +
  'approval — or RUN_ERROR with the runtime’s error code. Refused before the stream with JSON: 400 bad input (the message names ' +
  'the field), 404 a thread or interrupt this key does not have, 409 `session_busy` while another turn runs or an interrupt ' +
  'already answered, 410 an expired interrupt, 422 a `runId` (or `Idempotency-Key`) sent before with another body. ' +
  'The `runId` is the run’s idempotency key: the same run posted again starts nothing and answers the first one’s events ' +
  '(its stored events, then live). With `forwardedProps.onDisconnect: "continue"` a client that leaves does not stop the run.';

/** The AG-UI face of the runtime's turns; the Unit of Work interceptor spans the returned stream, as on the native routes. */
// Stated per response rather than with @ApiProduces, which would put the error bodies under these types too.
const STREAM_RESPONSE = {
  description: STREAM_DOC,
  content: {
    'text/event-stream': { schema: { type: 'string' } },
    'application/vnd.ag-ui.event+proto': { schema: { type: 'string', format: 'binary' } },
  },
};

const REFUSALS = {
  400:
    'A malformed RunAgentInput (`details` names the field, e.g. `forwardedProps.onDisconnect`), an unknown agent, nothing new to run ' +
    '(`nothing_to_run`), or a malformed `Idempotency-Key` (`bad_idempotency_key`)',
  404: 'The thread belongs to another key or was deleted (`session_not_found`), or a resumed interrupt is unknown',
  406: 'The request’s `Accept` takes neither `text/event-stream` nor `application/vnd.ag-ui.event+proto` (`not_acceptable`)',
  409: 'Another turn of the thread is running (`session_busy`), or the interrupt was already answered (`approval_decided`)',
  410: 'The resumed interrupt expired (`approval_expired`)',
  422: 'The `runId` (or `Idempotency-Key`) was used with another request (`idempotency_key_reused`)',
  503: DATABASE_UNAVAILABLE,
};

@ApiTags('ag-ui')
@ApiHeader(AG_UI_IDEMPOTENCY_KEY_HEADER)
@Controller('v1/ag-ui')
export class AgUiController {
  constructor(
    private readonly runs: AgUiRuns,
    private readonly settings: Settings,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Run the thread’s current agent (a new thread starts with the orchestrator)' })
  @ApiBody({ type: RunAgentInputDoc })
  @ApiOkResponse(STREAM_RESPONSE)
  @ApiErrorResponses(REFUSALS)
  run(
    @Owner() owner: string,
    @Body() body: unknown,
    @IdempotencyKeyHeader() key: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return this.stream(owner, body, undefined, key, req, res);
  }

  @Post('agents/:agentType')
  @ApiOperation({ summary: 'Run one agent: a new message goes straight to it (e.g. `coder`)' })
  @ApiBody({ type: RunAgentInputDoc })
  @ApiOkResponse(STREAM_RESPONSE)
  @ApiErrorResponses(REFUSALS)
  runAgent(
    @Owner() owner: string,
    @Param('agentType') agentType: string,
    @Body() body: unknown,
    @IdempotencyKeyHeader() key: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return this.stream(owner, body, agentType, key, req, res);
  }

  private async stream(owner: string, body: unknown, agentType: string | undefined, key: string | undefined, req: Request, res: Response) {
    const mediaType = negotiatedMediaType(req);
    const input = parseRunInput(body);
    if (key === undefined && !isIdempotencyKey(input.runId)) {
      throw invalidInput(
        'runId',
        'must be 1 to 255 visible ASCII characters, as it is the run’s idempotency key (or send an Idempotency-Key)',
      );
    }
    const route = agentType === undefined ? 'POST /v1/ag-ui' : `POST /v1/ag-ui/agents/${agentType}`;
    const options = { onDisconnect: input.onDisconnect, idempotency: claimOf(key ?? input.runId, route, body) };
    const { sessionId, events$ } = await this.runs.start(owner, input, agentType, options);
    const translation = new EventTranslation({ threadId: input.threadId, runId: input.runId, sessionId });
    return writeAgUiStream(events$, translation, () => this.runs.ending(sessionId), res, mediaType, this.settings.SSE_PING_SECONDS);
  }
}
