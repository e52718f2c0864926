// <ferry-uploader>: a drop-in custom element on the Uploader. Importing this module
// registers it (the package's one side effect).
//
//   <script type="module" src="https://cdn.example/ferry-uploader/element.js"></script>
//   <ferry-uploader endpoint="https://photos.example/api" api-key="…"></ferry-uploader>
//
// Theming: CSS custom properties (--ferry-accent, --ferry-bg, --ferry-fg, --ferry-muted,
// --ferry-border, --ferry-radius, --ferry-font) and ::part(dropzone|button|input|summary|
// progress|status|pause|retry-all|list|item|name|item-progress|item-status|item-action).
// Events (bubbling, composed CustomEvents): ferry-ready, ferry-progress, ferry-asset-state,
// ferry-complete, ferry-error.
import { Uploader } from './index.js';

const STYLE = `
:host { display: block; font: var(--ferry-font, inherit); color: var(--ferry-fg, inherit); }
:host([hidden]) { display: none; }
.live { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.drop { border: 2px dashed var(--ferry-border, #9aa4b2); border-radius: var(--ferry-radius, 12px);
  background: var(--ferry-bg, transparent); padding: 1.25rem; text-align: center; }
.drop.over { border-color: var(--ferry-accent, #2563eb); background: color-mix(in srgb, var(--ferry-accent, #2563eb) 8%, transparent); }
.drop p { margin: 0 0 .75rem; color: var(--ferry-muted, #556); }
button { font: inherit; border-radius: calc(var(--ferry-radius, 12px) / 2); padding: .45rem .9rem; cursor: pointer;
  border: 1px solid var(--ferry-accent, #2563eb); background: var(--ferry-accent, #2563eb); color: white; }
button.secondary { background: transparent; color: var(--ferry-accent, #2563eb); }
button:focus-visible { outline: 3px solid color-mix(in srgb, var(--ferry-accent, #2563eb) 50%, white); outline-offset: 2px; }
.summary { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; margin: .75rem 0; }
.summary progress { flex: 1 1 12rem; }
.summary [role=status] { flex: 1 1 100%; color: var(--ferry-muted, #556); font-size: .9em; }
ul { list-style: none; margin: 0; padding: 0; }
li { display: grid; grid-template-columns: 1fr auto auto; gap: .25rem .75rem; align-items: center;
  padding: .4rem 0; border-top: 1px solid color-mix(in srgb, var(--ferry-border, #9aa4b2) 40%, transparent); }
.name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
li progress { grid-column: 1 / -1; width: 100%; height: .4rem; }
.item-status { font-size: .85em; color: var(--ferry-muted, #556); }
li[data-status=failed] .item-status { color: #b91c1c; }
li[data-status=uploaded] .item-status, li[data-status=duplicate] .item-status { color: #15803d; }
[hidden] { display: none !important; }
`;

