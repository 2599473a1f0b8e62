import { element } from './dom.js';

const DECIDED = { approve: 'Approved', edit: 'Approved with edited arguments', reject: 'Rejected' };

/** What the card says once a decision was taken. */
export function decisionWords({ decision, feedback }) {
  return DECIDED[decision] + (feedback ? `: ${feedback}` : '');
}

/**
 * A held call in the transcript: the tool and the policy's reason, with a button that opens the
 * dialog again. `settle(text, heading?)` says how it ended (decided, expired, or closed by the service).
 */
export function approvalCard(approval, openDialog) {
  const outcome = element('span', { class: 'outcome' });
  const title = element('span', {}, 'Waiting for approval: ');
  const reopen = element('button', { type: 'button' }, 'Decide…');
  reopen.addEventListener('click', openDialog);
  const card = element(
    'li',
    { class: 'card approval-card', 'data-approval-id': approval.approvalId, 'aria-label': `Approval for ${approval.name}` },
    element('h3', {}, title, element('code', {}, approval.name)),
    element('p', {}, approval.reason),
    outcome,
    reopen,
  );
  return {
    card,
    settle(text, heading = 'Held for approval: ') {
      reopen.remove();
      title.textContent = heading;
      outcome.textContent = text;
      card.classList.add('answered');
    },
  };
}
