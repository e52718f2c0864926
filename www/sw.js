// ferry's service worker: an offline app shell, the share target, and background backup.
//
// It is a module service worker (registered with `{type: 'module'}`), so it imports the
// same ES modules as the page. Every module it imports is listed in SHELL below as well.
//
// The shell is precached at install. Requests for it are served network-first, revalidated
// with the server (`cache: 'no-cache'`), so a fresh build is picked up whenever the server
// is reachable; the cached copy answers when it is not, or when the network takes longer
// than NETWORK_TIMEOUT_MS (flaky mobile data). `/api/` is never cached or intercepted:
// it goes to the network as if there were no service worker.
//
// Background backup: on a `sync` event tagged `ferry-backup` the worker opens the wasm
// engine (`Backup` from pkg/ferry.js) on the catalog the page uses and lets it drain the
// queue, from the file copies the engine staged in IndexedDB. The engine takes the same
// Web Lock as pages, so a page and the worker never upload at once. The worker stops
// starting new work after DRAIN_MS (Chromium ends a sync event after 3 minutes),
// waits for the steps in flight to be saved, and registers the sync again when work
// remains. While a page of the app is open and visible, the page does the work: the
// worker waits for it to close or be hidden, and stops when one opens.
//
// Share target: a POST of shared files to ./share (the manifest's `share_target`) is
// answered here; see receiveShare below. Watched folder: a `periodicsync` rescans it;
// see rescanFolder below.
import init, { Backup } from './pkg/ferry.js';
import { NEEDS_FILE, SYNC_TAG, keepable, loadConfig } from './lib/background.js';
import { RESCAN_TAG, WatchedFolder } from './lib/folder.js';
import { holdShared } from './lib/shared-files.js';

const CACHE = 'ferry-shell-v7';
const NETWORK_TIMEOUT_MS = 4000;
const SHELL = [
  './',
  'index.html',
  'app.js',
  'style.css',
  'manifest.webmanifest',
  'icon.svg',
  'icons/icon-192.png',
  'icons/icon-512.png',
  'icons/maskable-512.png',
  'icons/apple-touch-icon-180.png',
  'hash-worker.js',
  'lib/api.js',
  'lib/background.js',
  'lib/folder.js',
  'lib/idb.js',
  'lib/format.js',
  'lib/settings.js',
  'lib/shared-files.js',
  'views/backup.js',
  'views/folder.js',
  'views/settings.js',
  'views/timeline.js',
  'views/trash.js',
  'pkg/ferry.js',
  'pkg/ferry_bg.wasm',
];

const scope = new URL(self.registration.scope);
const isApi = (url) => url.pathname.startsWith(`${scope.pathname}api/`) || url.pathname === `${scope.pathname}healthz`;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((path) => new Request(new URL(path, scope), { cache: 'no-cache' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('ferry-shell-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method === 'POST' && new URL(request.url).pathname === `${scope.pathname}${SHARE_PATH}`) {
    event.respondWith(receiveShare(event));
    return;
  }
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== scope.origin || isApi(url) || request.headers.has('range')) return;
  event.respondWith(networkFirst(event, request, url));
});

async function networkFirst(event, request, url) {
  const cache = await caches.open(CACHE);
  // Every navigation inside the app is the one page; its hash never reaches here.
  const key = request.mode === 'navigate' ? new URL('./', scope).href : url.href;
  let stored = Promise.resolve();
  const fresh = fetch(request.mode === 'navigate'
    ? new Request(url, { cache: 'no-cache', credentials: 'same-origin' })
    : new Request(request, { cache: 'no-cache' }))
    .then((response) => {
      if (response.ok && response.type === 'basic') stored = cache.put(key, response.clone());
      return response;
    });
  // Keeps the worker alive until the fresh copy is stored, even when the cache answered.
  event.waitUntil(fresh.then(() => stored).catch(() => {}));
  const cached = await cache.match(key, { ignoreSearch: request.mode === 'navigate' });
  if (!cached) return fresh;
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(cached), NETWORK_TIMEOUT_MS); });
  return Promise.race([
    fresh.then((response) => (response.ok ? response : cached), () => cached),
    late,
  ]).finally(() => clearTimeout(timer));
}

// --- Share target -----------------------------------------------------------------------
//
// The manifest's `share_target` makes the installed app a target of the system's share
// sheet: sharing photos from the gallery POSTs them here as multipart/form-data (field
// `media`). The worker holds the files (lib/shared-files.js, which says why) and answers
// with a redirect to the app, whose page asks the person, then adds them as if they had
// been picked there.

const SHARE_PATH = 'share';

