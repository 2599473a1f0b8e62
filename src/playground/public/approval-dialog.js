import { json } from './dom.js';

/** What the approval routes answer about a held call, whether from `approval_required` or `GET …/approvals`. */
export function approvalOf(view) {
  return {
    approvalId: view.approvalId ?? view.id,
    toolCallId: view.toolCallId,
    name: view.name ?? view.toolName,
    arguments: view.arguments,
    reason: view.reason,
    expiresAt: view.expiresAt,
  };
}

/** What an approval nobody decided on in time says, in the dialog and on its card after a reload. */
export function expiredWords(expiresAt) {
  const at = new Date(expiresAt).toLocaleTimeString();
  return `This approval expired at ${at}: the agent is told the call was not approved in time.`;
}

/** `{arguments}` parsed from the edited text, or `{problem}` saying why it cannot be sent. */
export function parseArguments(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `The arguments are not valid JSON: ${error.message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { problem: 'The arguments must be a JSON object ({ … }).' };
  return { arguments: value };
}

/**
 * The dialog for one held tool call: the tool, its arguments and the policy's reason, with its
 * expiry counting down. Approve, approve edited arguments (checked as JSON first), or reject with
 * feedback; `decide(body)` sends it and rejects with the service's refusal, shown in the dialog.
 */
export class ApprovalDialog {
  constructor(dialog) {
    this.dialog = dialog;
    const find = (selector) => dialog.querySelector(selector);
    this.title = find('[data-approval=tool]');
    this.reason = find('[data-approval=reason]');
    this.expiry = find('[data-approval=expiry]');
    this.args = find('[data-approval=arguments]');
    this.feedback = find('[data-approval=feedback]');
    this.problem = find('[data-approval=problem]');
    this.decisions = [...dialog.querySelectorAll('button[name=decision]')];
    find('form').addEventListener('submit', (event) => {
      event.preventDefault();
      const choice = event.submitter?.value;
      if (choice === 'later') this.close();
      else if (choice) void this.submit(choice);
    });
    dialog.addEventListener('close', () => clearInterval(this.timer));
  }

  open(approval, decide) {
    this.approval = approval;
    this.decide = decide;
    this.expired = false;
    this.title.textContent = approval.name;
    this.reason.textContent = approval.reason;
    this.args.value = json(approval.arguments);
    this.feedback.value = '';
    this.say('');
    this.setSending(false);
    clearInterval(this.timer);
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
    if (!this.dialog.open) this.dialog.showModal();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  isShowing(approvalId) {
    return this.dialog.open && this.approval?.approvalId === approvalId;
  }

  tick() {
    const left = Math.ceil((new Date(this.approval.expiresAt).getTime() - Date.now()) / 1000);
    const at = new Date(this.approval.expiresAt).toLocaleTimeString();
    if (left > 0 && !this.expired) {
      const minutes = Math.floor(left / 60);
      this.expiry.textContent = `Expires in ${minutes}:${String(left % 60).padStart(2, '0')} (at ${at}).`;
      return;
    }
    this.markExpired(expiredWords(this.approval.expiresAt));
  }

  markExpired(words) {
    this.expired = true;
    this.expiry.textContent = words;
    this.expiry.classList.add('expired');
    for (const button of this.decisions) button.disabled = true;
    clearInterval(this.timer);
  }

  async submit(choice) {
    let body;
    if (choice === 'edit') {
      const parsed = parseArguments(this.args.value);
      if (parsed.problem) return this.say(parsed.problem);
      body = { decision: 'edit', arguments: parsed.arguments };
    } else if (choice === 'reject') {
      body = { decision: 'reject', ...(this.feedback.value.trim() ? { feedback: this.feedback.value.trim() } : {}) };
    } else {
      body = { decision: 'approve' };
    }
    this.say('');
    this.setSending(true);
    try {
      await this.decide(body);
      this.close();
    } catch (error) {
      if (error.code === 'approval_expired') return this.markExpired(`The service says this approval expired: ${error.message}`);
      this.say(error.message);
      this.setSending(false);
    }
  }

  setSending(sending) {
    for (const button of this.decisions) button.disabled = sending || this.expired;
    this.expiry.classList.toggle('expired', this.expired);
  }

  say(text) {
    this.problem.textContent = text;
    this.problem.hidden = text === '';
  }
}
