import {
  BadRequestException,
  BeforeApplicationShutdown,
  ConflictException,
  GoneException,
  Injectable,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { Observable } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { AgentCatalog } from '../agents/agent-catalog.js';
import { AgentSwitch, AgentSwitches } from '../agents/agent-switches.js';
import { classificationPrompt, classifyByKeywords, parseClassification } from '../agents/routing.js';
import { ToolCallCheck } from '../agents/tool-call-check.js';
import { isRuntimeTool } from '../agents/tools.js';
import { ApprovalExpiry } from '../approvals/approval-expiry.js';
import { ApprovalPolicy } from '../approvals/approval-policy.js';
import type { ApprovalEntity } from '../approvals/approval.entity.js';
import { approvalExpired, ApprovalsService, Decision, toApprovalView } from '../approvals/approvals.service.js';
import { Settings } from '../config/settings.js';
import { LlmClient } from '../llm/llm-client.js';
import { LlmError } from '../llm/llm-errors.js';
import type { LlmToolCall, ProviderState } from '../llm/llm-provider.js';
import { ShutdownState } from '../observability/shutdown-state.js';
import { SessionLease } from '../sessions/session-lease.js';
import { sessionBusy, SessionsService, titleFrom } from '../sessions/sessions.service.js';
import { isConnectionError, isUniqueViolation, StreamEndedError } from '../unit-of-work/transaction-errors.js';
import { UnitOfWork } from '../unit-of-work/unit-of-work.js';
import { UnitOfWorkContext } from '../unit-of-work/unit-of-work.context.js';
import { buildContext, HistoryEntry } from './llm-context.js';
import type { MessageEntity, StoredToolCall } from './message.entity.js';
import { MessagesService, NewMessage, toMessageView, unansweredCalls } from './messages.service.js';
import type { DoneStatus, TurnEvent, Usage } from './turn-event.js';

type StopReason = 'cancelled' | 'lease_lost' | 'shutdown';

/** One running turn: what the loop needs, passed explicitly from step to step. */
interface Turn {
  id: string;
  sessionId: string;
  agent: string;
  kind: 'message' | 'tool_result' | 'approval';
  uow: UnitOfWork;
  /** Aborted when the turn must stop: cancel, lost lease, shutdown. */
  stop: AbortController;
  /** The LLM's abort signal: the turn stops, or the client leaves. */
  signal: AbortSignal;
  emit: (event: TurnEvent) => void;
  usage: { input: number; output: number };
  steps: number;
  switches: number;
  /** The history as the turn's first step will send it, when the turn has just read it. */
  history?: HistoryEntry[];
  /** Text streamed by the current LLM step and not yet stored. */
  partial: string;
  /** The current LLM step's reasoning: stored with its answer, never as its text, and never sent back to the LLM. */
  reasoning: string;
  startedAt: number;
}

/** What starts a turn once its lease is taken; returns the status to end with, or `continue` for the agent loop. */
type Kickoff = (turn: Turn) => Promise<DoneStatus | 'continue'>;

const NOT_RUN_AFTER_NEW_MESSAGE = 'Not run: the user sent a new message before this tool call was answered.';

/** What an answer keeps besides its text: the step's reasoning, and what its provider wants back with it. */
function answerMetadata(turn: Turn, providerState?: ProviderState): Record<string, unknown> | null {
  if (!turn.reasoning && !providerState) return null;
  return { ...(turn.reasoning ? { reasoning: turn.reasoning } : {}), ...(providerState ? { providerState } : {}) };
}

function conflict(code: string, message: string): ConflictException {
  return new ConflictException({ statusCode: 409, code, message });
}

/**
 * Drives a turn: takes the session's lease, then runs the agent loop — LLM step, store the answer,
 * route tool calls (refuse, run in the runtime, hold for approval, or hand to the client) — and
 * ends with the turn's status committed before `done`. Every write is a named micro-transaction of
 * the stream's Unit of Work; nothing is held while the LLM streams.
 */
@Injectable()
export class TurnRunner implements BeforeApplicationShutdown {
  private readonly logger = new Logger(TurnRunner.name);
  /** This process's turns and the promise of each one's end. */
  private readonly running = new Map<string, { turn: Turn; work: Promise<void> }>();

  constructor(
    private readonly settings: Settings,
    private readonly uowContext: UnitOfWorkContext,
    private readonly sessions: SessionsService,
    private readonly lease: SessionLease,
    private readonly messages: MessagesService,
    private readonly llm: LlmClient,
    private readonly agents: AgentCatalog,
    private readonly toolCheck: ToolCallCheck,
    private readonly switches: AgentSwitches,
    private readonly policy: ApprovalPolicy,
    private readonly approvals: ApprovalsService,
    private readonly expiry: ApprovalExpiry,
    private readonly shutdown: ShutdownState,
    @InjectMetric('sse_streams_active') private readonly streamsActive: Gauge<string>,
    @InjectMetric('sse_stream_duration_seconds') private readonly streamDuration: Histogram<string>,
    @InjectMetric('turns_total') private readonly turnsTotal: Counter<string>,
    @InjectMetric('session_busy_rejections_total') private readonly busyRejections: Counter<string>,
  ) {}

  /** `POST .../messages`: a new user message. */
  async startMessage(owner: string, sessionId: string, input: { content: string; agentType?: string }): Promise<Observable<TurnEvent>> {
    if (input.agentType && !this.agents.has(input.agentType)) {
      throw new BadRequestException({
        statusCode: 400,
        code: 'unknown_agent',
        message: `agentType must be one of: ${this.agents
          .list()
          .map((a) => a.type)
          .join(', ')}`,
      });
    }
    const turn = await this.admit(owner, sessionId, 'message');
    return this.stream(turn, (t) => this.takeUserMessage(t, input.content, input.agentType));
  }

  /** `POST .../tool-results`: the client ran a tool. */
  async startToolResult(
    owner: string,
    sessionId: string,
    input: { toolCallId: string; output?: string; error?: string },
  ): Promise<Observable<TurnEvent>> {
    await this.sessions.get(owner, sessionId);
    const found = await this.messages.findCall(sessionId, input.toolCallId);
    if (!found) {
      throw new NotFoundException({
        statusCode: 404,
        code: 'tool_call_not_found',
        message: `no tool call ${input.toolCallId} in session ${sessionId}`,
      });
    }
    if (await this.messages.hasResult(sessionId, input.toolCallId)) {
      throw conflict('tool_result_exists', `tool call ${input.toolCallId} already has a result`);
    }
    const approval = (await this.approvals.list(sessionId)).items.find((a) => a.toolCallId === input.toolCallId);
    if (approval?.status === 'pending') {
      throw conflict('awaiting_approval', `tool call ${input.toolCallId} is waiting for approval ${approval.id}`);
    }
    if (approval?.status === 'expired') {
      throw new GoneException({
        statusCode: 410,
        code: 'approval_expired',
        message: `tool call ${input.toolCallId} was never approved: approval ${approval.id} expired`,
      });
    }
    const turn = await this.admit(owner, sessionId, 'tool_result');
    const content = input.error !== undefined ? `Error: ${input.error}${input.output ? `\n${input.output}` : ''}` : (input.output ?? '');
    let stored: MessageEntity[];
    try {
      // Expired approvals of the same answer are closed first, or the LLM would wait for them forever.
      stored = await turn.uow.transaction('save_tool_result', async (m) => [
        ...(await this.expiry.closeExpired(m, sessionId, { turnId: turn.id, agent: turn.agent })),
        ...(await this.messages.append(m, sessionId, [
          { role: 'tool', content, toolCallId: input.toolCallId, turnId: turn.id, agent: turn.agent },
        ])),
      ]);
    } catch (error) {
      await this.finish(turn, 'failed', 'tool result refused');
      if (isUniqueViolation(error)) throw conflict('tool_result_exists', `tool call ${input.toolCallId} already has a result`);
      throw error;
    }
    return this.stream(turn, async (t) => {
      for (const message of stored) t.emit({ type: 'message', data: { message: toMessageView(message) } });
      return this.afterResults(t);
    });
  }

  /** `POST .../approvals/:id`: a person decided on a held tool call. */
  async startDecision(
    owner: string,
    sessionId: string,
    approvalId: string,
    input: { decision: Decision; arguments?: Record<string, unknown>; feedback?: string },
  ): Promise<Observable<TurnEvent>> {
    await this.sessions.get(owner, sessionId);
    const approval = await this.approvals.get(sessionId, approvalId);
    // Refused before the turn starts: its transaction would close the expired approvals and then roll that back.
    if (approval.status === 'pending' && approval.expiresAt <= new Date()) throw approvalExpired(approval);
    if (input.decision === 'edit') {
      // Edited arguments stay within what the agent that made the call may do (e.g. the architect's *.md).
      const agent = await this.messages.agentOf(approval.messageId);
      const verdict = this.toolCheck.validateArguments(
        approval.toolName,
        input.arguments ?? {},
        agent && this.agents.has(agent) ? agent : undefined,
      );
      if (!verdict.ok)
        throw new BadRequestException({ statusCode: 400, code: 'invalid_arguments', message: `arguments: ${verdict.reason}` });
    }
    const turn = await this.admit(owner, sessionId, 'approval');
    let decided: ApprovalEntity;
    let results: MessageEntity[];
    try {
      ({ decided, results } = await turn.uow.transaction('update_approval', async (m) => {
        // Other approvals of the same answer that expired are closed first, or the LLM would wait for them forever.
        const expired = await this.expiry.closeExpired(m, sessionId, { turnId: turn.id, agent: turn.agent });
        const decided = await this.approvals.decide(m, approval, input.decision, {
          approvedArguments: input.decision === 'edit' ? input.arguments : undefined,
          feedback: input.feedback,
        });
        if (input.decision !== 'reject') return { decided, results: expired };
        const rejection = await this.messages.append(m, sessionId, [
          {
            role: 'tool',
            toolCallId: approval.toolCallId,
            turnId: turn.id,
            agent: turn.agent,
            content: `rejected by the user: ${input.feedback?.trim() || 'no reason given'}`,
          },
        ]);
        return { decided, results: [...expired, ...rejection] };
      }));
    } catch (error) {
      await this.finish(turn, 'failed', 'decision refused');
      throw error;
    }
    this.approvals.decisionCounted(decided);
    return this.stream(turn, async (t) => {
      for (const message of results) t.emit({ type: 'message', data: { message: toMessageView(message) } });
      if (decided.status === 'rejected') return this.afterResults(t);
      const args = decided.approvedArguments ?? decided.arguments;
      t.emit({ type: 'tool_call', data: { toolCallId: decided.toolCallId, name: decided.toolName, arguments: args } });
      return this.waitingStatus(t);
    });
  }

  /** `POST .../cancel`: stops the running turn, wherever it runs. */
  async cancel(owner: string, sessionId: string): Promise<{ cancelled: boolean }> {
    await this.sessions.get(owner, sessionId);
    const [rows] = await this.uowContext.current().transaction('request_cancel', (m) =>
      m.query(
        `UPDATE turns SET cancel_requested_at = now()
         WHERE id = (SELECT active_turn_id FROM sessions WHERE id = $1 AND lease_expires_at > now())
           AND status = 'running' AND cancel_requested_at IS NULL
         RETURNING id`,
        [sessionId],
      ),
    );
    const turnId: string | undefined = rows[0]?.id;
    if (turnId) this.lease.stopLocal(turnId, 'cancelled');
    return { cancelled: !!turnId };
  }

  /**
   * A stop (SIGTERM) interrupts the running turns: each stores its partial answer, records itself
   * `interrupted`, releases its lease and ends its stream with `done{interrupted}` — within the bound.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const running = [...this.running.values()];
    if (running.length === 0) return;
    this.logger.warn({ msg: 'stopping: interrupting running turns', count: running.length });
    for (const { turn } of running) turn.stop.abort('shutdown' satisfies StopReason);
    await Promise.race([
      Promise.allSettled(running.map(({ work }) => work)),
      sleep(this.settings.SHUTDOWN_TIMEOUT_MS, undefined, { ref: false }),
    ]);
  }

  /** Takes the session's lease with one conditional UPDATE and records the turn: 404 or 409 before any stream. */
  private async admit(owner: string, sessionId: string, kind: Turn['kind']): Promise<Turn> {
    if (this.shutdown.stopping) {
      throw new ServiceUnavailableException({
        statusCode: 503,
        code: 'shutting_down',
        message: 'the service is stopping; retry on another instance',
      });
    }
    const uow = this.uowContext.current();
    const id = randomUUID();
    let agent: string | undefined;
    try {
      agent = await uow.statement('start_turn', async (m) => {
        const rows: Array<{ agent: string }> = await m.query(
          `WITH taken AS (
             UPDATE sessions s SET active_turn_id = $2, lease_expires_at = now() + make_interval(secs => $3)
             WHERE s.id = $1 AND s.owner = $4 AND s.deleted_at IS NULL
               AND (s.active_turn_id IS NULL OR s.lease_expires_at < now())
             RETURNING s.id, s.current_agent)
           , dead AS (
             -- A turn whose process died left its lease to expire; it is over.
             UPDATE turns SET status = 'interrupted', finished_at = now(), error = 'its lease expired'
             WHERE session_id = $1 AND status = 'running' AND EXISTS (SELECT 1 FROM taken))
           INSERT INTO turns (id, session_id, kind, agent, status)
           SELECT $2, id, $5, current_agent, 'running' FROM taken
           RETURNING agent`,
          [sessionId, id, this.lease.seconds, owner, kind],
        );
        return rows[0]?.agent;
      });
    } catch (error) {
      if (isConnectionError(error)) {
        throw new ServiceUnavailableException({
          statusCode: 503,
          code: 'database_unavailable',
          message: 'the database is unavailable; retry shortly',
        });
      }
      throw error;
    }
    if (!agent) {
      await this.sessions.get(owner, sessionId); // 404 when it is gone
      this.busyRejections.inc();
      throw sessionBusy(sessionId);
    }
    const stop = new AbortController();
    return {
      id,
      sessionId,
      agent,
      kind,
      uow,
      stop,
      signal: AbortSignal.any([uow.signal, stop.signal]),
      emit: () => undefined,
      usage: { input: 0, output: 0 },
      steps: 0,
      switches: 0,
      partial: '',
      reasoning: '',
      startedAt: performance.now(),
    };
  }

  /** The turn's events; the work starts when the stream is subscribed and is kept until it has ended. */
  private stream(turn: Turn, kickoff: Kickoff): Observable<TurnEvent> {
    return new Observable<TurnEvent>((subscriber) => {
      turn.emit = (event) => subscriber.next(event);
      this.lease.hold(turn.id, { sessionId: turn.sessionId, stop: (reason) => turn.stop.abort(reason) });
      this.streamsActive.inc();
      const work = this.drive(turn, kickoff).finally(() => {
        this.running.delete(turn.id);
        this.lease.forget(turn.id);
        this.streamsActive.dec();
      });
      this.running.set(turn.id, { turn, work });
      turn.uow.keepOpenUntil(work).then(
        () => subscriber.complete(),
        (error: unknown) => subscriber.error(error),
      );
    });
  }

  private async drive(turn: Turn, kickoff: Kickoff): Promise<void> {
    turn.emit({ type: 'turn', data: { turnId: turn.id, sessionId: turn.sessionId, agent: turn.agent } });
    let status: DoneStatus;
    let error: string | undefined;
    try {
      const next = await kickoff(turn);
      status = next === 'continue' ? await this.agentLoop(turn) : next;
    } catch (failure) {
      ({ status, error } = await this.handleFailure(turn, failure));
    }
    try {
      await this.finish(turn, status, error);
    } catch (failure) {
      this.logger.error({ msg: 'could not record the end of a turn', turnId: turn.id, error: (failure as Error).message });
      if (status !== 'failed')
        turn.emit({ type: 'error', data: { code: 'database_unavailable', message: 'The turn could not be recorded.' } });
      status = 'failed';
    }
    const usage: Usage | undefined =
      turn.usage.input || turn.usage.output
        ? { promptTokens: turn.usage.input, completionTokens: turn.usage.output, totalTokens: turn.usage.input + turn.usage.output }
        : undefined;
    turn.emit({ type: 'done', data: { turnId: turn.id, status, ...(usage ? { usage } : {}) } });
    this.streamDuration.observe({ outcome: status }, (performance.now() - turn.startedAt) / 1000);
  }

  /** Ends the turn in the database: its status and usage, and the released lease. Commits before `done`. */
  private finish(turn: Turn, status: DoneStatus, error?: string): Promise<void> {
    this.turnsTotal.inc({ status });
    return turn.uow.statement('finish_turn', async (m) => {
      await m.query(
        `WITH finished AS (
           UPDATE turns SET status = $3, prompt_tokens = $4, completion_tokens = $5, error = $6, finished_at = now() WHERE id = $2)
         UPDATE sessions SET active_turn_id = NULL, lease_expires_at = NULL, last_activity_at = now() WHERE id = $1 AND active_turn_id = $2`,
        [turn.sessionId, turn.id, status, turn.usage.input || null, turn.usage.output || null, error ?? null],
      );
    });
  }

  /** Aborts keep what was streamed as an interrupted answer; failures also tell the client why. */
  private async handleFailure(turn: Turn, failure: unknown): Promise<{ status: DoneStatus; error?: string }> {
    const stopReason = turn.stop.signal.reason as StopReason | undefined;
    const clientGone = turn.uow.signal.aborted;
    let status: DoneStatus;
    let error: string | undefined;
    // Told after the partial answer's `message`, so that `error` comes right before `done`.
    let notice: TurnEvent | undefined;
    if (turn.stop.signal.aborted || clientGone || failure instanceof StreamEndedError) {
      status = !clientGone && stopReason === 'cancelled' ? 'cancelled' : 'interrupted';
      error = clientGone ? 'the client went away' : stopReason;
    } else if (failure instanceof LlmError) {
      status = 'failed';
      error = failure.recorded;
      notice = { type: 'error', data: { code: failure.code, message: failure.message } };
    } else {
      status = 'failed';
      error = 'internal error';
      this.logger.error({ msg: 'turn failed', turnId: turn.id, err: failure });
      const code = isConnectionError(failure) ? 'database_unavailable' : 'internal_error';
      notice = {
        type: 'error',
        data: { code, message: code === 'database_unavailable' ? 'The database is unavailable.' : 'The turn failed unexpectedly.' },
      };
    }
    if (turn.partial) {
      const text = turn.partial;
      turn.partial = '';
      try {
        const [saved] = await turn.uow.transaction('save_interrupted_message', (m) =>
          this.messages.append(m, turn.sessionId, [
            {
              role: 'assistant',
              content: text,
              status: 'interrupted',
              metadata: answerMetadata(turn),
              agent: turn.agent,
              turnId: turn.id,
            },
          ]),
        );
        turn.emit({ type: 'message', data: { message: toMessageView(saved) } });
      } catch (saveError) {
        this.logger.error({ msg: 'could not save an interrupted answer', turnId: turn.id, error: (saveError as Error).message });
      }
    }
    if (notice) turn.emit(notice);
    return { status, error };
  }

  /**
   * Stores the user's message — first closing tool calls still waiting for a result or a decision,
   * so the history stays valid for any OpenAI-compatible API — then routes it.
   */
  private async takeUserMessage(turn: Turn, content: string, agentType?: string): Promise<'continue'> {
    const message: NewMessage = { role: 'user', content, turnId: turn.id, agent: turn.agent };
    // Read outside the write: the lease keeps every other turn, result and decision off this session.
    // The same read then serves the first LLM step.
    const history = await this.messages.history(turn.sessionId);
    const unanswered = unansweredCalls(history);
    const saved = unanswered.length
      ? await turn.uow.transaction('save_user_message', async (m) => {
          // Calls held for approval are outstanding calls too: the user moved on without deciding.
          await this.approvals.close(m, turn.sessionId, 'all');
          const closing: NewMessage[] = unanswered.map((call) => ({
            role: 'tool',
            toolCallId: call.id,
            content: NOT_RUN_AFTER_NEW_MESSAGE,
            turnId: turn.id,
            agent: turn.agent,
          }));
          return this.messages.append(m, turn.sessionId, [...closing, message], titleFrom(content));
        })
      : await turn.uow.statement('save_user_message', (m) => this.messages.append(m, turn.sessionId, [message], titleFrom(content)));
    turn.history = [...history, ...saved];
    for (const message of saved) turn.emit({ type: 'message', data: { message: toMessageView(message) } });

    if (agentType && agentType !== turn.agent) {
      await this.switchAgent(turn, agentType, 'requested by the user');
    } else if (this.agents.get(turn.agent)?.role === 'router') {
      const route = await this.classify(turn, content);
      await this.switchAgent(turn, route.agent, route.reason);
    }
    return 'continue';
  }

  /** The orchestrator's routing: a JSON classification from the LLM, keyword rules when that fails. */
  private async classify(turn: Turn, content: string): Promise<{ agent: string; reason: string }> {
    let text = '';
    try {
      await this.llm.stream(
        {
          messages: [
            { role: 'system', content: classificationPrompt(this.agents) },
            { role: 'user', content },
          ],
          signal: turn.signal,
        },
        (event) => {
          if (event.type === 'text') text += event.delta;
          if (event.type === 'usage') this.addUsage(turn, event.inputTokens, event.outputTokens);
        },
      );
    } catch (error) {
      if (turn.signal.aborted) throw error;
      this.logger.warn({ msg: 'classification call failed; routing by keywords', turnId: turn.id, error: (error as Error).message });
    }
    const parsed = parseClassification(text, this.agents);
    if (parsed) return { agent: parsed.agent, reason: parsed.reason || `classified as ${parsed.agent} work` };
    const fallback = classifyByKeywords(content);
    return { agent: fallback.agent, reason: `${fallback.reason} (keyword rules)` };
  }

  private async switchAgent(turn: Turn, to: string, reason: string): Promise<void> {
    const change: AgentSwitch = { sessionId: turn.sessionId, turnId: turn.id, from: turn.agent, to, reason };
    await turn.uow.transaction('switch_agent', (m) => this.switches.record(m, change));
    this.switches.counted(change);
    turn.agent = to;
    turn.switches++;
    turn.emit({ type: 'agent_switched', data: { from: change.from, to, reason } });
  }

  /** Once every call of the latest answer has its result, the LLM goes on; until then, the turn waits. */
  private async afterResults(turn: Turn): Promise<DoneStatus | 'continue'> {
    const history = await this.messages.history(turn.sessionId);
    if (unansweredCalls(history).length) return this.waitingStatus(turn);
    turn.history = history;
    return 'continue';
  }

  private async waitingStatus(turn: Turn): Promise<DoneStatus> {
    const pending = (await this.approvals.list(turn.sessionId, 'pending')).items;
    return pending.length > 0 ? 'awaiting_approval' : 'awaiting_tool_result';
  }

  private addUsage(turn: Turn, input: number, output: number): void {
    turn.usage.input += input;
    turn.usage.output += output;
  }

  /** LLM steps until the agent answers without tool calls, waits for the client, or runs out of steps. */
  private async agentLoop(turn: Turn): Promise<DoneStatus> {
    for (;;) {
      if (turn.steps >= this.settings.MAX_STEPS_PER_TURN) {
        turn.emit({
          type: 'error',
          data: {
            code: 'step_limit',
            message: `The agent used its ${this.settings.MAX_STEPS_PER_TURN} steps for this turn without finishing.`,
          },
        });
        return 'failed';
      }
      turn.steps++;
      const agent = this.agents.get(turn.agent) ?? this.agents.defaultAgent();
      const history = turn.history ?? (await this.messages.history(turn.sessionId));
      turn.history = undefined;
      const context = buildContext(agent.systemPrompt, history, this.settings.HISTORY_TOKEN_BUDGET);
      let calls: LlmToolCall[] = [];
      turn.partial = '';
      turn.reasoning = '';
      let providerState: ProviderState | undefined;
      await this.llm.stream({ messages: context, tools: this.agents.toolSpecsFor(agent.type), signal: turn.signal }, (event) => {
        if (event.type === 'text') {
          turn.partial += event.delta;
          turn.emit({ type: 'token', data: { delta: event.delta } });
        } else if (event.type === 'reasoning') {
          turn.reasoning += event.delta;
          turn.emit({ type: 'reasoning', data: { delta: event.delta } });
        } else if (event.type === 'tool_calls') {
          calls = event.calls;
        } else if (event.type === 'provider_state') {
          providerState = event.state;
        } else {
          this.addUsage(turn, event.inputTokens, event.outputTokens);
        }
      });
      const text = turn.partial;
      const metadata = answerMetadata(turn, providerState);
      let toolCalls: StoredToolCall[] = [];
      const save = async (m: EntityManager) => {
        toolCalls = await this.messages.uniqueToolCalls(m, turn.sessionId, calls);
        return this.messages.append(m, turn.sessionId, [
          {
            role: 'assistant',
            content: text || (toolCalls.length ? null : ''),
            toolCalls: toolCalls.length ? toolCalls : null,
            metadata,
            agent: agent.type,
            turnId: turn.id,
          },
        ]);
      };
      // Without tool calls the answer is one INSERT, atomic on its own.
      const [answer] = calls.length
        ? await turn.uow.transaction('save_assistant_message', save)
        : await turn.uow.statement('save_assistant_message', save);
      turn.partial = '';
      turn.emit({ type: 'message', data: { message: toMessageView(answer) } });
      if (toolCalls.length === 0) return 'completed';
      const outcome = await this.handleToolCalls(turn, answer, toolCalls);
      if (outcome !== 'continue') return outcome;
    }
  }

  /**
   * Routes the tool calls of one answer. Refused calls (tool not allowed, bad arguments, path outside
   * the agent's restrictions) never reach the client: a tool message tells the LLM why. Runtime
   * tools run here. Client tools go out as `tool_call`, or wait for approval when the policy says so.
   */
  private async handleToolCalls(turn: Turn, answer: MessageEntity, calls: StoredToolCall[]): Promise<DoneStatus | 'continue'> {
    const results: NewMessage[] = [];
    const toClient: Array<{ call: StoredToolCall; args: Record<string, unknown> }> = [];
    const held: Array<{ call: StoredToolCall; args: Record<string, unknown>; reason: string }> = [];
    let handOver: { to: string; reason: string } | undefined;
    let final: { content: string; metadata?: Record<string, unknown> } | undefined;
    const reply = (call: StoredToolCall, content: string) =>
      results.push({ role: 'tool', toolCallId: call.id, content, turnId: turn.id, agent: turn.agent });

    for (const call of calls) {
      const verdict = this.toolCheck.check(turn.agent, { id: call.id, name: call.function.name, arguments: call.function.arguments });
      if (!verdict.ok) {
        reply(call, `Refused: ${verdict.reason}`);
        continue;
      }
      const args = verdict.args;
      const name = call.function.name;
      if (!isRuntimeTool(name)) {
        const decision = this.policy.evaluate(name, args);
        if (decision.required) held.push({ call, args, reason: decision.reason });
        else toClient.push({ call, args });
      } else if (name === 'switch_mode') {
        if (handOver || turn.switches >= this.settings.MAX_SWITCHES_PER_TURN) {
          reply(call, `Refused: no more agent switches in this turn (at most ${this.settings.MAX_SWITCHES_PER_TURN}); carry on yourself.`);
        } else {
          handOver = { to: String(args.agent), reason: String(args.reason ?? '') };
          reply(call, `Switched to the ${handOver.to} agent.`);
        }
      } else if (name === 'attempt_completion') {
        reply(call, 'Completion accepted; the result was shown to the user.');
        final = { content: String(args.result ?? '') };
      } else {
        reply(call, 'The question was shown to the user; their answer will come as the next message.');
        const suggestions = Array.isArray(args.suggestions) ? args.suggestions : undefined;
        final = { content: String(args.question ?? ''), ...(suggestions ? { metadata: { suggestions } } : {}) };
      }
    }

    if (results.length) {
      const saved = await turn.uow.transaction('save_tool_result', (m) => this.messages.append(m, turn.sessionId, results));
      for (const message of saved) turn.emit({ type: 'message', data: { message: toMessageView(message) } });
    }
    if (held.length) {
      const approvals = await turn.uow.transaction('save_approval', (m) =>
        Promise.all(
          held.map(({ call, args, reason }) =>
            this.approvals.request(m, {
              sessionId: turn.sessionId,
              turnId: turn.id,
              messageId: answer.id,
              toolCallId: call.id,
              toolName: call.function.name,
              args,
              reason,
            }),
          ),
        ),
      );
      for (const approval of approvals) {
        this.approvals.counted(approval);
        const view = toApprovalView(approval);
        turn.emit({
          type: 'approval_required',
          data: {
            approvalId: view.id,
            toolCallId: view.toolCallId,
            name: view.toolName,
            arguments: view.arguments,
            reason: view.reason,
            expiresAt: view.expiresAt,
          },
        });
      }
    }
    for (const { call, args } of toClient) {
      turn.emit({ type: 'tool_call', data: { toolCallId: call.id, name: call.function.name, arguments: args } });
    }
    if (handOver) await this.switchAgent(turn, handOver.to, handOver.reason || `handed over by ${turn.agent}`);
    if (final && !held.length && !toClient.length) {
      const { content, metadata } = final;
      const [message] = await turn.uow.transaction('save_assistant_message', (m) =>
        this.messages.append(m, turn.sessionId, [
          { role: 'assistant', content, metadata: metadata ?? null, agent: turn.agent, turnId: turn.id },
        ]),
      );
      turn.emit({ type: 'message', data: { message: toMessageView(message) } });
      return 'completed';
    }
    if (held.length) return 'awaiting_approval';
    if (toClient.length) return 'awaiting_tool_result';
    return 'continue';
  }
}
