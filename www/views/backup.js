// The Backup view: the status card of seed 002 ("✓ Backup complete · 1,234 of 1,234
// backed up · Last backup: 2 hours ago"), the current upload, the picker and drop zone,
// failed uploads, this browser's files, storage quota and statistics. Everything shown is
// read from the engine's catalog records; names are set as text only.
import { ago, bytes, count, duration } from '../lib/format.js';

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
};

const VERBS = { pending: 'Waiting:', hashing: 'Reading', checking: 'Checking', uploading: 'Uploading' };

/** How often progress is read out to screen readers while a backup runs. */
const ANNOUNCE_EVERY_MS = 15_000;
/** The window over which upload speed is measured. */
const SPEED_WINDOW_MS = 8_000;

export class BackupView {
  constructor({ backup, api, user, announce, onUploaded }) {
    this.backup = backup;
    this.api = api;
    this.announce = announce;
    this.onUploaded = onUploaded;
    this.records = new Map();
    this.rows = new Map();
    this.dirty = new Set();
    this.scheduled = false;
    this.batch = new Set(); // ids queued since the engine was last idle
    this.samples = []; // [time, uploaded bytes of the batch], for speed and ETA
    this.currentId = null;
    this.lastAnnounce = 0;
    this.wasActive = false;
    this.failedKey = '';
    this.lastBackupKey = `ferry.lastBackup:${user.id}`;
    this.lastBackupAt = Number(localStorage.getItem(this.lastBackupKey)) || 0;
    this.quotaTimer = null;
    this.quotaKnown = false;
  }

  async load() {
    this.backup.onChange((asset) => this.change(asset));
    for (const asset of await this.backup.assets(100000)) {
      this.records.set(asset.id, asset);
      this.dirty.add(asset.id);
      if (DONE.has(asset.status)) this.lastBackupAt = Math.max(this.lastBackupAt, asset.addedAt);
    }
    this.wasActive = this.activeCount() > 0;
    for (const asset of this.records.values()) if (ACTIVE.has(asset.status)) this.batch.add(asset.id);
    this.flush();
    this.wireIntake();
    this.refreshQuota();
    addEventListener('online', () => { this.refreshQuota(); this.schedule(); });
    addEventListener('offline', () => { this.schedule(); if (!this.quotaKnown) this.quotaUnavailable(); });
    setInterval(() => this.renderCard(), 30_000); // keeps "2 minutes ago" true
  }

  show() { this.renderCard(); }

  change(asset) {
    const before = this.records.get(asset.id);
    this.records.set(asset.id, asset);
    if (ACTIVE.has(asset.status)) {
      this.batch.add(asset.id);
      this.currentId = asset.id;
    }
    if (DONE.has(asset.status) && !DONE.has(before?.status)) {
      this.lastBackupAt = Date.now();
      localStorage.setItem(this.lastBackupKey, String(this.lastBackupAt));
      this.onUploaded?.();
      this.refreshQuotaSoon();
    }
    this.dirty.add(asset.id);
    this.schedule();
  }

