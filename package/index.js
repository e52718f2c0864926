// ferry-uploader: a thin, Uppy/tus-js-client-shaped wrapper over ferry's wasm engine
// (`Backup` in ./ferry.js). The engine does the work: SHA-256 in module workers, the
// catalog in IndexedDB, the dedup check, tus uploads that survive reloads. This file only
// names things, turns the engine's records into events, and gives errors stable codes.
import init, { Backup } from './ferry.js';

// Resolved from this module's own URL, so the embedding site copies nothing. Bundlers
// (Vite, webpack 5, Parcel) recognise `new URL('…', import.meta.url)` and emit the files.
const WORKER_URL = new URL('./hash-worker.js', import.meta.url);
const ENGINE_URL = new URL('./ferry.js', import.meta.url);
const WASM_URL = new URL('./ferry_bg.wasm', import.meta.url);

let wasmReady;
/** Instantiates the wasm once per page. */
function loadEngine() {
  wasmReady ??= init({ module_or_path: WASM_URL });
  return wasmReady;
}

/** Stable error codes; see `FerryErrorCode` in index.d.ts. */
export const ErrorCodes = Object.freeze([
  'auth', 'quota', 'storage-full', 'network', 'checksum', 'file-unreadable', 'file-changed', 'file-not-kept', 'rejected',
  'too-large', 'excluded', 'unsupported', 'invalid-options', 'worker', 'storage', 'unknown',
]);

/** An `Error` with a stable `code`, and the asset it is about when there is one. */
export class FerryError extends Error {
  constructor(code, message, { asset, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'FerryError';
    this.code = code;
    if (asset) this.asset = asset;
  }
}

/**
 * The code for an asset's `lastError` text, for records written before the engine gave
 * each its `errorCode` (see {@link codeOf}). These patterns follow the engine's messages
 * of that time, in src/upload.rs and src/web/runner.rs.
 */
export function errorCodeFor(message) {
  const m = String(message ?? '');
  if (/out of storage space/i.test(m)) return 'storage-full';
  if (/storage .*full|quota/i.test(m)) return 'quota';
  if (/no longer accepts your key|sign in/i.test(m)) return 'auth';
  if (/did not match|different bytes/i.test(m)) return 'checksum';
  if (/could not keep a copy/i.test(m)) return 'file-not-kept';
  if (/changed after it was added|add it again/i.test(m)) return 'file-changed';
  if (/could not be read|moved or deleted|could not read/i.test(m)) return 'file-unreadable';
  if (/larger than this server accepts|smallest chunk|too large/i.test(m)) return 'too-large';
  if (/album is not backed up/i.test(m)) return 'excluded';
  if (/refused/i.test(m)) return 'rejected';
  if (/network|trouble|repeated failures|timed out|offline|connection/i.test(m)) return 'network';
  return 'unknown';
}

/** The code for why `asset` failed or was skipped: the engine's, else read from its words. */
function codeOf(asset) {
  return ErrorCodes.includes(asset.errorCode) ? asset.errorCode : errorCodeFor(asset.lastError);
}

const PROTOCOLS = ['auto', 'tus', 'rufh'];
const NOT_YET = ['multipart'];
const EVENTS = ['progress', 'asset-state', 'asset-progress', 'complete', 'error', 'paused', 'resumed'];

/** `x-api-key` or `Authorization: Bearer …` from a headers object, case-insensitively. */
function keyFromHeaders(headers) {
  if (!headers) return undefined;
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers);
  let key;
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    if (lower === 'x-api-key') key = String(value);
    else if (lower === 'authorization') {
      const match = /^bearer\s+(.+)$/i.exec(String(value).trim());
      if (!match) {
        throw new FerryError('unsupported', 'ferry-uploader: only "Authorization: Bearer <token>" is supported (the engine sends it as x-api-key)');
      }
      key = match[1];
    } else {
      throw new FerryError('unsupported', `ferry-uploader: custom header "${name}" is not supported yet; the engine sends only x-api-key (use headers: {'x-api-key': …} or getAuth)`);
    }
  }
  return key;
}

