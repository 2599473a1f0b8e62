import { element, json } from './dom.js';

let cards = 0;

/**
 * A tool call the agent hands to the person: its name and arguments, a field for what the tool
 * printed, and two ways to send it (as the output, or as the error the tool failed with).
 * `send({output} | {error})` posts it and rejects with the service's refusal, shown on the card.
 */
export function toolCard({ toolCallId, name, arguments: args }, send) {
  const id = `tool-output-${++cards}`;
  const output = element('textarea', { id, rows: 3, placeholder: 'What the tool printed or returned' });
  const problem = element('p', { class: 'problem', role: 'alert', hidden: true });
  const sendOutput = element('button', { type: 'submit' }, 'Send output');
  const sendError = element('button', { type: 'button', class: 'secondary' }, 'Send as error');
  const form = element(
    'form',
    { class: 'tool-form' },
    element('label', { for: id }, `Output of ${name}`),
    output,
    problem,
    element('div', { class: 'actions' }, sendOutput, sendError),
  );
  const card = element(
    'li',
    { class: 'card tool-card', 'data-tool-call-id': toolCallId, 'aria-label': `Tool call ${name}` },
    element('h3', {}, 'Tool call: ', element('code', {}, name)),
    element('pre', { class: 'arguments' }, json(args)),
    form,
  );

  const settle = (...words) => {
    form.replaceWith(element('p', { class: 'sent' }, ...words));
    card.classList.add('answered');
  };
  const submit = async (body) => {
    problem.hidden = true;
    card.classList.add('sending');
    try {
      await send(body);
      settle(body.error !== undefined ? 'Sent as error: ' : 'Sent: ', element('code', {}, body.error ?? body.output));
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
    } finally {
      card.classList.remove('sending');
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submit({ toolCallId, output: output.value });
  });
  sendError.addEventListener('click', () => void submit({ toolCallId, error: output.value || 'the tool failed' }));
  return {
    card,
    /** The service answered the call itself (not run: a new message came, its approval expired). */
    close(text) {
      if (!card.classList.contains('answered') && !card.classList.contains('sending')) settle(text);
    },
  };
}