async function receiveShare(event) {
  const app = (query) => Response.redirect(new URL(`./?${query}#/backup`, scope).href, 303);
  let files;
  try {
    const form = await event.request.formData();
    // A shared file has no known modification time, so its `lastModified` reads as "now"
    // each time, which the engine would take for a file changed since it was added. A
    // new File (same bytes, not copied) pins it.
    files = form.getAll('media').filter((f) => f instanceof File && f.size > 0)
      .map((f) => new File([f], f.name, { type: f.type, lastModified: f.lastModified }));
  } catch (e) {
    console.warn('share target: unreadable form:', e);
    return app('shared=0');
  }
  if (files.length === 0) return app('shared=0');
  const config = await loadConfig().catch(() => undefined);
  if (!config?.apiKey) return app(`shared=${files.length}&share=signed-out`);
  try {
    await holdShared(files);
  } catch (e) {
    console.warn('share target: files not held:', e);
    return app(`shared=${files.length}&share=failed`);
  }
  return app(`shared=${files.length}`);
}

/**
 * Records `items` (Files, or `{file, path}`) in the engine's catalog, which keeps a copy
 * of each one it can (up to KEEP_FILES_UP_TO), and stops the engine again: the backup
 * itself is left to a page or to drain().
 */
async function addToCatalog(config, items) {
  wasm ??= init();
  await wasm;
  const backup = await Backup.open({
    apiKey: config.apiKey,
    catalogName: config.catalogName,
    settings: config.settings,
    albums: config.albums,
  });
  try {
    await backup.add(items);
    backup.stop();
    for (let i = 0; i < 50 && backup.progress().state !== 'idle'; i += 1) await sleep(100);
  } finally {
    backup.free();
  }
}

// --- Watched folder rescan (Periodic Background Sync) -----------------------------------
//
// A `periodicsync` tagged `ferry-rescan` (registered by the page while a folder is
// watched, see lib/folder.js) rescans the watched folder. While a page of the app is
// open, that page rescans (its engine then holds every file). With none open, the worker
// reads the folder itself, when the browser still grants it access to the folder (a
// File System Access permission outlives the app's pages only when the person allowed it
// on every visit), queues what is new or changed, and backs it up as drain() does. It
// queues only files the engine will keep a copy of (see keepable); the others stay out
// of the folder's watermark, so the next rescan from an open page queues them.

self.addEventListener('periodicsync', (event) => {
  if (event.tag !== RESCAN_TAG) return;
  event.waitUntil(rescanFolder());
});

async function rescanFolder() {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  if (windows.length > 0) {
    for (const w of windows) w.postMessage({ type: 'ferry-rescan' });
    return;
  }
  const config = await loadConfig().catch(() => undefined);
  if (!config?.apiKey || !config.userId || !config.backgroundBackup) return;
  const folder = await WatchedFolder.load(config.userId);
  if (!folder || !await folder.permitted(false)) return;
  const { changed, remember } = await folder.scan();
  const queued = await keepable(changed);
  if (queued.length > 0) await addToCatalog(config, queued);
  await remember(queued);
  if (queued.length === 0) return;
  draining ??= drain(true).finally(() => { draining = null; });
  await draining;
}


// --- Background backup ------------------------------------------------------------------

/**
 * No new work starts after this long. Chromium ends a sync event after 3 minutes
 * (`kMaxSyncEventDuration` in content/public/browser/background_sync_parameters.cc),
 * counted from when it fired, including any wait for an open page to go.
 */
const DRAIN_MS = 135_000;
/** After asking the engine to stop, how long the steps in flight (a chunk of 2 to 5 s,
 * a hash slice) may take to be saved: DRAIN_MS + STOP_GRACE_MS stays under 3 minutes. */
const STOP_GRACE_MS = 30_000;
/** A backup held this long (offline, waiting for Wi-Fi or charging) is left for later. */
const HELD_MS = 15_000;
const POLL_MS = 500;
const PAGE_POLL_MS = 1_000;
const PROGRESS_TAG = 'ferry-progress';
const FAILED_TAG = 'ferry-failed';

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** The drain in progress, shared by sync events that arrive while it runs. */
let draining = null;
/** Stops the drain's engine, so a page that opens can take over; null when none runs. */
let stopEngine = null;
let wasm = null;

self.addEventListener('sync', (event) => {
  if (event.tag !== SYNC_TAG) return;
  draining ??= drain(event.lastChance).finally(() => { draining = null; });
  event.waitUntil(draining);
});

// A page that opens takes over: the engine finishes its steps in flight and releases the
// Web Lock, so the page's own engine (which holds the picked files) runs.
self.addEventListener('message', (event) => {
  if (event.data?.type === 'ferry-page-open') stopEngine?.('page');
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((w) => new URL(w.url).origin === scope.origin);
    if (open) return open.focus();
    return self.clients.openWindow(new URL('./#/backup', scope).href);
  })());
});

async function visiblePage() {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  return windows.some((w) => w.visibilityState === 'visible');
}

function canNotify(config) {
  return config.notify && self.Notification?.permission === 'granted';
}

async function closeNotifications(tag) {
  for (const n of await self.registration.getNotifications({ tag })) n.close();
}

/**
 * Backs up what is queued, with no page needed. Resolves when the engine has stopped;
 * rejects when the backup was held (offline, Wi-Fi, charging), so that the browser tries
 * again later with its own backoff.
 */