/** What `getAuth()` returned: a key or token string, or a headers object. */
function keyFromAuth(auth) {
  if (auth == null) return '';
  if (typeof auth === 'string') return auth;
  return keyFromHeaders(auth) ?? '';
}

function absolute(url) {
  const base = globalThis.location?.href;
  return new URL(url, base).href.replace(/\/+$/, '');
}

/**
 * The worker URL the engine can start. A module worker must be same-origin with the page,
 * so when the package is served from another origin (a CDN), a one-line `blob:` module
 * that imports the real worker (fetched with CORS) stands in for it. A bundler may inline
 * the small worker script as a `data:` URL (Vite does under 4 KiB); then the blob holds
 * the worker's few lines itself: it takes the engine's compiled module from the first
 * message, as hash-worker.js does, and imports the engine from its emitted URL.
 */
function hashWorkerUrl() {
  const url = new URL(WORKER_URL);
  const blob = (source) => URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'file:') {
    return blob(`const compiled = new Promise((resolve) => addEventListener('message', (e) => resolve(e.data?.module), { once: true }));
const { default: init, serveHashRequests } = await import(${JSON.stringify(ENGINE_URL.href)});
await init({ module_or_path: (await compiled) ?? ${JSON.stringify(WASM_URL.href)} });
serveHashRequests();
`);
  }
  // Bundlers may rename ferry.js and the wasm; tell the worker where they are. Plain
  // use needs no parameters, and keeps a URL a Content-Security-Policy can name.
  const beside = (u, name) => u.href === new URL(`./${name}`, url).href;
  if (!beside(ENGINE_URL, 'ferry.js') || !beside(WASM_URL, 'ferry_bg.wasm')) {
    url.searchParams.set('engine', ENGINE_URL.href);
    url.searchParams.set('wasm', WASM_URL.href);
  }
  const origin = globalThis.location?.origin;
  if (!origin || origin === 'null' || url.origin === origin) return url.href;
  return blob(`import ${JSON.stringify(url.href)};\n`);
}

/** `File`s (with their folder paths) from a `DataTransfer`, walking dropped folders. */
async function filesFromDataTransfer(dt) {
  // Entries must be taken before the drop handler returns; walk them afterwards.
  const entries = [...(dt.items ?? [])]
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.() ?? null);
  if (!entries.length || entries.some((e) => e === null)) return [...dt.files];
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push(prefix ? { file, path: `${prefix}${file.name}` } : file);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const entry of entries) await walk(entry, '');
  return out;
}

/** Normalises what `add` takes into what `Backup.add` takes: `File`s or `{file, path}`. */
async function toEngineFiles(input) {
  if (input == null) return [];
  if (typeof DataTransfer !== 'undefined' && input instanceof DataTransfer) return filesFromDataTransfer(input);
  if (typeof File !== 'undefined' && input instanceof File) return [input];
  if (typeof input[Symbol.iterator] === 'function' || typeof input.length === 'number') {
    return Array.from(input).filter((f) => f && (f instanceof Blob || f.file instanceof Blob));
  }
  if (input.file instanceof Blob) return [input];
  throw new FerryError('invalid-options', 'add() takes a File, a FileList, a DataTransfer, or an array of Files or {file, path}');
}

/**
 * One upload queue to one server, with its own catalog in IndexedDB.
 *
 * ```js
 * const uploader = await Uploader.create({ endpoint: 'https://photos.example/api', headers: { 'x-api-key': key } });
 * uploader.on('progress', (p) => console.log(p.done, '/', p.total));
 * await uploader.add(input.files);
 * await uploader.start();
 * ```
 */
export class Uploader {
  /** Creates an Uploader and waits until it is ready. */
  static async create(options) {
    const uploader = new Uploader(options);
    await uploader.ready;
    return uploader;
  }

