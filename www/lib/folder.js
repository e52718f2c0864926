// A watched folder, on browsers with the File System Access API (`showDirectoryPicker`,
// Chromium on desktop). The person grants a folder once; its handle is kept in IndexedDB
// (`ferry-folders`, one entry per user), and every rescan queues only files that are new
// or changed since the last one: each file's path is remembered with its size and
// modification time (a watermark per file, so a photo copied in with an old date is
// still seen as new). The engine's hash cache then skips re-hashing anything it has seen.

import { keyValueStore } from './idb.js';

const folders = keyValueStore('ferry-folders', 'folders');
/** Files a folder carries that are not photos (as the Backup view's JUNK). */
const JUNK = /^(\..*|thumbs\.db|desktop\.ini)$/i;

export const folderAccessSupported = () => typeof self.showDirectoryPicker === 'function';


/** Every file under `dir` as `{file, path}`, the path starting with the folder's name. */
async function walk(dir, prefix, out) {
  for await (const entry of dir.values()) {
    if (entry.kind === 'directory') await walk(entry, `${prefix}${entry.name}/`, out);
    else if (!JUNK.test(entry.name)) out.push({ file: await entry.getFile(), path: `${prefix}${entry.name}` });
  }
  return out;
}

export class WatchedFolder {
  constructor(key, record) {
    this.key = key;
    this.record = record; // { handle, known: {path: "size:lastModified"}, scannedAt, files }
  }

  get name() { return this.record.handle.name; }
  get scannedAt() { return this.record.scannedAt; }
  get files() { return this.record.files ?? 0; }

  /** The folder `key` (a user id) watches, or null. */
  static async load(key) {
    const record = await folders.get(key).catch(() => undefined);
    return record?.handle ? new WatchedFolder(key, record) : null;
  }

  /** Asks the person for a folder (a user gesture must lead here) and keeps it. */
  static async choose(key) {
    const handle = await self.showDirectoryPicker({ id: 'ferry-watched', mode: 'read' });
    const folder = new WatchedFolder(key, { handle, known: {}, scannedAt: null, files: 0 });
    await folder.save();
    return folder;
  }

  save() { return folders.put(this.key, this.record); }

  forget() { return folders.delete(this.key); }

  /**
   * Whether the folder may be read now. With `ask` (from a user gesture) the browser
   * asks the person again; a persisted handle usually needs that after a restart.
   */
  async permitted(ask = false) {
    const mode = { mode: 'read' };
    if (await this.record.handle.queryPermission?.(mode) === 'granted') return true;
    return ask && await this.record.handle.requestPermission?.(mode) === 'granted';
  }

  /**
   * Reads the folder. Resolves to `{changed, remember}`: the `{file, path}` items new or
   * changed since the last scan, and a function to call once they are queued, which
   * records this scan (so files that could not be queued are offered again next time).
   * `remember(queued)` records only the `queued` ones among the changed (default: all).
   */
  async scan() {
    const all = await walk(this.record.handle, `${this.name}/`, []);
    const known = {};
    const changed = [];
    for (const item of all) {
      const signature = `${item.file.size}:${item.file.lastModified}`;
      known[item.path] = signature;
      if (this.record.known[item.path] !== signature) changed.push(item);
    }
    const remember = async (queued = changed) => {
      const taken = new Set(queued.map((item) => item.path));
      for (const { path } of changed) {
        if (taken.has(path)) continue;
        if (path in this.record.known) known[path] = this.record.known[path];
        else delete known[path];
      }
      this.record = { ...this.record, known, scannedAt: Date.now(), files: all.length };
      await this.save();
    };
    return { changed, remember };
  }
}

// --- Periodic Background Sync ------------------------------------------------------------
//
// Where the browser offers it (Chromium, for an installed app it sees used often), the
// service worker rescans the watched folder now and then with no page open (see sw.js).
// Browsers decide how often; ferry asks for at most twice a day.

export const RESCAN_TAG = 'ferry-rescan';
const RESCAN_EVERY_MS = 12 * 60 * 60 * 1000;

/**
 * Asks for a periodic rescan (`on`) or stops asking. Resolves to true when the browser
 * registered it: it needs Periodic Background Sync and its permission, which Chromium
 * grants to installed apps only.
 */
export async function periodicRescan(on) {
  try {
    const registration = await navigator.serviceWorker?.ready;
    const periodic = registration?.periodicSync;
    if (!periodic) return false;
    if (!on) {
      await periodic.unregister(RESCAN_TAG);
      return false;
    }
    const state = await navigator.permissions?.query({ name: 'periodic-background-sync' }).catch(() => null);
    if (state && state.state !== 'granted') return false;
    await periodic.register(RESCAN_TAG, { minInterval: RESCAN_EVERY_MS });
    return (await periodic.getTags()).includes(RESCAN_TAG);
  } catch (e) {
    console.warn('periodic rescan not registered:', e);
    return false;
  }
}