async function drain(lastChance) {
  const config = await loadConfig().catch(() => undefined);
  if (!config?.apiKey || !config.backgroundBackup || config.settings?.paused) return;
  // The battery is only reported to pages (navigator.getBattery is not in workers), so
  // with "Require charging" on, the worker cannot know it may upload: the page does it.
  if (config.settings?.requireCharging && !('getBattery' in navigator)) return;
  // An open page backs up itself (its engine holds the files it was given). Wait for it
  // to close or be hidden, then take over. A page still open when the time is up keeps
  // asking for a sync while files are queued.
  const startedAt = Date.now();
  while (await visiblePage()) {
    if (Date.now() - startedAt > DRAIN_MS) return;
    await sleep(PAGE_POLL_MS);
  }
  wasm ??= init();
  await wasm;
  const backup = await Backup.open({
    apiKey: config.apiKey,
    catalogName: config.catalogName,
    settings: config.settings,
    albums: config.albums,
  });
  const failedBefore = (await backup.stats()).failed;
  // Files this backup skipped for want of their file (too large to keep a copy of, moved,
  // changed): not backed up, and only the person can mend it, so the closing notice says so.
  const needFile = new Set();
  const unwatch = backup.onChange((a) => {
    if (a.status === 'skipped' && NEEDS_FILE.has(a.errorCode)) needFile.add(a.id);
    else needFile.delete(a.id);
  });
  let why = 'done';
  let stoppedAt = 0;
  let heldSince = 0;
  let heldReason = '';
  // The progress notification follows the engine's progress events rather than the
  // polling below: a backup shorter than one poll (a few small photos) said nothing.
  // Each notification waits for the one before, and all for the closing one at the end.
  let shown = '';
  let notifying = Promise.resolve();
  const unsubscribe = backup.onProgress((p) => {
    if (!canNotify(config) || p.total === 0 || p.state !== 'running') return;
    const body = `Uploading ${Math.min(p.done + 1, p.total)}/${p.total} photos…`;
    if (body === shown) return;
    shown = body;
    notifying = notifying.then(() => self.registration.showNotification('ferry', {
      body, tag: PROGRESS_TAG, silent: true, icon: 'icons/icon-192.png',
    })).catch(() => {});
  });
  let lastPageCheck = startedAt;
  const stop = (reason) => {
    if (stoppedAt) return;
    why = reason;
    stoppedAt = Date.now();
    backup.stop();
  };
  stopEngine = stop;
  try {
    for (;;) {
      await sleep(POLL_MS);
      const now = Date.now();
      const p = backup.progress();
      if (p.state === 'idle') break;
      if (p.state === 'halted') { why = p.reasonCode ?? 'halted'; break; }
      if (p.state === 'held') {
        heldSince ||= now;
        heldReason = p.reason ?? 'held';
        if (now - heldSince > HELD_MS) stop('held');
      } else {
        heldSince = 0;
      }
      if (now - startedAt > DRAIN_MS) stop('time');
      if (now - lastPageCheck > 2_000) {
        lastPageCheck = now;
        if (await visiblePage()) stop('page');
      }
      if (stoppedAt && now - stoppedAt > STOP_GRACE_MS) break;
    }
    unsubscribe();
    unwatch();
    const stats = await backup.stats();
    if (canNotify(config)) {
      await notifying;
      await closeNotifications(PROGRESS_TAG);
      const failed = stats.failed - failedBefore;
      const again = needFile.size;
      const toAddAgain = `${again} ${again === 1 ? 'file needs' : 'files need'} to be added again`;
      if (failed > 0 || again > 0 || why === 'quota' || why === 'storage-full' || why === 'auth') {
        const body = why === 'quota' ? 'Your storage quota is full. The backup stopped; nothing is lost.'
          : why === 'storage-full' ? 'The server is out of storage space. Your files are safe here and the backup will continue when space is freed; tell the server\'s admin.'
          : why === 'auth' ? 'Sign in again to continue the backup; nothing is lost.'
            : failed === 0 ? `${toAddAgain}. Open ferry to choose ${again === 1 ? 'it' : 'them'} again.`
              : `${failed} ${failed === 1 ? 'upload' : 'uploads'} failed${again ? `, and ${toAddAgain}` : ''}. Open ferry to retry.`;
        await self.registration.showNotification('ferry', { body, tag: FAILED_TAG, icon: 'icons/icon-192.png' })
          .catch(() => {});
      }
    }
    // Work left: out of time, register again (the browser fires it once this one ends);
    // held or the server unreachable, fail this sync so the browser retries it later
    // with its backoff, and so when the server's disk was full (its admin may free it).
    // A page that took over, a full quota or a refused key: no retry.
    if (stats.waiting > 0) {
      if (why === 'time') await self.registration.sync.register(SYNC_TAG);
      else if (['held', 'done', 'storage-full'].includes(why) && !lastChance) {
        throw new Error(`${stats.waiting} files still wait (${why === 'held' ? heldReason : why === 'storage-full' ? 'the server is out of storage space' : 'server unreachable'}); the browser will retry`);
      }
    }
  } finally {
    stopEngine = null;
    backup.free();
  }
}