  constructor(options = {}) {
    const o = { ...options };
    const protocol = o.protocol ?? 'auto';
    if (NOT_YET.includes(protocol)) {
      throw new FerryError('unsupported', `ferry-uploader: protocol "${protocol}" is not supported yet; use "auto", "tus" or "rufh"`);
    }
    if (!PROTOCOLS.includes(protocol)) {
      throw new FerryError('invalid-options', `ferry-uploader: protocol must be "auto", "tus" or "rufh", not ${JSON.stringify(protocol)}`);
    }
    if (o.metadata && Object.keys(o.metadata).length) {
      throw new FerryError('unsupported', 'ferry-uploader: custom tus metadata is not supported yet; the engine sends filename, filetype, checksum, dates and album');
    }
    if (o.headers && o.getAuth) {
      throw new FerryError('invalid-options', 'ferry-uploader: pass either headers or getAuth, not both');
    }
    if (!o.endpoint && !o.tusEndpoint) {
      throw new FerryError('invalid-options', 'ferry-uploader: endpoint (ferry API root, e.g. https://photos.example/api) or tusEndpoint is required');
    }
    const staticKey = o.apiKey ?? keyFromHeaders(o.headers);
    this.endpoint = o.endpoint ? absolute(o.endpoint) : undefined;
    this.tusEndpoint = o.tusEndpoint ? absolute(o.tusEndpoint) : undefined;
    // Each endpoint (and upload server) gets its own catalog, Web Lock and BroadcastChannel.
    this.catalog = o.catalog ?? `ferry-uploader:${this.tusEndpoint ?? this.endpoint}${this.tusEndpoint && this.endpoint ? `|${this.endpoint}` : ''}`;
    this.options = o;
    this._listeners = new Map(EVENTS.map((e) => [e, new Set()]));
    this._statuses = new Map();
    this._reasonCode = null;
    this._state = 'idle';
    this._sawWork = false;
    this._authRefreshes = 0;
    this._backup = null;
    this._unsubscribe = [];
    this.ready = this._open(staticKey, protocol);
    // An unhandled rejection still surfaces; this only avoids a duplicate report when the
    // caller awaits a method instead of `ready`.
    this.ready.catch(() => {});
  }

  async _open(staticKey, protocol) {
    const o = this.options;
    let apiKey = staticKey ?? '';
    if (o.getAuth) {
      try {
        apiKey = keyFromAuth(await o.getAuth());
      } catch (cause) {
        throw new FerryError('auth', `ferry-uploader: getAuth failed: ${cause?.message ?? cause}`, { cause });
      }
    }
    try {
      await loadEngine();
    } catch (cause) {
      throw new FerryError('worker', `ferry-uploader: could not load the engine's wasm from ${WASM_URL}: ${cause?.message ?? cause}`, { cause });
    }
    const settings = { ...(o.policy ?? {}) };
    // Like tus-js-client and Uppy, nothing is sent until start(), unless autoStart.
    if (!o.autoStart) settings.paused = true;
    const engineOptions = {
      apiKey,
      endpoint: this.endpoint ?? this.tusEndpoint,
      catalogName: this.catalog,
      hashWorkerUrl: hashWorkerUrl(),
      protocol,
      ...(o.rufhVersion ? { rufhVersion: o.rufhVersion } : {}),
      dedup: o.dedup ?? !(this.tusEndpoint && !this.endpoint),
      settings,
    };
    if (this.tusEndpoint) engineOptions.tusEndpoint = this.tusEndpoint;
    for (const name of ['chunkSize', 'concurrency', 'albums', 'keepFilesUpTo', 'keepFilesBudget', 'requestTimeoutMs']) {
      if (o[name] !== undefined) engineOptions[name] = o[name];
    }
    this._settings = settings;
    let backup;
    try {
      backup = await Backup.open(engineOptions);
    } catch (cause) {
      // The engine's failures carry their code: invalid-options, storage or worker.
      const code = ErrorCodes.includes(cause?.code) ? cause.code : 'unknown';
      throw new FerryError(code, `ferry-uploader: ${cause?.message ?? cause}`, { cause });
    }
    this._backup = backup;
    this._unsubscribe.push(backup.onChange((asset) => this._onAsset(asset)));
    this._unsubscribe.push(backup.onProgress((progress) => this._onProgress(progress)));
    this._onProgress(backup.progress());
    return this;
  }

