// The page: signs in with an API key, hands picked or dropped files to ferry's engine,
// and shows each file's state from the engine's catalog. File names are only ever set
// as text, never as HTML.
import init, { Backup } from './pkg/ferry.js';

const KEY = 'ferry.apiKey';
const $ = (id) => document.getElementById(id);
const rows = new Map();

const STATUS_WORDS = {
  pending: 'Waiting',
  hashing: 'Reading',
  checking: 'Checking server',
  uploading: 'Uploading',
  uploaded: 'Backed up',
  duplicate: 'Already backed up',
  failed: 'Failed',
};

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = -1;
  do { value /= 1024; unit += 1; } while (value >= 1024 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function render(asset) {
  let row = rows.get(asset.id);
  if (!row) {
    row = document.createElement('li');
    for (const [tag, cls] of [['span', 'name'], ['span', 'status'], ['progress', 'bar'], ['span', 'detail']]) {
      const part = document.createElement(tag);
      part.className = cls;
      row.append(part);
    }
    rows.set(asset.id, row);
    $('assets').append(row);
  }
  row.dataset.status = asset.status;
  row.dataset.name = asset.name;
  row.querySelector('.name').textContent = asset.name;
  row.querySelector('.status').textContent = STATUS_WORDS[asset.status] ?? asset.status;
  const bar = row.querySelector('progress');
  bar.max = Math.max(asset.size, 1);
  bar.value = asset.size === 0 && asset.doneBytes === 0 && ['uploaded', 'duplicate'].includes(asset.status)
    ? 1 : asset.doneBytes;
  bar.setAttribute('aria-label', `${asset.name} progress`);
  row.querySelector('.detail').textContent = asset.status === 'failed'
    ? asset.lastError ?? 'Unknown error'
    : `${formatBytes(asset.doneBytes)} / ${formatBytes(asset.size)}`;
  renderSummary();
}

function renderSummary() {
  const all = [...rows.values()];
  const done = all.filter((r) => ['uploaded', 'duplicate'].includes(r.dataset.status)).length;
  const failed = all.filter((r) => r.dataset.status === 'failed').length;
  $('summary').textContent = all.length === 0
    ? 'Nothing backed up from this browser yet.'
    : `${done} of ${all.length} backed up${failed ? ` · ${failed} failed` : ''}`;
}

async function keyWorks(apiKey) {
  const res = await fetch('/api/users/me', { headers: { 'x-api-key': apiKey } });
  return res.ok;
}

async function start(apiKey) {
  const backup = await Backup.open({ apiKey, catalogName: `ferry:${location.origin}` });
  backup.onChange(render);
  for (const asset of await backup.assets(100000)) render(asset);
  renderSummary();

  const add = (files) => {
    if (files.length === 0) return;
    backup.add([...files]).catch((e) => showFatal(e));
  };
  $('files').addEventListener('change', (e) => { add(e.target.files); e.target.value = ''; });
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    add(e.dataTransfer.files);
  });
  $('backup').hidden = false;
  $('sign-out').hidden = false;
  document.body.dataset.ready = 'true';
}

function showFatal(e) {
  $('fatal').textContent = `Something went wrong: ${e?.message ?? e}`;
  $('fatal').hidden = false;
}

async function main() {
  await init();
  $('sign-out').addEventListener('click', () => { localStorage.removeItem(KEY); location.reload(); });
  const saved = localStorage.getItem(KEY);
  if (saved && await keyWorks(saved)) return start(saved);

  $('sign-in').hidden = false;
  $('key-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const apiKey = $('api-key').value.trim();
    if (!(await keyWorks(apiKey))) {
      $('key-error').textContent = 'The server did not accept that key. Check it and try again.';
      return;
    }
    localStorage.setItem(KEY, apiKey);
    $('sign-in').hidden = true;
    await start(apiKey);
  });
}

main().catch(showFatal);
