import { ApiError, call, postTurn } from './api.js';
import { approvalCard, decisionWords } from './approval-card.js';
import { approvalOf, expiredWords } from './approval-dialog.js';
import { toolCard } from './tool-card.js';
import { doneLine, Transcript } from './transcript.js';
import { followTurn, joinTurn } from './turn-stream.js';

/**
 * The open session: its history, the turn running in it (one at a time, as the service allows),
 * cancel, and the tool cards and approvals the agents wait for.
 */
export class Chat {
  constructor(view, { agentNames, dialog, notify, onChanged }) {
    this.view = view;
    this.dialog = dialog;
    this.notify = notify;
    this.onChanged = onChanged;
    this.transcript = new Transcript(view.transcript, agentNames);
    this.forget();
    this.opening = 0;
    view.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.sendMessage();
    });
    view.message.addEventListener('keydown', (event) => {
      // Enter sends, Shift+Enter is a new line; a key composing a character (IME) is left alone.
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        view.composer.requestSubmit();
      }
    });
    view.cancel.addEventListener('click', () => void this.cancel());
  }

  get id() {
    return this.session?.id;
  }

  async open(id) {
    this.leave();
    const opening = ++this.opening;
    const [session, messages, agent, approvals] = await Promise.all([
      call('GET', `/v1/sessions/${id}`),
      this.history(id),
      call('GET', `/v1/sessions/${id}/agent`),
      call('GET', `/v1/sessions/${id}/approvals`),
    ]);
    if (opening !== this.opening) return;
    this.session = session;
    this.view.showSession(session);
    this.view.status.textContent = '';
    this.transcript.clear();
    this.forget();
    this.transcript.showHistory(messages, agent.history);
    this.showOpenCalls(messages, approvals.items);
    this.setBusy(false);
    if (session.status === 'busy') void this.join();
  }

  /**
   * The calls of the history no tool message answers yet: a held call gets its approval card, an
   * expired one says so (the service refuses its result), an approved one goes to a tool card with
   * the arguments it was approved with, any other call is the client's to run.
   */
  showOpenCalls(messages, approvals) {
    const answered = new Set(messages.filter((m) => m.role === 'tool').map((m) => m.toolCallId));
    const approvalOfCall = new Map(approvals.map((a) => [a.toolCallId, a]));
    for (const call of messages.flatMap((m) => m.toolCalls ?? [])) {
      if (answered.has(call.id)) continue;
      const approval = approvalOfCall.get(call.id);
      if (approval?.status === 'pending') this.showApproval(approvalOf(approval));
      else if (approval?.status === 'expired') this.showExpired(approvalOf(approval));
      else if (approval?.status === 'approved' || approval?.status === 'edited') {
        this.showToolCall({ toolCallId: call.id, name: approval.toolName, arguments: approval.approvedArguments ?? approval.arguments });
      } else if (!approval) {
        this.showToolCall({ toolCallId: call.id, name: call.function.name, arguments: parseJson(call.function.arguments) });
      }
    }
  }

  /** Stops following this session's stream (the page moves to another session or closes it). */
  leave() {
    this.stop?.abort();
    this.stop = undefined;
    this.dialog.close();
  }

  close() {
    this.leave();
    this.opening++;
    this.session = undefined;
    this.transcript.clear();
    this.forget();
    this.view.showSession(undefined);
  }

  /** The calls on show: tool cards by call id, approval cards by approval id, and those still undecided. */
  forget() {
    this.toolCards = new Map();
    this.approvalCards = new Set();
    this.undecided = new Map();
  }

  async history(id) {
    const items = [];
    for (let after = ''; ;) {
      const page = await call('GET', `/v1/sessions/${id}/messages?limit=500${after ? `&after=${after}` : ''}`);
      items.push(...page.items);
      if (!page.nextCursor) return items;
      after = page.nextCursor;
    }
  }

  async sendMessage() {
    const content = this.view.message.value;
    if (!content.trim() || this.busy) return;
    try {
      await this.startTurn((signal) => postTurn(`/v1/sessions/${this.id}/messages`, { content }, signal));
      this.view.message.value = '';
    } catch (error) {
      this.notify(error.message);
    }
  }

  async cancel() {
    try {
      await call('POST', `/v1/sessions/${this.id}/cancel`);
      this.view.status.textContent = 'Cancelling…';
    } catch (error) {
      this.notify(error.message);
    }
  }

  /** Starts a turn; resolves once the service took it (a refusal rejects), while its stream goes on. */
  async startTurn(request) {
    if (this.busy) throw new ApiError(409, { message: 'A turn of this session is still running.' });
    const stop = new AbortController();
    this.stop = stop;
    this.setBusy(true);
    let response;
    try {
      response = await request(stop.signal);
    } catch (error) {
      this.setBusy(false);
      throw error;
    }
    void this.follow(response, stop);
  }

  /** Joins the turn running when the session was opened (after a reload, or from another tab). */
  async join() {
    const stop = new AbortController();
    this.stop = stop;
    this.setBusy(true);
    try {
      await this.follow(await joinTurn(this.id, { signal: stop.signal }), stop);
    } catch (error) {
      if (stop.signal.aborted) return;
      this.setBusy(false);
      this.view.status.textContent =
        error.status === 404 ? 'A turn is running; its answer will be in the history when it ends.' : error.message;
    }
  }

  async follow(response, stop) {
    const id = this.id;
    let outcome;
    try {
      outcome = await followTurn(id, response, (event) => this.take(event), stop.signal);
    } catch (error) {
      if (stop.signal.aborted) return;
      this.notify(error.message);
      // Not the service's refusal: a bug of the page, reported as an uncaught error would be.
      if (!(error instanceof ApiError)) reportError(error);
    }
    if (stop.signal.aborted) return;
    this.stop = undefined;
    this.setBusy(false);
    this.onChanged(id);
    if (outcome === 'lost') {
      this.notify('The connection to the running turn was lost: showing what the service stored.');
      await this.open(id).catch((error) => this.notify(error.message));
    } else {
      this.askNext();
    }
  }

  /** Once no turn runs, the dialog asks about the first approval still undecided. */
  askNext() {
    const [next] = this.undecided.values();
    if (next && !this.busy && this.lastDone === 'awaiting_approval') this.dialog.open(next.approval, next.decide);
  }

  take(event) {
    this.transcript.apply(event);
    const { data } = event;
    if (event.event === 'turn' || event.event === 'agent_switched') {
      const agent = data.agent ?? data.to;
      this.view.showAgent(agent);
      this.view.status.textContent = `${this.transcript.agentName(agent)} is working…`;
    }
    if (event.event === 'tool_call') this.showToolCall(data);
    if (event.event === 'approval_required') this.showApproval(approvalOf(data));
    if (event.event === 'message' && data.message.role === 'tool') this.closeCall(data.message);
    if (event.event === 'done') {
      this.lastDone = data.status;
      this.view.status.textContent = doneLine(data);
    }
  }

  /** A call the service answered itself (not run: a new message came, the approval expired): its card closes. */
  closeCall({ toolCallId, content }) {
    this.toolCards.get(toolCallId)?.close(`Closed: ${content}`);
    for (const [approvalId, { approval, settle }] of this.undecided) {
      if (approval.toolCallId !== toolCallId) continue;
      this.undecided.delete(approvalId);
      settle(`Closed: ${content}`);
    }
  }

  showToolCall(call) {
    if (this.toolCards.has(call.toolCallId)) return;
    const shown = toolCard(call, (body) => this.startTurn((signal) => postTurn(`/v1/sessions/${this.id}/tool-results`, body, signal)));
    this.toolCards.set(call.toolCallId, shown);
    this.transcript.append(shown.card);
    this.setBusy(this.busy);
  }

  showApproval(approval) {
    if (this.approvalCards.has(approval.approvalId)) return;
    this.approvalCards.add(approval.approvalId);
    const decide = async (body) => {
      await this.startTurn((signal) => postTurn(`/v1/sessions/${this.id}/approvals/${approval.approvalId}`, body, signal));
      this.undecided.get(approval.approvalId)?.settle(decisionWords(body));
      this.undecided.delete(approval.approvalId);
    };
    const shown = approvalCard(approval, () => this.dialog.open(approval, decide));
    this.undecided.set(approval.approvalId, { approval, decide, settle: shown.settle });
    this.transcript.append(shown.card);
    this.setBusy(this.busy);
  }

  /** A held call nobody decided on in time: settled, nothing left to send. */
  showExpired(approval) {
    if (this.approvalCards.has(approval.approvalId)) return;
    this.approvalCards.add(approval.approvalId);
    const shown = approvalCard(approval, () => {});
    shown.settle(expiredWords(approval.expiresAt), 'Not run: ');
    this.transcript.append(shown.card);
  }

  setBusy(busy) {
    this.busy = busy;
    this.view.setBusy(busy);
    for (const button of this.view.transcript.querySelectorAll('.card button')) button.disabled = busy;
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
