// The Backup view: the status card of seed 002 ("✓ Backup complete · 1,234 of 1,234
// backed up · Last backup: 2 hours ago") driven by the engine's progress (current file,
// "12 of 50 · 2.4 MB / 5.1 MB", speed, time left, why it waits or stopped), Pause and
// Resume, the file and folder pickers and the drop zone, failed uploads with Retry and
// Retry all, albums with include and exclude rules, this browser's files with Cancel and
// Retry, storage quota and statistics. Names and server text are set as text only.
import { ago, bytes, cameraTime, count, duration } from '../lib/format.js';
import { KEEP_FILES_UP_TO, NEEDS_FILE } from '../lib/background.js';

const $ = (id) => document.getElementById(id);

const ACTIVE = new Set(['pending', 'hashing', 'checking', 'uploading']);
const DONE = new Set(['uploaded', 'duplicate']);

const STATUS_WORDS = {
  pending: 'Waiting',
  hashing: 'Reading',
  checking: 'Checking server',
  uploading: 'Uploading',
  uploaded: 'Backed up',
  duplicate: 'Already backed up',
  failed: 'Failed',
  skipped: 'Skipped',
};

const VERBS = { pending: 'Waiting:', hashing: 'Reading', checking: 'Checking', uploading: 'Uploading' };

/** Images every browser can draw, for the current file's thumbnail. */
const DRAWABLE = /^image\/(jpeg|png|gif|webp|avif|bmp)$/;
/** Files a folder carries that are not photos: not worth a row. */
const JUNK = /^(\..*|thumbs\.db|desktop\.ini)$/i;

/**
 * Rows in "From this browser", newest first. A backup of thousands of files would
 * otherwise keep a row per file in the DOM, and the layout of every row on each change
 * took most of the main thread (the engine's own work waited behind it). The status
 * card, statistics and failed uploads cover every file.
 */
const ROW_LIMIT = 100;

/** How often progress is read out to screen readers while a backup runs. */
const ANNOUNCE_EVERY_MS = 15_000;

/**
 * Files per call of the engine's `add`. It writes a call's records in one go, in one task
 * of the page's main thread (three IndexedDB writes a file): a folder of 1,000 took
 * 110–180 ms at once. A hundred is a fraction of a frame's budget.
 */
const ADD_CHUNK = 100;

/** The folder and lowercase base name of an item: a Live Photo's still and video share it. */
function pairKey(item) {
  const file = item.file ?? item;
  const path = item.path ?? file.webkitRelativePath ?? '';
  const folder = path.split('/').slice(-2, -1)[0] ?? '';
  const dot = file.name.lastIndexOf('.');
  return `${folder}/${dot > 0 ? file.name.slice(0, dot) : file.name}`.toLowerCase();
}

/**
 * `items` in chunks of about ADD_CHUNK, in their order except that the files of one folder
 * and base name go together (the engine pairs Live Photos only within one call). Reads
 * names and paths only: see `add`.
 */
