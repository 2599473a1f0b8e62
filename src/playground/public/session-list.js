import { call } from './api.js';
import { ago, element } from './dom.js';

const PAGE = 20;

/**
 * The owner's sessions, newest activity first, a page at a time: the next page loads when the end
 * of the list scrolls into view.
 */
export class SessionList {
  constructor({ list, end, scroller }, { agentName, onSelect, notify }) {
    this.list = list;
    this.end = end;
    this.scroller = scroller;
    this.agentName = agentName;
    this.onSelect = onSelect;
    this.notify = notify;
    this.items = new Map();
    this.cursor = null;
    this.loading = false;
    // Nothing to load before the first `reload()` (the page may still need a key).
    this.exhausted = true;
    new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) void this.more();
      },
      { root: scroller },
    ).observe(end);
  }

  async reload() {
    this.list.replaceChildren();
    this.items.clear();
    this.cursor = null;
    this.exhausted = false;
    await this.more();
  }

  async more() {
    if (this.loading || this.exhausted) return;
    this.loading = true;
    try {
      const page = await call('GET', `/v1/sessions?limit=${PAGE}${this.cursor ? `&cursor=${this.cursor}` : ''}`);
      for (const session of page.items) if (!this.items.has(session.id)) this.add(session);
      this.cursor = page.nextCursor;
      this.exhausted = !page.nextCursor;
      this.end.textContent = this.exhausted ? (this.items.size ? '' : 'No sessions yet.') : 'Loading more…';
    } catch (error) {
      this.notify(error.message);
    } finally {
      this.loading = false;
    }
    // A page that does not fill the list leaves its end in view: no scroll will ask for the next.
    if (!this.exhausted && this.endInView()) void this.more();
  }

  endInView() {
    const end = this.end.getBoundingClientRect();
    const box = this.scroller.getBoundingClientRect();
    return end.top < box.bottom && end.bottom > box.top;
  }

  /** A new or changed session goes where its last activity puts it (a new turn: first). */
  put(session) {
    this.remove(session.id);
    const older = [...this.list.children].find(
      (item) => this.items.get(item.dataset.sessionId).session.lastActivityAt < session.lastActivityAt,
    );
    // Older than every session loaded so far: a later page brings it.
    if (!older && !this.exhausted) return;
    this.add(session, older);
    this.select(this.selected);
  }

  remove(id) {
    this.items.get(id)?.item.remove();
    this.items.delete(id);
  }

  select(id) {
    this.selected = id;
    for (const [key, { button }] of this.items) {
      if (key === id) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    }
  }

  add(session, before) {
    const button = element(
      'button',
      { type: 'button', class: 'session' },
      element('span', { class: 'title' }, session.title ?? 'Untitled session'),
      element(
        'span',
        { class: 'meta' },
        `${this.agentName(session.currentAgent)} · ${session.messageCount} messages · ${ago(session.lastActivityAt)}`,
      ),
    );
    button.addEventListener('click', () => this.onSelect(session.id));
    const item = element('li', { 'data-session-id': session.id }, button);
    this.list.insertBefore(item, before ?? null);
    this.items.set(session.id, { item, button, session });
  }
}