  async _engine() {
    await this.ready;
    if (this._destroyed) throw new FerryError('invalid-options', 'ferry-uploader: this Uploader was destroyed; create a new one');
    return this._backup;
  }

  /**
   * Subscribes to `progress`, `asset-state`, `asset-progress`, `complete`, `error`,
   * `paused` or `resumed`. Returns a function that unsubscribes.
   */
  on(event, callback) {
    const set = this._listeners.get(event);
    if (!set) throw new FerryError('invalid-options', `ferry-uploader: unknown event ${JSON.stringify(event)}; one of ${EVENTS.join(', ')}`);
    set.add(callback);
    return () => set.delete(callback);
  }

  /** Removes `callback` from `event`. */
  off(event, callback) {
    this._listeners.get(event)?.delete(callback);
  }

  _emit(event, value) {
    for (const callback of [...this._listeners.get(event)]) {
      try {
        callback(value);
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  }

  _onAsset(asset) {
    this._emit('asset-progress', asset);
    const before = this._statuses.get(asset.id);
    if (before === asset.status) return;
    this._statuses.set(asset.id, asset.status);
    this._emit('asset-state', asset);
    if (asset.status === 'uploaded' || asset.status === 'duplicate') this._authRefreshes = 0;
    const failed = asset.status === 'failed';
    const cancelled = asset.errorCode === 'cancelled' || /^cancelled$/i.test(asset.lastError ?? '');
    const unreadable = asset.status === 'skipped' && asset.lastError && !cancelled;
    if (failed || unreadable) {
      const code = codeOf(asset);
      this._emit('error', new FerryError(code, `${asset.name}: ${asset.lastError ?? 'failed'}`, { asset }));
    }
  }

  _onProgress(progress) {
    if (!progress) return;
    this.lastProgress = progress;
    const previous = this._state;
    const previousCode = this._reasonCode;
    this._state = progress.state;
    this._reasonCode = progress.reasonCode ?? null;
    this._emit('progress', progress);
    if (progress.state === 'running') this._sawWork = true;
    if (this._reasonCode === 'paused' && previousCode !== 'paused') this._emit('paused', progress);
    if (previousCode === 'paused' && this._reasonCode !== 'paused') this._emit('resumed', progress);
    if (progress.state === 'halted' && (previous !== 'halted' || previousCode !== this._reasonCode)) {
      if (progress.reasonCode === 'auth') this._refreshAuth(progress);
      else {
        const code = ['quota', 'storage-full', 'storage'].includes(progress.reasonCode) ? progress.reasonCode : 'unknown';
        this._emit('error', new FerryError(code, progress.reason ?? 'The backup stopped'));
      }
    }
    if (progress.state === 'idle' && previous !== 'idle' && this._sawWork) {
      this._sawWork = false;
      this.stats().then((stats) => this._emit('complete', { progress, stats }), () => {});
    }
  }

  /**
   * The engine halted because the server refused the key. With `getAuth`, ask it for a
   * new one and sign in again (uploads continue where they were); at most twice in a row
   * without a file finishing in between. Otherwise report an `auth` error.
   */
  async _refreshAuth(progress) {
    const getAuth = this.options.getAuth;
    if (getAuth && this._authRefreshes < 2) {
      this._authRefreshes += 1;
      try {
        const key = keyFromAuth(await getAuth());
        if (key) {
          this._backup.signIn(key);
          return;
        }
      } catch (cause) {
        this._emit('error', new FerryError('auth', `getAuth failed: ${cause?.message ?? cause}`, { cause }));
        return;
      }
    }
    this._emit('error', new FerryError('auth', progress.reason ?? 'The server no longer accepts the key'));
  }

  /**
   * Adds files: a `File`, a `FileList`, a `DataTransfer` (dropped folders are walked, and
   * each folder becomes the files' album), or an array of `File`s or `{file, path}`.
   * Resolves to the new asset ids. Files are recorded in IndexedDB before any work starts.
   */
  async add(files) {
    // Read a DataTransfer before the first await: browsers empty it after the drop event.
    const pending = toEngineFiles(files);
    const backup = await this._engine();
    const list = await pending;
    if (!list.length) return [];
    return backup.add(list);
  }

  /** Starts (or continues) uploading. With `getAuth`, fetches a fresh key first. */
  async start() {
    const backup = await this._engine();
    if (this.options.getAuth) {
      const key = keyFromAuth(await this.options.getAuth());
      if (key) backup.signIn(key);
    }
    this._settings = { ...this._settings, paused: false };
    backup.resume();
  }

  /** Uses a new key or token (after the server refused the old one); halted uploads continue. */
  async signIn(key) {
    const backup = await this._engine();
    this._authRefreshes = 0;
    backup.signIn(keyFromAuth(key));
  }

  /** Pauses: the chunk in flight finishes, nothing new is sent. */
  async pause() {
    const backup = await this._engine();
    this._settings = { ...this._settings, paused: true };
    backup.pause();
  }

  /** Resumes after `pause()`, or after the server's storage was full. */
  async resume() {
    return this.start();
  }

  /** Cancels asset `id`: it ends `skipped` and its partial upload is terminated. */
  async cancel(id) {
    return (await this._engine()).cancel(id);
  }

  /** Puts a failed or skipped asset back in the queue. */
  async retry(id) {
    return (await this._engine()).retry(id);
  }

  /** Puts every failed asset back in the queue. */
  async retryAll() {
    return (await this._engine()).retryAll();
  }

  /** Replaces the upload policy (Wi-Fi only, cellular, charging); applies within a second. */
  async setPolicy(policy) {
    const backup = await this._engine();
    this._settings = { ...(policy ?? {}), paused: this._settings?.paused ?? false };
    backup.setSettings(this._settings);
  }

  /**
   * A page of the catalog, oldest first: `{ items, offset, nextOffset }` where
   * `nextOffset` is null on the last page.
   */
  async assets({ limit = 100, offset = 0 } = {}) {
    const backup = await this._engine();
    const all = await backup.assets(offset + limit + 1);
    const items = all.slice(offset, offset + limit);
    return { items, offset, nextOffset: all.length > offset + limit ? offset + limit : null };
  }

  /** `{total, waiting, uploaded, duplicates, failed, skipped, lastBackupAt}`. */
  async stats() {
    return (await this._engine()).stats();
  }

  /** The overall state now, or null before `ready`. */
  progress() {
    return this._backup ? this._backup.progress() : null;
  }

  /** Which device APIs this browser offers: `{networkType, battery, webLocks}`. */
  async capabilities() {
    return (await this._engine()).capabilities();
  }

  /**
   * Stops this Uploader for good: listeners are removed, the run ends and the engine is
   * freed. The catalog (the queue) stays for the next Uploader on it, or the next page.
   */
  async destroy() {
    if (this._destroyed) return;
    await this.ready.catch(() => {});
    const backup = this._backup;
    this._destroyed = true;
    for (const unsubscribe of this._unsubscribe.splice(0)) unsubscribe();
    for (const set of this._listeners.values()) set.clear();
    if (!backup) return;
    // Not a pause: a paused run would keep the catalog's Web Lock, and another Uploader on
    // the same catalog (a component mounted again) would never run. The run ends once the
    // steps in flight are saved; the queue stays in the catalog for the next one.
    backup.stop();
    this._backup = null;
    backup.free();
  }
}

export { Backup };
export default Uploader;
