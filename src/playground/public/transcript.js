import { element } from './dom.js';
import { showMarkdown } from './markdown.js';

const DONE_WORDS = {
  completed: 'completed',
  awaiting_tool_result: 'waiting for tool results',
  awaiting_approval: 'waiting for an approval',
  cancelled: 'cancelled',
  interrupted: 'interrupted',
  failed: 'failed',
};

/**
 * The conversation as the page shows it: the stored history, then each live event of a turn. A
 * message is shown once, by its id, however often it arrives (the history, then a replayed stream).
 */
export class Transcript {
  constructor(list, agentNames) {
    this.list = list;
    this.agentNames = agentNames;
    this.clear();
  }

  clear() {
    this.list.replaceChildren();
    this.shown = new Set();
    this.toolNames = new Map();
    this.live = undefined;
    this.agent = undefined;
    /** Turns whose end is shown: a replayed stream's `done` is not shown twice. */
    this.doneTurns = new Set();
    /** Switches of the history that a replayed turn may announce again. */
    this.recentSwitches = [];
  }

  /**
   * The stored history in order; `switches` (with their time) go where they happened, and each
   * ended turn's done line after its last message.
   */
  showHistory(messages, switches) {
    const queue = [...switches];
    const lastUserAt = messages.findLast((m) => m.role === 'user')?.createdAt;
    const lastOfTurn = new Map(messages.map((m, i) => [m.turn?.id, i]));
    messages.forEach((message, i) => {
      while (queue.length && queue[0].at <= message.createdAt) this.showSwitch(queue.shift());
      this.showMessage(message);
      const { turn } = message;
      if (turn && turn.status !== 'running' && lastOfTurn.get(turn.id) === i)
        this.showDone({ turnId: turn.id, status: turn.status, usage: turn.usage });
    });
    for (const change of queue) this.showSwitch(change);
    this.recentSwitches = switches.filter((s) => lastUserAt && s.at >= lastUserAt).map(switchKey);
  }

  /** One live event of a turn (`tool_call` and `approval_required` are the chat's to show). */
  apply(event) {
    const { data } = event;
    switch (event.event) {
      case 'turn':
        this.agent = data.agent;
        break;
      case 'agent_switched': {
        const seen = this.recentSwitches.indexOf(switchKey(data));
        if (seen >= 0) this.recentSwitches.splice(seen, 1);
        else this.showSwitch(data);
        this.agent = data.to;
        break;
      }
      case 'token':
        this.liveAnswer().text += data.delta;
        this.paintLive();
        break;
      case 'reasoning':
        this.liveAnswer().reasoningText += data.delta;
        this.paintLive();
        break;
      case 'message':
        this.takeMessage(data.message);
        break;
      case 'error':
        this.append(element('li', { class: 'note error', role: 'alert' }, `Error (${data.code}): ${data.message}`));
        break;
      case 'done':
        this.dropLive();
        this.showDone(data);
        break;
    }
  }

  showMessage(message) {
    if (this.shown.has(message.id)) return;
    this.shown.add(message.id);
    for (const call of message.toolCalls ?? []) this.toolNames.set(call.id, call.function.name);
    this.append(this.messageItem(message));
  }

  /** A turn's end, `done`'s data or the history's turn summary. */
  showDone(done) {
    if (this.doneTurns.has(done.turnId)) return;
    this.doneTurns.add(done.turnId);
    this.append(element('li', { class: 'note done' }, doneLine(done)));
  }

  showSwitch({ from, to, reason }) {
    this.append(
      element('li', { class: 'note switch' }, `${this.agentName(from)} handed over to ${this.agentName(to)}`, reason ? `: ${reason}` : ''),
    );
  }

  /** Adds an item at the end, following the conversation unless the person scrolled up to read. */
  append(node) {
    const follow = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    this.list.append(node);
    if (follow) this.list.scrollTop = this.list.scrollHeight;
  }

  agentName(type) {
    return this.agentNames.get(type) ?? type;
  }

  /** A committed message ends the answer streaming into it; an assistant's replaces its live text. */
  takeMessage(message) {
    if (message.role === 'assistant') this.dropLive();
    this.showMessage(message);
  }

  liveAnswer() {
    if (!this.live) {
      const reasoning = element('div', { class: 'reasoning-text' });
      const fold = element('details', { class: 'reasoning', hidden: true }, element('summary', {}, 'Reasoning'), reasoning);
      const body = element('div', { class: 'body markdown' });
      const item = element('li', { class: 'message assistant live', 'aria-busy': 'true' }, this.header(this.agent), fold, body);
      this.live = { item, body, fold, reasoning, text: '', reasoningText: '', painting: false };
      this.append(item);
    }
    return this.live;
  }

  /** Renders the live answer once per frame, however many tokens arrived since. */
  paintLive() {
    const live = this.live;
    if (live.painting) return;
    live.painting = true;
    requestAnimationFrame(() => {
      live.painting = false;
      showMarkdown(live.body, live.text);
      live.fold.hidden = live.reasoningText === '';
      live.reasoning.textContent = live.reasoningText;
      this.list.scrollTop = this.list.scrollHeight;
    });
  }

  dropLive() {
    this.live?.item.remove();
    this.live = undefined;
  }

  header(agent, extra = []) {
    return element(
      'header',
      {},
      element('span', { class: 'who' }, agent ? this.agentName(agent) : 'Assistant'),
      agent ? element('span', { class: 'agent-type' }, agent) : undefined,
      ...extra,
    );
  }

  messageItem(message) {
    const item = element('li', { class: `message ${message.role}`, 'data-message-id': message.id });
    const interrupted = message.status === 'interrupted' ? element('span', { class: 'badge' }, 'interrupted') : undefined;
    if (message.role === 'user') {
      item.append(
        element('header', {}, element('span', { class: 'who' }, 'You')),
        element('div', { class: 'body text' }, message.content ?? ''),
      );
    } else if (message.role === 'tool') {
      const name = this.toolNames.get(message.toolCallId) ?? 'a tool';
      item.append(
        element('details', {}, element('summary', {}, `Result of ${name}`), element('pre', { class: 'output' }, message.content ?? '')),
      );
    } else {
      item.append(this.header(message.agent, [interrupted]));
      const reasoning = message.metadata?.reasoning;
      if (typeof reasoning === 'string' && reasoning) {
        item.append(
          element(
            'details',
            { class: 'reasoning' },
            element('summary', {}, 'Reasoning'),
            element('div', { class: 'reasoning-text' }, reasoning),
          ),
        );
      }
      if (message.content) {
        const body = element('div', { class: 'body markdown' });
        showMarkdown(body, message.content);
        item.append(body);
      }
      for (const call of message.toolCalls ?? []) {
        item.append(element('p', { class: 'call' }, `Calls ${call.function.name} `, element('code', {}, call.function.arguments)));
      }
    }
    return item;
  }
}

function switchKey({ from, to, reason }) {
  return `${from}\n${to}\n${reason}`;
}

export function doneLine({ status, usage }) {
  const tokens = usage ? ` · ${usage.totalTokens} tokens (${usage.promptTokens} in, ${usage.completionTokens} out)` : '';
  return `Turn ${DONE_WORDS[status] ?? status}${tokens}`;
}
