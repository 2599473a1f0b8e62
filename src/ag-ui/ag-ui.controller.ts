import { Body, Controller, Headers, Param, Post, Res } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Observable } from 'rxjs';
import { ApiErrorResponses, DATABASE_UNAVAILABLE } from '../common/api-error-responses.js';
import { Owner } from '../auth/owner.decorator.js';
import { Settings } from '../config/settings.js';
import { AgUiRuns } from './ag-ui-runs.js';
import { writeAgUiStream } from './ag-ui-stream.js';
import { EventTranslation } from './event-translation.js';
import { RunAgentInputDoc } from './run-input.doc.js';
import { parseRunInput } from './run-input.js';

const STREAM_DOC =
  'AG-UI 1.0 events, as `text/event-stream` or, with `Accept: application/vnd.ag-ui.event+proto`, length-prefixed protobuf: ' +
  'RUN_STARTED; STEP_STARTED/STEP_FINISHED for each agent that works, with a CUSTOM `agent_switched` between two; TEXT_MESSAGE_*; ' +
  'TOOL_CALL_START/ARGS/END for calls the client must run (the run then finishes with `pendingToolCallIds`); MESSAGES_SNAPSHOT ' +
  '(the stored history, with the runtime’s ids); RUN_FINISHED with usage, and with an `interrupt` outcome while calls wait for ' +
  'approval — or RUN_ERROR with the runtime’s error code. Refused before the stream with JSON: 400 bad input (the message names ' +
  'the field), 404 a thread or interrupt this key does not have, 409 `session_busy` while another turn runs or an interrupt ' +
  'already answered, 410 an expired interrupt.';

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
  400: 'A malformed RunAgentInput (`details` names the field), an unknown agent, or nothing new to run (`nothing_to_run`)',
  404: 'The thread belongs to another key or was deleted (`session_not_found`), or a resumed interrupt is unknown',
  409: 'Another turn of the thread is running (`session_busy`), or the interrupt was already answered (`approval_decided`)',
  410: 'The resumed interrupt expired (`approval_expired`)',
  503: DATABASE_UNAVAILABLE,
};

@ApiTags('ag-ui')
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
    @Headers('accept') accept: string | undefined,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return this.stream(owner, body, undefined, accept, res);
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
    @Headers('accept') accept: string | undefined,
    @Res() res: Response,
  ): Promise<Observable<null>> {
    return this.stream(owner, body, agentType, accept, res);
  }

  private async stream(owner: string, body: unknown, agentType: string | undefined, accept: string | undefined, res: Response) {
    const input = parseRunInput(body);
    const { sessionId, events$ } = await this.runs.start(owner, input, agentType);
    const translation = new EventTranslation({ threadId: input.threadId, runId: input.runId, sessionId });
    return writeAgUiStream(events$, translation, () => this.runs.ending(sessionId), res, accept, this.settings.SSE_PING_SECONDS);
  }
}
