// Background backup, shared by the page and the service worker (`sw.js` imports it).
//
// The service worker has no localStorage, so the page writes what a background backup
// needs (the key, the catalog's name, the engine settings and album rules, whether
// Background backup is on) to a small IndexedDB database of its own, `ferry-background`,
// whenever any of it changes; signing out deletes it. The page asks for a Background Sync
// (tag `ferry-backup`) while files are queued and when it is hidden; the browser then
// wakes the service worker, which runs the same engine on the same catalog and uploads
// from the copies the engine staged in IndexedDB.
import { keyValueStore } from './idb.js';

export const SYNC_TAG = 'ferry-backup';
/** The engine keeps (stages) a copy of each picked file up to this size: its default. */
export const KEEP_FILES_UP_TO = 64 * 1024 * 1024;

/**
 * Why a file was skipped that only the person can mend, by choosing the file again (the
 * engine's `errorCode`): it was moved or deleted, changed, or too large to keep a copy of
 * when ferry closed. Unlike a file cancelled or in an excluded album, it is still wanted.
 */
export const NEEDS_FILE = new Set(['file-unreadable', 'file-changed', 'file-not-kept']);
/** Nor more than this in all, nor past half the origin's quota: its default budget. */
export const KEEP_FILES_BUDGET = 1024 * 1024 * 1024;

/** How often an open page with files queued asks for the sync again. */
const RENEW_MS = 60_000;

const configStore = keyValueStore('ferry-background', 'config');
const KEY = 'current';

/**
 * What the service worker backs up with: `{apiKey, catalogName, userId, settings, albums,
 * backgroundBackup, notify}`, or undefined before the first sign-in. (`userId` names the
 * watched folder, which is kept per user.)
 */
export const loadConfig = () => configStore.get(KEY);
export const saveConfig = (config) => configStore.put(KEY, config);
export const clearConfig = () => configStore.delete(KEY);

/** Whether this browser offers Background Sync (Chromium does; Firefox and Safari not). */
export function syncSupported() {
  return typeof navigator !== 'undefined' && 'serviceWorker' in navigator
    && typeof self.SyncManager === 'function';
}

/** Asks the browser to wake the service worker for a backup when it is online. */
export async function requestSync() {
  if (!syncSupported()) return false;
  try {
    const registration = await navigator.serviceWorker.ready;
    await registration.sync.register(SYNC_TAG);
    return true;
  } catch (e) {
    console.warn('background sync not registered:', e);
    return false;
  }
}

/**
 * The page's side: keeps the service worker's copy of the config current, tells a
 * running background backup to hand over, and asks for a sync while files are queued
 * and Background backup is on (when files are added, and when the page is hidden, which
 * is also what happens just before it closes). Returns `{ handOver(), setKey(key),
 * save(), sync() }`.
 */
export function wireBackground({ apiKey, catalogName, userId, store, backup, engineSettings }) {
  let key = apiKey;
  const config = () => ({
    apiKey: key,
    catalogName,
    userId,
    settings: engineSettings(store.settings),
    albums: store.albums,
    backgroundBackup: Boolean(store.settings.backgroundBackup),
    notify: Boolean(store.settings.backgroundBackup) && self.Notification?.permission === 'granted',
  });
  // Never for a page signed out meanwhile (in another tab): the worker would take the key up again.
  const save = () => (localStorage.getItem('ferry.apiKey')
    ? saveConfig(config()).catch((e) => console.warn('background config not saved:', e))
    : Promise.resolve());
  save();
  store.subscribe(save);

  // A backup the service worker is running finishes its steps and lets this page's
  // engine take the Web Lock: when the page opens, and before files are added (this
  // page holds them, and may not have staged a copy).
  const handOver = () => navigator.serviceWorker?.controller?.postMessage({ type: 'ferry-page-open' });
  navigator.serviceWorker?.ready.then((r) => r.active?.postMessage({ type: 'ferry-page-open' })).catch(() => {});

  // Whether files are queued, kept current so that the page can ask for the sync at
  // once when it is hidden: a closing page runs no more than that handler.
  let queued = false;
  let registration = null;
  navigator.serviceWorker?.ready.then((r) => { registration = r; }).catch(() => {});
  const register = () => {
    if (!store.settings.backgroundBackup || !queued || !syncSupported()) return;
    const sync = registration?.sync;
    if (sync) sync.register(SYNC_TAG).catch((e) => console.warn('background sync not registered:', e));
    else requestSync();
  };
  // One count at a time, and one more after it when asked for meanwhile: the engine says
  // 'idle' for each file it records while no run goes (1,000 for a folder of 1,000), and
  // stats() is nine catalog reads; started together they took tasks of 100–350 ms.
  let counting = null;
  let again = false;
  const refresh = () => {
    if (counting) {
      again = true;
      return counting;
    }
    counting = (async () => {
      do {
        again = false;
        queued = (await backup.stats()).waiting > 0;
      } while (again);
    })().finally(() => { counting = null; });
    return counting;
  };
  const maybeSync = async () => { await refresh(); register(); };
  // Files added: ask for a sync (it matters when the page closes before they are done).
  let soon = null;
  backup.onChange((asset) => {
    if (asset.status !== 'pending' || soon) return;
    queued = true;
    soon = setTimeout(() => { soon = null; maybeSync(); }, 1_000);
  });
  backup.onProgress((p) => { if (p.state === 'idle') refresh(); });
  addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') register();
  });
  // Asked again now and then while files are queued: a sync that fires while this page
  // is visible waits for it (a few minutes at most), and one asked for as the page
  // closes may never be registered.
  setInterval(() => { if (queued && document.visibilityState === 'visible') register(); }, RENEW_MS);
  maybeSync();
  return {
    handOver,
    setKey(next) { key = next; save(); },
    sync: maybeSync,
    save,
  };
}

/**
 * The `{file}` items the engine will keep a copy of, by its rule (Backup.add: each up to
 * KEEP_FILES_UP_TO, while the origin's storage stays within KEEP_FILES_BUDGET and half
 * its quota). Only those can be backed up with no page open; the rest need one.
 */
export async function keepable(items) {
  const { usage = 0, quota = 0 } = await (navigator.storage?.estimate?.() ?? Promise.resolve({})).catch(() => ({}));
  const budget = Math.min(KEEP_FILES_BUDGET, quota / 2);
  let stored = usage;
  return items.filter(({ file }) => {
    if (file.size > KEEP_FILES_UP_TO || stored + file.size > budget) return false;
    stored += file.size;
    return true;
  });
}
