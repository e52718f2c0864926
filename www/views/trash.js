// The Trash view: what was deleted from the timeline, most recently deleted first, with
// Restore and Delete now (which asks once more on the button itself). The server purges
// each item 30 days after it was deleted (`--trash-days`). Names are set as text only.
import { ago, bytes } from '../lib/format.js';

const $ = (id) => document.getElementById(id);
const PAGE = 200;
/** How long "Delete for good?" waits for the second click. */
const CONFIRM_MS = 5000;

export class TrashView {
  constructor({ api, announce, showError, onRestored }) {
    this.api = api;
    this.announce = announce;
    this.showError = showError;
    this.onRestored = onRestored;
    this.cursor = undefined;
    this.generation = 0;
    $('trash-more').addEventListener('click', () => this.loadMore());
    $('trash-list').addEventListener('click', (e) => {
      const button = e.target.closest('button[data-action]');
      if (button) this.act(button);
    });
  }

  show() { this.reload(); }

  reload() {
    this.generation += 1;
    this.cursor = undefined;
    $('trash-list').replaceChildren();
    $('trash-empty').hidden = true;
    $('trash-error').hidden = true;
    $('trash-more').hidden = true;
    this.loadMore();
  }

  async loadMore() {
    if (this.cursor === null) return;
    const generation = this.generation;
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (this.cursor) q.set('cursor', this.cursor);
      const page = await this.api.json(`/trash?${q}`);
      if (generation !== this.generation) return;
      this.cursor = page.nextCursor ?? null;
      $('trash-list').append(...page.items.map((item) => this.row(item)));
      $('trash-more').hidden = this.cursor === null;
      this.updateEmpty();
    } catch (e) {
      if (generation !== this.generation) return;
      $('trash-error').textContent = navigator.onLine ? `Could not load the trash: ${e.message}` : 'You are offline. The trash loads when you are back online.';
      $('trash-error').hidden = false;
    }
  }

  updateEmpty() { $('trash-empty').hidden = $('trash-list').children.length > 0; }

  row(item) {
    const li = document.createElement('li');
    li.dataset.id = item.id;
    li.dataset.name = item.originalFileName;
    const text = document.createElement('div');
    text.className = 'trash-text';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = item.originalFileName;
    const meta = document.createElement('span');
    meta.className = 'muted trash-meta';
    meta.textContent = `${bytes(item.fileSize)} · deleted ${ago(Date.parse(item.deletedAt))}`;
    text.append(name, meta);
    const actions = document.createElement('div');
    actions.className = 'trash-actions';
    for (const [action, words] of [['restore', 'Restore'], ['purge', 'Delete now']]) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = `small${action === 'purge' ? ' danger' : ''}`;
      button.dataset.action = action;
      button.textContent = words;
      button.setAttribute('aria-label', `${words} ${item.originalFileName}`);
      actions.append(button);
    }
    li.append(text, actions);
    return li;
  }

  async act(button) {
    const li = button.closest('li');
    const { id, name } = li.dataset;
    if (button.dataset.action === 'purge' && button.dataset.armed !== 'true') {
      button.dataset.armed = 'true';
      button.textContent = 'Delete for good?';
      setTimeout(() => {
        if (!button.isConnected) return;
        button.dataset.armed = 'false';
        button.textContent = 'Delete now';
      }, CONFIRM_MS);
      return;
    }
    for (const b of li.querySelectorAll('button')) b.disabled = true;
    try {
      if (button.dataset.action === 'restore') {
        await this.api.fetch(`/trash/${encodeURIComponent(id)}/restore`, { method: 'POST' });
        this.announce(`${name} is back in the timeline.`);
        this.onRestored?.();
      } else {
        await this.api.fetch(`/trash/${encodeURIComponent(id)}`, { method: 'DELETE' });
        this.announce(`${name} is deleted for good.`);
      }
      li.remove();
      this.updateEmpty();
      $('trash-title').focus({ preventScroll: true });
    } catch (e) {
      for (const b of li.querySelectorAll('button')) b.disabled = false;
      this.showError(`Could not ${button.dataset.action === 'restore' ? 'restore' : 'delete'} ${name}: ${e.message}`);
    }
  }
}