export function addChunks(items) {
  if (items.length <= ADD_CHUNK) return [items];
  const groups = new Map();
  for (const item of items) {
    const k = pairKey(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  const chunks = [];
  let chunk = [];
  for (const group of groups.values()) {
    chunk.push(...group);
    if (chunk.length >= ADD_CHUNK) { chunks.push(chunk); chunk = []; }
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * Why the engine stopped: 'quota' (the user's quota is full), 'storage-full' (the
 * server's disk is), 'auth', or 'other'; null when it did not.
 */
export function haltKind(progress) {
  if (progress?.state !== 'halted') return null;
  return ['quota', 'storage-full', 'auth'].includes(progress.reasonCode) ? progress.reasonCode : 'other';
}

/** `el`, made focusable by script (not by Tab) so focus can be put there. */
function focusable(el) {
  if (!el.hasAttribute('tabindex')) el.tabIndex = -1;
  return el;
}

/** Reads `readEntries` to the end: it answers in batches. */
async function readAll(reader) {
  const all = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

/** A dropped file or folder as `{file, path}` items, folders walked recursively. */
async function walk(entry, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\/+/, '') });
  } else if (entry.isDirectory) {
    for (const child of await readAll(entry.createReader())) await walk(child, out);
  }
}

/** Sets an element's text when it differs (the same text again would still relayout). */
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

export class BackupView {
  constructor({ backup, api, user, store, announce, showError, onUploaded, onSignInNeeded, beforeAdd }) {
    this.backup = backup;
    this.api = api;
    this.store = store;
    this.announce = announce;
    this.showError = showError;
    this.onUploaded = onUploaded;
    this.onSignInNeeded = onSignInNeeded;
    this.beforeAdd = beforeAdd;
    this.records = new Map();
    this.wanted = null; // see needsFile
    this.latestByFile = null; // see fileState
    this.order = []; // record ids, oldest first
    this.rows = new Map(); // the rows shown: the newest ROW_LIMIT records
    this.dirty = new Set();
    this.scheduled = false;
    this.progress = backup.progress();
    this.files = new Map(); // name → Files of that name picked in this page, for thumbnails
    this.thumb = { id: null, url: null };
    this.lastAnnounce = 0;
    this.lastTitle = '';
    this.wasActive = false;
    this.failedKey = '';
    this.albumsKey = '';
    this.authNotified = false;
    this.lastBackupKey = `ferry.lastBackup:${user.id}`;
    this.lastBackupAt = Number(localStorage.getItem(this.lastBackupKey)) || 0;
    this.quotaTimer = null;
    this.quotaKnown = false;
  }

  async load() {
    this.backup.onChange((asset) => this.change(asset));
    this.backup.onProgress((p) => { this.progress = p; this.schedule(); });
    for (const asset of await this.backup.assets(100000)) {
      if (!this.records.has(asset.id)) this.order.push(asset.id);
      this.records.set(asset.id, asset);
      this.wanted = null;
      this.latestByFile = null;
      this.dirty.add(asset.id);
      if (DONE.has(asset.status)) this.lastBackupAt = Math.max(this.lastBackupAt, asset.addedAt);
    }
    this.wasActive = this.activeCount() > 0;
    this.flush();
    this.wireIntake();
    this.wireActions();
    this.store.subscribe(() => { this.albumsKey = ''; this.schedule(); });
    this.refreshQuota();
    addEventListener('online', () => { this.refreshQuota(); this.schedule(); });
    addEventListener('offline', () => { this.schedule(); if (!this.quotaKnown) this.quotaUnavailable(); });
    setInterval(() => this.renderCard(), 30_000); // keeps "2 minutes ago" true
  }

  show() { this.renderCard(); }

  /** After signing in again with a new key: the engine and the API use it. */
  signedIn(key) {
    this.api.key = key;
    this.backup.signIn(key);
    // The engine cleared its halt; read it now so the old "sign in again" is not acted on.
    this.progress = this.backup.progress();
    this.schedule();
    this.refreshQuota();
  }

  change(asset) {
    const before = this.records.get(asset.id);
    if (!before) this.order.push(asset.id);
    this.records.set(asset.id, asset);
    this.wanted = null;
    this.latestByFile = null;
    if (DONE.has(asset.status) && !DONE.has(before?.status)) {
      this.lastBackupAt = Date.now();
      localStorage.setItem(this.lastBackupKey, String(this.lastBackupAt));
      this.onUploaded?.();
      this.refreshQuotaSoon();
    }
    this.dirty.add(asset.id);
    this.schedule();
  }

  /** Coalesces the engine's frequent events into one render per frame. */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => { if (this.scheduled) { this.scheduled = false; this.flush(); } };
    requestAnimationFrame(run);
    setTimeout(run, 250); // rAF does not run in background tabs
  }

  flush() {
    const list = $('assets');
    const shown = this.order.slice(-ROW_LIMIT); // oldest first
    const keep = new Set(shown);
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) { row.remove(); this.rows.delete(id); }
    }
    // New rows are prepended, oldest first, so the newest ends on top.
    for (const id of shown) if (this.dirty.has(id) || !this.rows.has(id)) this.renderRow(this.records.get(id), list);
    this.dirty.clear();
    const hidden = this.order.length - shown.length;
    $('assets-more').hidden = hidden === 0;
    $('assets-more').textContent = `…and ${count(hidden)} earlier ${hidden === 1 ? 'file' : 'files'}`;
    this.renderCard();
    this.renderStats();
    this.renderFailed();
    this.renderAlbums();
  }

  // --- Intake -------------------------------------------------------------------------

  /** Queues picked, dropped or scanned files; resolves to whether the engine recorded them. */
  add(items) {
    if (!items || items.length === 0) return Promise.resolve(true);
    navigator.storage?.persist?.().catch(() => {});
    const kept = items.filter((item) => {
      const file = item.file ?? item;
      const path = item.path ?? file.webkitRelativePath ?? '';
      return !(path.includes('/') && JUNK.test(file.name));
    });
    // By name only: the first read of a picked File's size or lastModified asks the
    // browser for the file's details, about 0.5 ms each on the main thread (1,000 files
    // took a 470 ms task). The engine reads them one file at a time as it records them.
    for (const item of kept) {
      const file = item.file ?? item;
      const same = this.files.get(file.name);
      if (same) same.push(file);
      else this.files.set(file.name, [file]);
    }
    this.beforeAdd?.();
    return (async () => {
      for (const chunk of addChunks(kept)) await this.backup.add(chunk);
      return true;
    })().catch((e) => {
      console.warn(e);
      this.showError(`Could not add all the files: ${e?.message ?? e}. Choose again those missing from the list below.`);
      return false;
    });
  }

  wireIntake() {
    for (const id of ['files', 'folder']) {
      $(id).addEventListener('change', (e) => { this.add([...e.target.files]); e.target.value = ''; });
    }
    const zone = $('drop-zone');
    const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    // The whole page accepts drops while the Backup view is shown; the zone lights up.
    document.addEventListener('dragover', (e) => {
      if (!hasFiles(e) || $('backup').hidden) return;
      e.preventDefault();
      zone.classList.add('over');
    });
    document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) zone.classList.remove('over'); });
    document.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      zone.classList.remove('over');
      if ($('backup').hidden) return;
      // Entries must be taken while the event runs; the DataTransfer empties afterwards.
      const loose = [];
      const entries = [];
      for (const item of e.dataTransfer.items ?? []) {
        if (item.kind !== 'file') continue;
        const entry = item.webkitGetAsEntry?.();
        if (entry) entries.push(entry);
        else if (item.getAsFile()) loose.push(item.getAsFile());
      }
      if (entries.length === 0 && loose.length === 0) {
        this.add([...e.dataTransfer.files]);
        return;
      }
      (async () => {
        const out = [...loose];
        for (const entry of entries) await walk(entry, out);
        this.add(out);
      })().catch((err) => {
        console.warn(err);
        this.showError(`Could not read the dropped folder: ${err?.message ?? err}`);
      });
    });
  }

  // --- Actions ------------------------------------------------------------------------

  wireActions() {
    const act = (e) => {
      const button = e.target.closest('button[data-action]');
      if (!button) return;
      const id = button.closest('li[data-id]')?.dataset.id;
      if (!id) return;
      // Choosing a file again is the person's own pick: `add` takes it up where it was.
      if (button.dataset.action === 'choose') { $('files').click(); return; }
      // Not `disabled` while it works: a disabled button loses the focus, and with it the
      // person's place (the button is replaced when the row changes, focus and all).
      if (button.getAttribute('aria-disabled') === 'true') return;
      button.setAttribute('aria-disabled', 'true');
      const done = ['cancel', 'dismiss'].includes(button.dataset.action) ? this.backup.cancel(id) : this.backup.retry(id);
      done.catch((err) => this.showError(`That did not work: ${err?.message ?? err}`))
        .finally(() => button.removeAttribute('aria-disabled'));
    };
    $('assets').addEventListener('click', act);
    $('failed-list').addEventListener('click', act);
    $('retry-all').addEventListener('click', async () => {
      $('retry-all').disabled = true;
      try {
        await this.backup.retryAll();
        this.announce('Retrying the failed uploads.');
      } catch (err) {
        this.showError(`That did not work: ${err?.message ?? err}`);
      } finally {
        $('retry-all').disabled = false;
      }
    });
    $('pause-button').addEventListener('click', () => {
      const paused = !this.store.settings.paused;
      this.store.set({ paused });
      this.announce(paused ? 'Backup paused.' : 'Backup resumed.');
    });
    $('quota-retry').addEventListener('click', () => {
      this.backup.resume();
      this.progress = this.backup.progress();
      if (this.store.settings.paused) this.store.set({ paused: false });
      this.schedule();
      this.refreshQuota();
      this.announce('Trying again.');
    });
    $('album-list').addEventListener('change', (e) => {
      const select = e.target.closest('select[data-album]');
      if (select) this.store.setAlbum(select.dataset.album, select.value);
    });
  }

  // --- Rendering ----------------------------------------------------------------------

  renderRow(asset, list) {
    let row = this.rows.get(asset.id);
    if (!row) {
      row = document.createElement('li');
      row.dataset.id = asset.id;
      for (const [tag, cls] of [['span', 'name'], ['span', 'status'], ['progress', 'bar'], ['span', 'detail'], ['span', 'actions']]) {
        const part = document.createElement(tag);
        part.className = cls;
        row.append(part);
      }
      this.rows.set(asset.id, row);
      list.prepend(row); // newest first
    }
    // Only what changed is written: each write is a style and layout invalidation.
    if (row.dataset.status !== asset.status) row.dataset.status = asset.status;
    if (row.dataset.name !== asset.name) {
      row.dataset.name = asset.name;
      row.querySelector('.name').textContent = asset.name;
      row.querySelector('progress').setAttribute('aria-label', `${asset.name} progress`);
    }
    setText(row.querySelector('.status'), STATUS_WORDS[asset.status] ?? asset.status);
    const bar = row.querySelector('progress');
    const max = Math.max(asset.size, 1);
    const value = DONE.has(asset.status) ? max : asset.doneBytes;
    if (bar.max !== max) bar.max = max;
    if (bar.value !== value) bar.value = value;
    let detail;
    if (asset.status === 'failed') detail = asset.lastError ?? 'Unknown error';
    else if (asset.status === 'skipped') detail = asset.lastError ?? 'Skipped';
    else if (DONE.has(asset.status)) {
      // The date the file itself gives (EXIF, QuickTime), which the timeline sorts by.
      const taken = asset.media?.takenAt ? cameraTime(asset.media.takenAt) : '';
      detail = taken ? `${bytes(asset.size)} · taken ${taken}` : bytes(asset.size);
    }
    else detail = `${bytes(asset.doneBytes)} / ${bytes(asset.size)}`;
    setText(row.querySelector('.detail'), detail);
    const action = ACTIVE.has(asset.status) ? 'cancel'
      : this.needsFile(asset) && !this.canRetry(asset) ? 'choose'
        : asset.status === 'failed' || asset.status === 'skipped' ? 'retry' : '';
    const actions = row.querySelector('.actions');
    if (actions.dataset.action !== action) {
      // Cancel becomes Retry under the person's focus: the focus moves to the new button
      // (or the row), rather than dropping to the page.
      const hadFocus = actions.contains(document.activeElement);
      actions.dataset.action = action;
      actions.replaceChildren(...(action ? [this.actionButton(action, asset.name)] : []));
      if (hadFocus) (actions.querySelector('button') ?? focusable(row)).focus();
    }
  }

  actionButton(action, name) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'small';
    button.dataset.action = action;
    button.textContent = { cancel: 'Cancel', choose: 'Choose again', dismiss: 'Dismiss' }[action] ?? 'Retry';
    button.setAttribute('aria-label', action === 'choose' ? `Choose ${name} again` : `${button.textContent} ${name}`);
    return button;
  }

  /**
   * Whether `asset` was skipped for want of its file and is still wanted: not since added
   * again under its name (a changed file comes back as a new record) nor set aside.
   */
  needsFile(asset) {
    if (asset.status !== 'skipped' || !NEEDS_FILE.has(asset.errorCode)) return false;
    // Per name and album, when a file was last added that is not itself waiting for its
    // file: built once per change of the records, not per question.
    if (!this.wanted) {
      this.wanted = new Map();
      for (const a of this.records.values()) {
        if (a.status === 'skipped' && NEEDS_FILE.has(a.errorCode)) continue;
        const k = `${a.album ?? ''}/${a.name}`;
        if (!(this.wanted.get(k) >= a.addedAt)) this.wanted.set(k, a.addedAt);
      }
    }
    return !(this.wanted.get(`${asset.album ?? ''}/${asset.name}`) > asset.addedAt);
  }

  /**
   * Whether Retry can back up a file skipped for want of it: only one not kept after ferry
   * closed, whose file this page holds again (picked here). A file that could not be read,
   * or changed, is the page's own file: it needs choosing again.
   */
  canRetry(asset) {
    return asset.errorCode === 'file-not-kept' && this.holdsFile(asset);
  }

  /** Whether this page was given `file` (by name, size and modification time). */
  holdsFile(file) {
    return Boolean(this.files.get(file.name)?.some((f) => f.size === file.size && f.lastModified === file.lastModified));
  }

  /**
   * Where `file` (by name, size and modification time) stands in this browser's backup,
   * for a watched folder's rescan: 'new' (no record), 'again' (skipped for want of its
   * file, so adding it again continues it), 'busy' (on its way), or 'settled' (backed
   * up, failed with a Retry of its own, or set aside by the person or an album rule).
   */
  fileState(file) {
    const key = (f) => `${f.size}:${f.lastModified}:${f.name}`;
    if (!this.latestByFile) {
      // The latest record of each file: built once per change of the records.
      this.latestByFile = new Map();
      for (const a of this.records.values()) {
        const k = key(a);
        if (!(this.latestByFile.get(k)?.addedAt > a.addedAt)) this.latestByFile.set(k, a);
      }
    }
    const record = this.latestByFile.get(key(file));
    if (!record) return 'new';
    // Queued, but by a page since closed: adding it again hands the engine the file, which
    // it may have no copy of.
    if (ACTIVE.has(record.status)) return this.holdsFile(file) ? 'busy' : 'again';
    if (record.status === 'skipped' && NEEDS_FILE.has(record.errorCode)) return 'again';
    return 'settled';
  }

  /** How many files are not backed up and still wanted: waiting, failed, or to add again. */
  notBackedUp() {
    const t = this.tally();
    return t.active + t.failed + t.needsFile;
  }

  activeCount() {
    let n = 0;
    for (const a of this.records.values()) if (ACTIVE.has(a.status)) n += 1;
    return n;
  }

  tally() {
    const t = { total: 0, uploaded: 0, duplicate: 0, failed: 0, skipped: 0, needsFile: 0, active: 0 };
    for (const a of this.records.values()) {
      t.total += 1;
      if (a.status === 'uploaded') t.uploaded += 1;
      else if (a.status === 'duplicate') t.duplicate += 1;
      else if (a.status === 'failed') t.failed += 1;
      else if (a.status === 'skipped') {
        t.skipped += 1;
        if (this.needsFile(a)) t.needsFile += 1;
      } else t.active += 1;
    }
    t.done = t.uploaded + t.duplicate;
    // Skipped files were left out on purpose (cancelled, an excluded album), but for those
    // still wanted that need choosing again.
    t.wanted = t.total - t.skipped + t.needsFile;
    return t;
  }

  /** The status card: what the backup is doing, or why it waits or stopped. */
  renderCard() {
    const t = this.tally();
    const p = this.progress ?? {};
    const paused = Boolean(this.store.settings.paused);
    const halt = haltKind(p);
    const counted = `${count(t.done)} of ${count(t.wanted)} backed up`;
    let state;
    let title;
    let line = counted;
    if (halt === 'quota') {
      state = 'stopped';
      title = 'Your storage quota is full';
      const waiting = t.active === 1 ? '1 file is' : `${count(t.active)} files are`;
      line = `The backup stopped. Nothing is lost: ${waiting} still queued and will upload when there is space. Delete some files or ask for a bigger quota. ${counted}.`;
    } else if (halt === 'storage-full') {
      // The server's disk, not the user's quota: theirs to report, not to fix.
      state = 'stopped';
      title = 'The server is out of storage space';
      const waiting = t.active === 1 ? '1 file is' : `${count(t.active)} files are`;
      line = `Your files are safe here and the backup will continue when space is freed; tell the server's admin. ${waiting} still queued. ${counted}.`;
    } else if (halt === 'auth') {
      state = 'stopped';
      title = 'Sign in again to continue';
      line = `${p.reason} Nothing is lost. ${counted}.`;
    } else if (halt) {
      state = 'stopped';
      title = 'Backup stopped';
      line = `${p.reason ?? ''} ${counted}.`.trim();
    } else if (paused) {
      state = 'waiting';
      title = 'Paused';
      line = t.active > 0 ? `${counted} · ${count(t.active)} waiting` : `${counted} · new files wait until you resume`;
    } else if (t.active > 0) {
      if (p.state === 'held' && p.reason) {
        state = 'waiting';
        title = p.reason;
      } else if (!navigator.onLine) {
        state = 'waiting';
        title = 'Waiting for a connection';
      } else {
        state = 'active';
        title = 'Backing up…';
      }
    } else if (t.total === 0) {
      state = 'empty';
      title = 'No backups yet';
      line = `Choose photos and videos to back them up to ${location.host}.`;
    } else if (t.failed > 0 || t.needsFile > 0) {
      state = 'failed';
      if (t.failed > 0) title = t.failed === 1 ? '1 upload failed' : `${count(t.failed)} uploads failed`;
      else title = t.needsFile === 1 ? '1 file needs to be added again' : `${count(t.needsFile)} files need to be added again`;
      if (t.needsFile > 0) {
        const them = t.needsFile === 1 ? 'it' : 'them';
        line = `${counted}. ferry could not read ${t.needsFile === 1 ? '1 file' : `${count(t.needsFile)} files`} (moved, changed, or too large to keep when ferry closed): choose ${them} again to back ${them} up.`;
      }
    } else {
      state = 'done';
      title = 'Backup complete';
    }
    const card = $('status-card');
    card.dataset.state = state;
    card.dataset.halt = halt ?? '';
    card.dataset.paused = String(paused && !halt);
    $('status-title').textContent = title;
    $('status-count').textContent = line;
    $('status-last').textContent = this.lastBackupAt ? `Last backup: ${ago(this.lastBackupAt)}` : '';
    $('stat-last').textContent = this.lastBackupAt ? ago(this.lastBackupAt) : 'Never';

    const pause = $('pause-button');
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
    pause.classList.toggle('primary', paused);
    pause.hidden = (t.total === 0 && !paused) || Boolean(halt);
    $('quota-retry').hidden = !(halt === 'quota' || halt === 'storage-full' || halt === 'other');

    this.renderCurrent(t, p, halt);
    this.announceProgress(t, title, state);
    if (halt === 'auth' && !this.authNotified) {
      this.authNotified = true;
      this.onSignInNeeded?.(p.reason);
    } else if (halt !== 'auth') {
      this.authNotified = false;
    }
  }

  /** The file being worked on, the run's progress bar, speed and time left. */
  renderCurrent(t, p, halt) {
    const box = $('current');
    if (t.active === 0 || halt) {
      box.hidden = true;
      this.setThumb(null);
      return;
    }
    let current = p.current ? this.records.get(p.current.id) : null;
    if (!current || !ACTIVE.has(current.status)) {
      const active = [...this.records.values()].filter((a) => ACTIVE.has(a.status));
      current = active.find((a) => a.status === 'uploading') ?? active.find((a) => a.status !== 'pending') ?? active[0];
    }
    box.hidden = false;
    $('current-verb').textContent = VERBS[current.status] ?? '';
    $('current-name').textContent = current.name;
    this.setThumb(current);

    const bar = $('current-bar');
    let detail;
    if (p.total > 0) {
      const index = Math.min(p.done + 1, p.total);
      detail = `${count(index)} of ${count(p.total)} · ${bytes(p.bytesDone)} / ${bytes(p.bytesTotal)}`;
      bar.max = Math.max(p.bytesTotal, 1);
      bar.value = Math.min(p.bytesDone, bar.max);
    } else {
      // Another tab is running the backup: show what the catalog says.
      detail = `${count(Math.min(t.done + 1, t.wanted))} of ${count(t.wanted)} · ${bytes(current.doneBytes)} / ${bytes(current.size)}`;
      bar.max = Math.max(current.size, 1);
      bar.value = Math.min(current.doneBytes, bar.max);
    }
    $('current-detail').textContent = detail;
    const moving = p.state === 'running' && !this.store.settings.paused;
    const speed = moving && p.bytesPerSecond > 0 ? ` · ${bytes(p.bytesPerSecond)}/s` : '';
    const eta = moving && Number.isFinite(p.etaSeconds) && p.etaSeconds >= 0
      ? ` · about ${duration(p.etaSeconds)} left` : '';
    $('current-rate').textContent = `${speed}${eta}`;
  }

  /** A small picture of the current file while this page still holds it. */
  setThumb(asset) {
    const img = $('current-thumb');
    if (asset?.id === this.thumb.id) return;
    if (this.thumb.url) URL.revokeObjectURL(this.thumb.url);
    this.thumb = { id: asset?.id ?? null, url: null };
    const file = asset && this.files.get(asset.name)
      ?.find((f) => f.size === asset.size && f.lastModified === asset.lastModified);
    if (!file || !DRAWABLE.test(file.type)) {
      img.hidden = true;
      img.removeAttribute('src');
      return;
    }
    this.thumb.url = URL.createObjectURL(file);
    img.onerror = () => { img.hidden = true; };
    img.onload = () => { img.hidden = false; };
    img.src = this.thumb.url;
  }

  announceProgress(t, title, state) {
    const active = t.active > 0;
    const now = Date.now();
    if (state === 'waiting' || state === 'stopped') {
      if (title !== this.lastTitle) this.announce(`${title}.`);
    } else if (active && !this.wasActive) {
      this.announce(`Backing up ${count(t.active)} ${t.active === 1 ? 'file' : 'files'}.`);
      this.lastAnnounce = now;
    } else if (active && now - this.lastAnnounce > ANNOUNCE_EVERY_MS) {
      this.announce(`Backing up: ${count(t.done)} of ${count(t.wanted)} backed up.`);
      this.lastAnnounce = now;
    } else if (!active && this.wasActive) {
      this.announce(t.failed > 0
        ? `Backup finished. ${count(t.done)} of ${count(t.wanted)} backed up, ${count(t.failed)} failed.`
        : `Backup complete. ${count(t.done)} of ${count(t.wanted)} backed up.`);
      this.refreshQuota();
    }
    this.lastTitle = title;
    this.wasActive = active;
  }

  renderStats() {
    const t = this.tally();
    $('stat-total').textContent = count(t.total);
    $('stat-uploaded').textContent = count(t.uploaded);
    $('stat-duplicate').textContent = count(t.duplicate);
    $('stat-failed').textContent = count(t.failed);
    $('stat-skipped').textContent = count(t.skipped);
    $('summary').textContent = t.total === 0
      ? 'Nothing backed up from this browser yet.'
      : `${count(t.total)} ${t.total === 1 ? 'file' : 'files'} · ${count(t.done)} backed up${t.failed ? ` · ${count(t.failed)} failed` : ''}${t.skipped ? ` · ${count(t.skipped)} skipped` : ''}`;
    this.renderForegroundOnly();
  }

  /**
   * Names the queued files too large for ferry to keep a copy of: they cannot be backed
   * up after the page closes (in the background or on the next visit) without being
   * added again. The engine also stops keeping copies near its storage budget, and past
   * 200 files kept at once (it keeps the next as earlier ones finish); a file still
   * without a copy when the page closes is named, with the reason, afterwards.
   */
  renderForegroundOnly() {
    const large = [...this.records.values()]
      .filter((a) => ACTIVE.has(a.status) && a.size > KEEP_FILES_UP_TO)
      .map((a) => a.name);
    const note = $('foreground-only');
    note.hidden = large.length === 0;
    if (note.hidden) return;
    const names = large.length > 3 ? `${large.slice(0, 3).join(', ')} and ${count(large.length - 3)} more` : large.join(', ');
    note.textContent = `Over 64 MiB, so backed up only while ferry is open: ${names}. If ferry closes first, add ${large.length === 1 ? 'it' : 'them'} again to continue where ${large.length === 1 ? 'it' : 'they'} stopped.`;
  }

  /** Files not backed up that need the person: failed uploads, and files to choose again. */
  renderFailed() {
    const failed = [...this.records.values()].filter((a) => a.status === 'failed');
    const again = [...this.records.values()].filter((a) => this.needsFile(a));
    const shown = [...failed, ...again];
    const key = shown.map((a) => `${a.id}\u0000${a.lastError}\u0000${this.canRetry(a)}`).join('\u0001');
    if (key === this.failedKey) return;
    this.failedKey = key;
    $('failed').hidden = shown.length === 0;
    $('failed-title').textContent = again.length === 0
      ? (failed.length === 1 ? '1 upload failed' : `${count(failed.length)} uploads failed`)
      : failed.length === 0
        ? (again.length === 1 ? '1 file to add again' : `${count(again.length)} files to add again`)
        : `${count(shown.length)} files not backed up`;
    $('retry-all').hidden = failed.length < 2;
    // The list is built anew; a button focused in it keeps the focus in its new copy, or,
    // its row gone, the list's next button (or its heading).
    const focused = $('failed-list').contains(document.activeElement) ? document.activeElement : null;
    const focusedId = focused?.closest('li[data-id]')?.dataset.id;
    const focusedAt = focused ? [...$('failed-list').querySelectorAll('button')].indexOf(focused) : -1;
    $('failed-list').replaceChildren(...shown.reverse().map((a) => {
      const li = document.createElement('li');
      li.dataset.id = a.id;
      const text = document.createElement('div');
      text.className = 'failed-text';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = a.name;
      const reason = document.createElement('span');
      reason.className = 'reason';
      reason.textContent = a.lastError ?? 'Unknown error';
      text.append(name, reason);
      if (a.status === 'failed') li.append(text, this.actionButton('retry', a.name));
      else {
        // A file gone for good can be set aside, so it stops asking.
        const actions = document.createElement('div');
        actions.className = 'failed-actions';
        actions.append(this.actionButton(this.canRetry(a) ? 'retry' : 'choose', a.name), this.actionButton('dismiss', a.name));
        li.append(text, actions);
      }
      return li;
    }));
    if (focused) {
      const buttons = [...$('failed-list').querySelectorAll('button')];
      const same = buttons.find((b) => b.closest('li')?.dataset.id === focusedId && b.dataset.action === focused.dataset.action);
      (same ?? buttons[Math.min(focusedAt, buttons.length - 1)] ?? focusable(shown.length ? $('failed-title') : $('status-title'))).focus();
    }
  }

  /** Albums (folders) seen in this browser, with their include or exclude rule. */
  renderAlbums() {
    const albums = new Map();
    for (const a of this.records.values()) {
      if (!a.album) continue;
      const k = a.album.toLowerCase();
      const entry = albums.get(k) ?? { name: a.album, count: 0, done: 0 };
      entry.count += 1;
      if (DONE.has(a.status)) entry.done += 1;
      albums.set(k, entry);
    }
    const { include, exclude } = this.store.albums;
    for (const name of [...include, ...exclude]) {
      if (!albums.has(name.toLowerCase())) albums.set(name.toLowerCase(), { name, count: 0, done: 0 });
    }
    const sorted = [...albums.values()].sort((a, b) => a.name.localeCompare(b.name));
    const key = JSON.stringify([sorted, include, exclude]);
    if (key === this.albumsKey) return;
    this.albumsKey = key;

    // Albums appear once a folder was chosen or dropped; the drop zone says so.
    $('albums').hidden = sorted.length === 0;
    const summary = $('albums-summary');
    if (include.length === 0) {
      summary.textContent = exclude.length === 0
        ? 'Every album is backed up. Include some to back up only those, or exclude any you want to leave out.'
        : 'Every album is backed up except the excluded ones. Rules apply to files added from now on.';
    } else {
      summary.textContent = 'Only included albums are backed up, and exclusion wins. Rules apply to files added from now on.';
    }
    $('album-list').replaceChildren(...sorted.map(({ name, count: n, done }) => {
      const li = document.createElement('li');
      const text = document.createElement('div');
      text.className = 'album-text';
      const label = document.createElement('span');
      label.className = 'album-name';
      label.textContent = name;
      const meta = document.createElement('span');
      meta.className = 'album-meta';
      const backed = this.store.admits(name);
      // The rule applies to files added from now on: an album excluded after some of its
      // files went up says that those stay backed up.
      const rule = backed ? 'backed up' : done > 0 ? `not backed up from now on · ${count(done)} backed up before` : 'not backed up';
      meta.textContent = `${count(n)} ${n === 1 ? 'file' : 'files'} · ${rule}`;
      li.classList.toggle('off', !backed);
      text.append(label, meta);
      const select = document.createElement('select');
      select.dataset.album = name;
      select.setAttribute('aria-label', `Rule for album ${name}`);
      for (const [value, words] of [['', 'Default'], ['include', 'Include'], ['exclude', 'Exclude']]) {
        const option = document.createElement('option');
        option.value = value;
        option.textContent = words;
        select.append(option);
      }
      select.value = this.store.albumMode(name);
      li.append(text, select);
      return li;
    }));
  }

  refreshQuotaSoon() {
    if (this.quotaTimer) return;
    this.quotaTimer = setTimeout(() => { this.quotaTimer = null; this.refreshQuota(); }, 5000);
  }

  async refreshQuota() {
    const text = $('quota-text');
    const bar = $('quota-bar');
    try {
      const me = await this.api.me();
      const used = me.quotaUsageInBytes ?? 0;
      const size = me.quotaSizeInBytes;
      if (size == null) {
        bar.hidden = true;
        text.textContent = `${bytes(used)} used · no quota`;
      } else {
        bar.hidden = false;
        bar.max = Math.max(size, 1);
        bar.value = Math.min(used, bar.max);
        bar.classList.toggle('high', used / Math.max(size, 1) > 0.9);
        text.textContent = `${bytes(used)} of ${bytes(size)} used`;
      }
      this.quotaKnown = true;
    } catch {
      if (!this.quotaKnown) this.quotaUnavailable();
    }
  }

  quotaUnavailable() {
    $('quota-bar').hidden = true;
    // The banner also covers a browser that reports itself online while it has no
    // network (Chromium 148 does after an offline reload): the app saw the server fail.
    const offline = !navigator.onLine || !$('offline-banner').hidden;
    $('quota-text').textContent = offline
      ? 'Storage use is unavailable offline.'
      : 'Storage use is unavailable right now.';
  }
}
