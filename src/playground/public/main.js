import { apiKey, call, onUnauthorized } from './api.js';
import { ApprovalDialog } from './approval-dialog.js';
import { Chat } from './chat.js';
import { element } from './dom.js';
import { SessionList } from './session-list.js';

const $ = (id) => document.getElementById(id);
const agentNames = new Map();
const agentName = (type) => agentNames.get(type) ?? type;

function notify(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}

/** What the chat shows of the open session, and its controls. */
const view = {
  transcript: $('transcript'),
  composer: $('composer'),
  message: $('message'),
  cancel: $('cancel'),
  status: $('turn-status'),
  showSession(session) {
    $('session').hidden = !session;
    $('empty').hidden = Boolean(session);
    if (!session) return;
    $('session').dataset.sessionId = session.id;
    $('session-title').textContent = session.title ?? 'Untitled session';
    this.showAgent(session.currentAgent);
  },
  showAgent(type) {
    $('session-agent').textContent = `Agent: ${agentName(type)}`;
  },
  setBusy(busy) {
    $('send').disabled = busy;
    $('cancel').hidden = !busy;
  },
};

const chat = new Chat(view, {
  agentNames,
  dialog: new ApprovalDialog($('approval')),
  notify,
  onChanged: (id) => void refresh(id),
});
const sessions = new SessionList(
  { list: $('session-list'), end: $('session-end'), scroller: $('session-scroller') },
  { agentName, notify, onSelect: (id) => (location.hash = id) },
);

async function refresh(id) {
  try {
    const session = await call('GET', `/v1/sessions/${id}`);
    sessions.put(session);
    if (chat.id === id) view.showSession((chat.session = session));
  } catch (error) {
    notify(error.message);
  }
}

/** The session in the address (`/#<id>`), so a reload opens it again. */
async function openFromAddress() {
  const id = location.hash.slice(1);
  sessions.select(id || undefined);
  $('rename-form').hidden = true;
  if (!id) return chat.close();
  notify('');
  try {
    await chat.open(id);
    sessions.put(chat.session);
    view.message.focus();
  } catch (error) {
    notify(error.message);
    if (error.status === 404) {
      sessions.remove(id);
      chat.close();
    }
  }
}

async function start() {
  notify('');
  let agents;
  try {
    agents = await call('GET', '/v1/agents');
  } catch (error) {
    return notify(error.message);
  }
  agentNames.clear();
  $('new-agent').replaceChildren();
  for (const agent of agents.items) {
    agentNames.set(agent.type, agent.name);
    $('new-agent').append(element('option', { value: agent.type, title: agent.description }, agent.name));
  }
  await sessions.reload();
  await openFromAddress();
}

onUnauthorized(() => {
  $('key-form').hidden = false;
  $('api-key').focus();
});
$('key-form').hidden = !apiKey.get();
$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey.set($('api-key').value.trim());
  $('api-key').value = '';
  void start();
});

$('new-session').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const session = await call('POST', '/v1/sessions', { agentType: $('new-agent').value });
    sessions.put(session);
    location.hash = session.id;
  } catch (error) {
    notify(error.message);
  }
});

$('rename').addEventListener('click', () => {
  $('rename-form').hidden = false;
  $('rename-title').value = chat.session?.title ?? '';
  $('rename-title').focus();
});
$('rename-cancel').addEventListener('click', () => ($('rename-form').hidden = true));
$('rename-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const session = await call('PATCH', `/v1/sessions/${chat.id}`, { title: $('rename-title').value });
    chat.session = session;
    view.showSession(session);
    sessions.put(session);
    $('rename-form').hidden = true;
  } catch (error) {
    notify(error.message);
  }
});

$('delete').addEventListener('click', async () => {
  const id = chat.id;
  if (!confirm(`Delete “${chat.session.title ?? 'Untitled session'}”? It cannot be undone.`)) return;
  try {
    await call('DELETE', `/v1/sessions/${id}`);
    sessions.remove(id);
    location.hash = '';
  } catch (error) {
    notify(error.message);
  }
});

window.addEventListener('hashchange', () => void openFromAddress());
void start();