  /** Coalesces the engine's frequent progress events into one render per frame. */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => { if (this.scheduled) { this.scheduled = false; this.flush(); } };
    requestAnimationFrame(run);
    setTimeout(run, 250); // rAF does not run in background tabs
  }

  flush() {
    const list = $('assets');
    for (const id of this.dirty) this.renderRow(this.records.get(id), list);
    this.dirty.clear();
    this.renderCard();
    this.renderStats();
    this.renderFailed();
  }

  wireIntake() {
    const add = (files) => {
      if (!files || files.length === 0) return;
      navigator.storage?.persist?.().catch(() => {});
      this.backup.add([...files]).catch((e) => {
        console.warn(e);
        this.announce(`Backup stopped: ${e?.message ?? e}`);
      });
    };
    $('files').addEventListener('change', (e) => { add(e.target.files); e.target.value = ''; });
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
      if (!$('backup').hidden) add(e.dataTransfer.files);
    });
  }

  renderRow(asset, list) {
    let row = this.rows.get(asset.id);
    if (!row) {
      row = document.createElement('li');
      for (const [tag, cls] of [['span', 'name'], ['span', 'status'], ['progress', 'bar'], ['span', 'detail']]) {
        const part = document.createElement(tag);
        part.className = cls;
        row.append(part);
      }
      this.rows.set(asset.id, row);
      list.prepend(row); // newest first
    }
    row.dataset.status = asset.status;
    row.dataset.name = asset.name;
    row.querySelector('.name').textContent = asset.name;
    row.querySelector('.status').textContent = STATUS_WORDS[asset.status] ?? asset.status;
    const bar = row.querySelector('progress');
    bar.max = Math.max(asset.size, 1);
    bar.value = DONE.has(asset.status) ? bar.max : asset.doneBytes;
    bar.setAttribute('aria-label', `${asset.name} progress`);
    row.querySelector('.detail').textContent = asset.status === 'failed'
      ? asset.lastError ?? 'Unknown error'
      : DONE.has(asset.status) ? bytes(asset.size) : `${bytes(asset.doneBytes)} / ${bytes(asset.size)}`;
  }

  activeCount() {
    let n = 0;
    for (const a of this.records.values()) if (ACTIVE.has(a.status)) n += 1;
    return n;
  }

  tally() {
    const t = { total: 0, uploaded: 0, duplicate: 0, failed: 0, active: 0 };
    for (const a of this.records.values()) {
      t.total += 1;
      if (a.status === 'uploaded') t.uploaded += 1;
      else if (a.status === 'duplicate') t.duplicate += 1;
      else if (a.status === 'failed') t.failed += 1;
      else t.active += 1;
    }
    t.done = t.uploaded + t.duplicate;
    return t;
  }

  renderCard() {
    const t = this.tally();
    const card = $('status-card');
    let state;
    let title;
    let line;
    if (t.total === 0) {
      state = 'empty';
      title = 'No backups yet';
      line = `Choose photos and videos to back them up to ${location.host}.`;
    } else if (t.active > 0) {
      state = navigator.onLine ? 'active' : 'waiting';
      title = navigator.onLine ? 'Backing up…' : 'Waiting for network';
      line = `${count(t.done)} of ${count(t.total)} backed up`;
    } else if (t.failed > 0) {
      state = 'failed';
      title = t.failed === 1 ? '1 upload failed' : `${count(t.failed)} uploads failed`;
      line = `${count(t.done)} of ${count(t.total)} backed up`;
    } else {
      state = 'done';
      title = 'Backup complete';
      line = `${count(t.done)} of ${count(t.total)} backed up`;
    }
    card.dataset.state = state;
    $('status-title').textContent = title;
    $('status-count').textContent = line;
    $('status-last').textContent = this.lastBackupAt ? `Last backup: ${ago(this.lastBackupAt)}` : '';
    $('stat-last').textContent = this.lastBackupAt ? ago(this.lastBackupAt) : 'Never';
    this.renderCurrent(t);
    this.announceProgress(t);
  }

  renderCurrent(t) {
    const box = $('current');
    if (t.active === 0) {
      box.hidden = true;
      this.batch.clear();
      this.samples = [];
      this.currentId = null;
      return;
    }
    let current = this.records.get(this.currentId);
    if (!current || !ACTIVE.has(current.status)) {
      current = [...this.records.values()].find((a) => ACTIVE.has(a.status) && a.status !== 'pending')
        ?? [...this.records.values()].find((a) => ACTIVE.has(a.status));
      this.currentId = current.id;
    }
    let batchDone = 0;
    let uploadedBytes = 0;
    let remainingBytes = 0;
    for (const id of this.batch) {
      const a = this.records.get(id);
      if (!a) continue;
      if (!ACTIVE.has(a.status)) batchDone += 1;
      if (a.status === 'uploaded') uploadedBytes += a.size;
      else if (a.status === 'uploading') { uploadedBytes += a.doneBytes; remainingBytes += a.size - a.doneBytes; }
      else if (ACTIVE.has(a.status)) remainingBytes += a.size;
    }
    const now = performance.now();
    this.samples.push([now, uploadedBytes]);
    while (this.samples.length > 2 && now - this.samples[0][0] > SPEED_WINDOW_MS) this.samples.shift();
    const [t0, b0] = this.samples[0];
    const speed = now - t0 >= 2000 ? ((uploadedBytes - b0) * 1000) / (now - t0) : 0;

    box.hidden = false;
    $('current-verb').textContent = VERBS[current.status] ?? '';
    $('current-name').textContent = current.name;
    const bar = $('current-bar');
    bar.max = Math.max(current.size, 1);
    bar.value = Math.min(current.doneBytes, bar.max);
    bar.setAttribute('aria-label', `${current.name} progress`);
    const index = Math.min(batchDone + 1, this.batch.size);
    $('current-detail').textContent = `${count(index)} of ${count(this.batch.size)} · ${bytes(current.doneBytes)} / ${bytes(current.size)}`;
    $('current-rate').textContent = speed > 0
      ? ` · ${bytes(speed)}/s · about ${duration(remainingBytes / speed)} left`
      : '';
  }

  announceProgress(t) {
    const active = t.active > 0;
    const now = Date.now();
    if (active && !this.wasActive) {
      this.announce(`Backing up ${count(t.active)} ${t.active === 1 ? 'file' : 'files'}.`);
      this.lastAnnounce = now;
    } else if (active && now - this.lastAnnounce > ANNOUNCE_EVERY_MS) {
      this.announce(`Backing up: ${count(t.done)} of ${count(t.total)} backed up.`);
      this.lastAnnounce = now;
    } else if (!active && this.wasActive) {
      this.announce(t.failed > 0
        ? `Backup finished. ${count(t.done)} of ${count(t.total)} backed up, ${count(t.failed)} failed.`
        : `Backup complete. ${count(t.done)} of ${count(t.total)} backed up.`);
      this.refreshQuota();
    }
    this.wasActive = active;
  }

  renderStats() {
    const t = this.tally();
    $('stat-total').textContent = count(t.total);
    $('stat-uploaded').textContent = count(t.uploaded);
    $('stat-duplicate').textContent = count(t.duplicate);
    $('stat-failed').textContent = count(t.failed);
    $('summary').textContent = t.total === 0
      ? 'Nothing backed up from this browser yet.'
      : `${count(t.total)} ${t.total === 1 ? 'file' : 'files'} · ${count(t.done)} backed up${t.failed ? ` · ${count(t.failed)} failed` : ''}`;
  }

  renderFailed() {
    const failed = [...this.records.values()].filter((a) => a.status === 'failed');
    const key = failed.map((a) => `${a.id}\u0000${a.lastError}`).join('\u0001');
    if (key === this.failedKey) return;
    this.failedKey = key;
    $('failed').hidden = failed.length === 0;
    $('failed-title').textContent = failed.length === 1 ? '1 upload failed' : `${count(failed.length)} uploads failed`;
    const list = $('failed-list');
    list.replaceChildren(...failed.reverse().map((a) => {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = a.name;
      const reason = document.createElement('span');
      reason.className = 'reason';
      reason.textContent = a.lastError ?? 'Unknown error';
      li.append(name, reason);
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
    $('quota-text').textContent = navigator.onLine
      ? 'Storage use is unavailable right now.'
      : 'Storage use is unavailable offline.';
  }
}