const STATUS_TEXT = {
  pending: 'Waiting',
  hashing: 'Checking file',
  checking: 'Asking the server',
  uploading: 'Uploading',
  uploaded: 'Backed up',
  duplicate: 'Already on the server',
  failed: 'Failed',
  skipped: 'Skipped',
};
const IN_PROGRESS = new Set(['pending', 'hashing', 'checking', 'uploading']);
const FINISHED = new Set(['uploaded', 'duplicate']);
/** Rows the element shows when it opens on a catalog with files in it. */
const SHOWN_ROWS = 200;

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function bytes(n) {
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(n >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
}

function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min left`;
  return `${(seconds / 3600).toFixed(1)} h left`;
}

export class FerryUploaderElement extends HTMLElement {
  static get observedAttributes() { return ['api-key', 'accept', 'disabled']; }

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.append(element('style', {}, STYLE));
    this._drop = element('div', { class: 'drop', part: 'dropzone', role: 'group', 'aria-labelledby': 'hint' });
    const hint = element('p', { id: 'hint' });
    hint.append(element('slot', { name: 'hint' }, 'Drop photos and videos here, or'));
    this._button = element('button', { type: 'button', part: 'button', 'aria-describedby': 'hint' }, 'Choose files');
    this._input = element('input', { type: 'file', multiple: '', hidden: '', part: 'input', tabindex: '-1', 'aria-hidden': 'true' });
    this._drop.append(hint, this._button, this._input);

    const summary = element('div', { class: 'summary', part: 'summary' });
    this._progress = element('progress', { part: 'progress', max: '1', value: '0', 'aria-label': 'Upload progress' });
    this._pause = element('button', { type: 'button', class: 'secondary', part: 'pause', hidden: '' }, 'Pause');
    this._retryAll = element('button', { type: 'button', class: 'secondary', part: 'retry-all', hidden: '' }, 'Retry failed');
    // What is seen changes with every progress event (speed, time left); what a screen
    // reader hears changes only when the state does, or something went wrong.
    this._status = element('span', { part: 'status' });
    this._live = element('span', { role: 'status', class: 'live' });
    this._heard = '';
    this._errorShownUntil = 0;
    summary.append(this._progress, this._pause, this._retryAll, this._status, this._live);

    this._list = element('ul', { part: 'list', 'aria-label': 'Files' });
    root.append(this._drop, summary, this._list);
    this._rows = new Map();
    this._paused = false;
    this._extra = {};

    this._button.addEventListener('click', () => this._input.click());
    this._input.addEventListener('change', () => {
      const files = [...this._input.files];
      this._input.value = '';
      this.add(files).catch((e) => this._fail(e));
    });
    this._drop.addEventListener('dragover', (e) => {
      if (this.hasAttribute('disabled')) return;
      e.preventDefault();
      this._drop.classList.add('over');
    });
    this._drop.addEventListener('dragleave', () => this._drop.classList.remove('over'));
    this._drop.addEventListener('drop', (e) => {
      e.preventDefault();
      this._drop.classList.remove('over');
      if (this.hasAttribute('disabled')) return;
      this.add(e.dataTransfer).catch((err) => this._fail(err));
    });
    this._pause.addEventListener('click', () => {
      const action = this._paused ? this.uploader?.resume() : this.uploader?.pause();
      action?.catch((e) => this._fail(e));
    });
    this._retryAll.addEventListener('click', () => this.uploader?.retryAll().catch((e) => this._fail(e)));
  }

  /**
   * Extra Uploader options that attributes cannot carry (getAuth, policy, albums…).
   * Call before the element is connected, or call `reset()` afterwards.
   */
  configure(options) {
    this._extra = { ...options };
    if (this.isConnected) this.reset();
  }

  connectedCallback() {
    // Attributes set right after creation are in place by the next microtask.
    if (!this.uploader) queueMicrotask(() => { if (this.isConnected && !this.uploader) this.reset(); });
  }

  attributeChangedCallback(name, _old, value) {
    if (name === 'accept') {
      if (value) this._input.setAttribute('accept', value);
      else this._input.removeAttribute('accept');
    } else if (name === 'disabled') {
      this._button.disabled = value !== null;
    } else if (name === 'api-key' && this.uploader && value) {
      this.uploader.signIn(value).catch((e) => this._fail(e));
    }
  }

  /** Creates the Uploader from the attributes and `configure()` options. */
  reset() {
    this.uploader?.destroy();
    this._rows.clear();
    this._list.replaceChildren();
    const number = (name) => (this.hasAttribute(name) ? Number(this.getAttribute(name)) : undefined);
    const options = {
      endpoint: this.getAttribute('endpoint') ?? undefined,
      tusEndpoint: this.getAttribute('tus-endpoint') ?? undefined,
      catalog: this.getAttribute('catalog') ?? undefined,
      chunkSize: number('chunk-size'),
      concurrency: number('concurrency'),
      dedup: this.hasAttribute('dedup') ? this.getAttribute('dedup') !== 'false' : undefined,
      autoStart: !this.hasAttribute('manual-start'),
      ...this._extra,
    };
    if (!options.getAuth && !options.headers) options.apiKey = this.getAttribute('api-key') ?? '';
    for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
    let uploader;
    try {
      uploader = new Uploader(options);
    } catch (e) {
      this._fail(e);
      return;
    }
    this.uploader = uploader;
    uploader.on('progress', (p) => this._onProgress(p));
    uploader.on('asset-progress', (a) => this._row(a));
    uploader.on('asset-state', (a) => this._dispatch('ferry-asset-state', a));
    uploader.on('complete', (c) => this._dispatch('ferry-complete', c));
    uploader.on('error', (e) => this._fail(e));
    uploader.ready.then(async () => {
      // The files the person may still act on (waiting, failed, skipped), then the newest
      // backed up, up to SHOWN_ROWS: `assets` lists oldest first, so its first rows would
      // be old backups and hide what is new.
      const { items } = await uploader.assets({ limit: 20_000 });
      const open = items.filter((a) => !FINISHED.has(a.status));
      const done = items.filter((a) => FINISHED.has(a.status)).slice(-Math.max(0, SHOWN_ROWS - open.length));
      for (const asset of [...done, ...open.slice(-SHOWN_ROWS)]) this._row(asset);
      this._pause.hidden = false;
      this._dispatch('ferry-ready', { uploader });
    }, (e) => this._fail(e));
  }

  /** Adds files (a FileList, Files, or a DataTransfer) and starts uploading them. */
  async add(files) {
    if (!this.uploader) this.reset();
    const ids = await this.uploader.add(files);
    if (!this.hasAttribute('manual-start')) await this.uploader.start();
    return ids;
  }

  _dispatch(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  _fail(error) {
    const message = error?.message ?? String(error);
    this._status.textContent = message;
    // Kept in view a while: the next progress event would replace it at once.
    this._errorShownUntil = Date.now() + 10_000;
    this._say(message);
    this._dispatch('ferry-error', error);
  }

  /** Tells screen readers `text`, once. */
  _say(text) {
    if (!text || text === this._heard) return;
    this._heard = text;
    this._live.textContent = text;
  }

  _onProgress(p) {
    this._paused = p.reasonCode === 'paused';
    this._pause.textContent = this._paused ? 'Resume' : 'Pause';
    this._progress.max = Math.max(p.bytesTotal ?? 0, 1);
    this._progress.value = p.bytesDone ?? 0;
    let text;
    if (p.state === 'running') {
      const rate = p.bytesPerSecond ? `${bytes(p.bytesPerSecond)}/s` : '';
      text = [`${p.done} of ${p.total} done`, rate, duration(p.etaSeconds)].filter(Boolean).join(' · ');
    } else if (p.state === 'idle') {
      text = p.total ? `${p.done} of ${p.total} done` : '';
    } else {
      text = p.reason ?? p.state;
    }
    if (this._status.textContent !== text && Date.now() > this._errorShownUntil) this._status.textContent = text;
    const state = `${p.state}:${p.reasonCode ?? ''}`;
    if (state !== this._lastState) {
      this._lastState = state;
      if (p.state === 'running') this._say(p.total ? `Uploading ${p.total} ${p.total === 1 ? 'file' : 'files'}` : 'Uploading');
      else if (p.state === 'idle') this._say(p.total ? `${p.done} of ${p.total} done` : '');
      else this._say(p.reason ?? p.state);
    }
    this._dispatch('ferry-progress', p);
  }

  _row(asset) {
    let row = this._rows.get(asset.id);
    if (!row) {
      const li = element('li', { part: 'item' });
      const name = element('span', { class: 'name', part: 'name' });
      const status = element('span', { class: 'item-status', part: 'item-status' });
      const action = element('button', { type: 'button', class: 'secondary', part: 'item-action', hidden: '' });
      const bar = element('progress', { part: 'item-progress', max: '1', value: '0' });
      li.append(name, status, action, bar);
      action.addEventListener('click', () => {
        const id = li.dataset.id;
        const run = action.dataset.action === 'retry' ? this.uploader.retry(id) : this.uploader.cancel(id);
        run.catch((e) => this._fail(e));
      });
      row = { li, name, status, action, bar };
      this._rows.set(asset.id, row);
      this._list.append(li);
    }
    const { li, name, status, action, bar } = row;
    li.dataset.id = asset.id;
    li.dataset.status = asset.status;
    name.textContent = asset.name;
    name.title = asset.name;
    const label = STATUS_TEXT[asset.status] ?? asset.status;
    status.textContent = asset.lastError && !IN_PROGRESS.has(asset.status) ? `${label}: ${asset.lastError}` : label;
    bar.max = Math.max(asset.size, 1);
    bar.value = asset.status === 'hashing' ? 0 : Math.min(asset.doneBytes ?? 0, asset.size);
    bar.setAttribute('aria-label', `${asset.name}: ${label}`);
    const retryable = asset.status === 'failed' || (asset.status === 'skipped' && asset.errorCode !== 'cancelled' && asset.lastError !== 'Cancelled');
    const cancellable = IN_PROGRESS.has(asset.status);
    action.hidden = !retryable && !cancellable;
    action.dataset.action = retryable ? 'retry' : 'cancel';
    action.textContent = retryable ? 'Retry' : 'Cancel';
    action.setAttribute('aria-label', `${action.textContent} ${asset.name}`);
    this._retryAll.hidden = ![...this._rows.values()].some((r) => r.li.dataset.status === 'failed');
  }
}

if (!customElements.get('ferry-uploader')) customElements.define('ferry-uploader', FerryUploaderElement);
