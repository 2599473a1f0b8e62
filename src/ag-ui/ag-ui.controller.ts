import { Body, Controller, Headers, Param, Post, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConflictResponse,
  ApiGoneResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import type { Observable } from 'rxjs';
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
  @ApiProduces('text/event-stream', 'application/vnd.ag-ui.event+proto')
  @ApiOkResponse({ description: STREAM_DOC })
  @ApiBadRequestResponse()
  @ApiNotFoundResponse()
  @ApiConflictResponse()
  @ApiGoneResponse()
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
  @ApiProduces('text/event-stream', 'application/vnd.ag-ui.event+proto')
  @ApiOkResponse({ description: STREAM_DOC })
  @ApiBadRequestResponse()
  @ApiNotFoundResponse()
  @ApiConflictResponse()
  @ApiGoneResponse()
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
