// A watched folder, on browsers with the File System Access API (`showDirectoryPicker`,
// Chromium on desktop). The person grants a folder once; its handle is kept in IndexedDB
// (`ferry-folders`, one entry per user), and every rescan queues only files that are new
// or changed since the last one: each file's path is remembered with its size and
// modification time (a watermark per file, so a photo copied in with an old date is
// still seen as new). The engine's hash cache then skips re-hashing anything it has seen.

const DB = 'ferry-folders';
const STORE = 'folders';
/** Files a folder carries that are not photos (as the Backup view's JUNK). */
const JUNK = /^(\..*|thumbs\.db|desktop\.ini)$/i;

export const folderAccessSupported = () => typeof self.showDirectoryPicker === 'function';

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, use) {
  const open = indexedDB.open(DB, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  const db = await request(open);
  try {
    const tx = db.transaction(STORE, mode);
    const result = await request(use(tx.objectStore(STORE)));
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    return result;
  } finally {
    db.close();
  }
}

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
    const record = await withStore('readonly', (s) => s.get(key)).catch(() => undefined);
    return record?.handle ? new WatchedFolder(key, record) : null;
  }

  /** Asks the person for a folder (a user gesture must lead here) and keeps it. */
  static async choose(key) {
    const handle = await self.showDirectoryPicker({ id: 'ferry-watched', mode: 'read' });
    const folder = new WatchedFolder(key, { handle, known: {}, scannedAt: null, files: 0 });
    await folder.save();
    return folder;
  }

  save() { return withStore('readwrite', (s) => s.put(this.record, this.key)); }

  forget() { return withStore('readwrite', (s) => s.delete(this.key)); }

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
    const remember = async () => {
      this.record = { ...this.record, known, scannedAt: Date.now(), files: all.length };
      await this.save();
    };
    return { changed, remember };
  }
}
