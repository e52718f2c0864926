// Hand-written types for ferry-uploader's Uploader. The low-level wasm-bindgen API
// (`Backup`, `init`) keeps its generated declarations in ./ferry.d.ts.

export { Backup } from './ferry.js';

/** Stable error codes carried by every {@link FerryError}. */
export type FerryErrorCode =
  /** The server refused the key or token (401/403). Uploads stop until a new key arrives. */
  | 'auth'
  /** The user's storage quota on the server is full (413 at creation, 507 `quota-exceeded`). */
  | 'quota'
  /**
   * The server's own storage (its disk) is full (507 `storage-full`, or a 507 without a
   * problem code): the server admin's to fix. The backup tries again by itself.
   */
  | 'storage-full'
  /** Repeated network errors, timeouts or 5xx answers made the engine give up on a file. */
  | 'network'
  /** The server kept receiving bytes whose SHA-256 differs from the file's. */
  | 'checksum'
  /** The file could not be read: moved or deleted after it was added, or its reading or hashing failed. */
  | 'file-unreadable'
  /** The file changed after it was added; add it again to back up the new version. */
  | 'file-changed'
  /**
   * ferry kept no copy of the file (over `keepFilesUpTo`, or past its storage budget) and
   * the page that had it closed; add it again to continue where its upload stopped.
   */
  | 'file-not-kept'
  /** The server refused the upload. */
  | 'rejected'
  /** The file is larger than the server accepts. */
  | 'too-large'
  /** The file's album (folder) is excluded by the album rules. */
  | 'excluded'
  /** An option or protocol this version does not support yet. */
  | 'unsupported'
  | 'invalid-options'
  /** The hashing worker or the wasm could not be loaded. */
  | 'worker'
  /** IndexedDB could not be opened, or failed during a backup (reload, or create a new Uploader, to continue). */
  | 'storage'
  | 'unknown';

export declare const ErrorCodes: readonly FerryErrorCode[];

/** Why a file failed or was skipped (`Asset.errorCode`): its error's code, or `cancelled`. */
export type AssetErrorCode =
  | 'network' | 'checksum' | 'file-unreadable' | 'file-changed' | 'file-not-kept'
  | 'rejected' | 'too-large' | 'excluded' | 'cancelled';

/** An `Error` with a stable `code`; `asset` is set when it is about one file. */
export declare class FerryError extends Error {
  readonly name: 'FerryError';
  readonly code: FerryErrorCode;
  readonly asset?: Asset;
  constructor(code: FerryErrorCode, message: string, options?: { asset?: Asset; cause?: unknown });
}

/** The error code for an asset's `lastError` text. */
export declare function errorCodeFor(message: string | null | undefined): FerryErrorCode;

/** A file's own metadata, as the engine read it. */
export interface AssetMedia {
  /** When the photo was taken or the video recorded: RFC 3339 in the file's own offset (`2024-05-01T14:00:00.000+02:00`). */
  takenAt?: string | null;
  /** A video's length in milliseconds. */
  durationMs?: number | null;
  /** The media type the first bytes show. */
  mime?: string | null;
  /** `false` when the file could not be read as far as its metadata goes (then the server decides the date). */
  complete: boolean;
}

/** Where an asset is on its way to the server. */
export type AssetStatus =
  | 'pending' | 'hashing' | 'checking' | 'uploading'
  | 'uploaded' | 'duplicate' | 'failed' | 'skipped';

/** One catalog record (stored in IndexedDB). Fields the engine has not set yet are absent (`undefined`). */
export interface Asset {
  /** The catalog's id for this asset (a random UUID). */
  id: string;
  /** The file's name. Display it as text, never as HTML. */
  name: string;
  size: number;
  /** `File.lastModified`, ms since the epoch. */
  lastModified: number;
  mime: string;
  /** The folder it came from, when a folder was picked or dropped. */
  album?: string | null;
  /** `name|size|lastModified|album`. */
  fingerprint: string;
  addedAt: number;
  status: AssetStatus;
  /** Lowercase hex SHA-256, once hashed. */
  sha256?: string | null;
  /** Bytes hashed (while hashing) or acknowledged by the server (while uploading). */
  doneBytes: number;
  /** The tus upload URL, once created. */
  uploadUrl?: string | null;
  /** The server's asset id (ferry-server), once uploaded or found to be a duplicate. */
  serverId?: string | null;
  /** Why it failed or was skipped, in words a user can act on. */
  lastError?: string | null;
  /** Why it failed or was skipped, as a code; `cancelled` when the user cancelled it. */
  errorCode?: AssetErrorCode | null;
  /**
   * A Live Photo's still (`IMG_1.HEIC` beside `IMG_1.MOV` in one pick or folder): the
   * catalog id of its motion part, which is uploaded first and linked to it on the server.
   */
  livePhotoVideo?: string | null;
  /** A Live Photo's motion part: the catalog id of its still. */
  livePhotoOf?: string | null;
  /**
   * What the file's own bytes say, read just before its upload is created (absent until
   * then). JPEG EXIF and MOV/MP4 `mvhd` are read; other files have only `mime` and
   * `complete`.
   */
  media?: AssetMedia | null;
}

export type ProgressState = 'idle' | 'running' | 'held' | 'halted';

/** Why the backup waits (`held`) or stopped (`halted`). */
export type ReasonCode =
  | 'paused' | 'offline' | 'waiting-for-wifi' | 'waiting-for-charging' | 'low-battery'
  | 'auth' | 'quota' | 'storage-full';

/** The overall state of one Uploader. */
export interface Progress {
  state: ProgressState;
  /** A sentence for people, e.g. "Waiting for Wi-Fi". */
  reason?: string | null;
  reasonCode?: ReasonCode | null;
  /** Files finished in this run, and files in it: the whole queue, from the start. */
  done: number;
  total: number;
  bytesDone: number;
  /**
   * Bytes of the queue. A long queue is taken on a batch at a time; until the last batch,
   * the files not taken on yet count at the average size of those that were.
   */
  bytesTotal: number;
  /** A file being worked on. */
  current?: { id: string; name: string; mime: string; size: number } | null;
  bytesPerSecond?: number | null;
  etaSeconds?: number | null;
}

export interface Stats {
  total: number;
  waiting: number;
  uploaded: number;
  duplicates: number;
  failed: number;
  skipped: number;
  /** ms since the epoch, or null. */
  lastBackupAt: number | null;
}

export interface Capabilities {
  networkType: boolean;
  battery: boolean;
  webLocks: boolean;
}

/** When uploading may run. Missing fields take their defaults. */
export interface Policy {
  /** Upload only on Wi-Fi or Ethernet (default true; browsers that don't report the link type are not held back). */
  wifiOnly?: boolean;
  /** Allow photos on cellular despite `wifiOnly`. */
  cellularPhotos?: boolean;
  /** Allow videos on cellular despite `wifiOnly`. */
  cellularVideos?: boolean;
  /** Upload only while charging (where the browser reports the battery). */
  requireCharging?: boolean;
}

export interface AlbumRules {
  include?: string[];
  exclude?: string[];
}

/** Auth headers the engine can send: it sends one `x-api-key` header. */
export type AuthHeaders =
  | { 'x-api-key': string }
  | { Authorization: `Bearer ${string}` }
  | { authorization: `Bearer ${string}` };

export interface UploaderOptions {
  /**
   * ferry's API root, e.g. `https://photos.example/api` (dedup check at
   * `{endpoint}/assets/bulk-upload-check`, uploads at `{endpoint}/uploads`).
   * Required unless `tusEndpoint` is given.
   */
  endpoint?: string;
  /** Where uploads are created, if not `{endpoint}/uploads`: any tus 1.0 server. */
  tusEndpoint?: string;
  /** `'tus'` (tus 1.0), `'rufh'` (IETF Resumable Uploads for HTTP, draft interop version `rufhVersion`), or `'auto'` (the engine discovers the protocol: tus when the server advertises it, RUFH otherwise). `'multipart'` throws `unsupported` for now. */
  protocol?: 'auto' | 'tus' | 'rufh' | 'multipart';
  /** RUFH draft interop version: 6, 7 or 8 (default 8). */
  rufhVersion?: 6 | 7 | 8;
  /** A static key: `{ 'x-api-key': key }` or `{ Authorization: 'Bearer token' }`. Other headers throw `unsupported`. */
  headers?: AuthHeaders | Record<string, string>;
  /** Same as `headers: { 'x-api-key': apiKey }`. */
  apiKey?: string;
  /**
   * Returns the key or token to use (a string, or auth headers). Called when the Uploader
   * opens, at every `start()`/`resume()`, and when the server refuses the current key
   * (the engine halts with reason `auth`; the new key is signed in and uploads continue
   * where they were, at most twice in a row without a file finishing). It is NOT called
   * before each request: the engine holds one key at a time.
   */
  getAuth?: () => string | AuthHeaders | Promise<string | AuthHeaders>;
  /** First chunk size in bytes; then adapted to the link (1–64 MiB). Default 8 MiB. */
  chunkSize?: number;
  /** Files uploading at once. Default 3. */
  concurrency?: number;
  /**
   * How long a request may go unanswered before it is given up and retried, in ms, plus
   * 1 ms for each 64 bytes it sends. Default 30,000.
   */
  requestTimeoutMs?: number;
  /** Not supported yet: a non-empty object throws `unsupported`. */
  metadata?: Record<string, never>;
  /** When uploading may run (Wi-Fi, cellular, charging). */
  policy?: Policy;
  /** Ask the server which bytes it already has. Default true with `endpoint`, false with only `tusEndpoint`. */
  dedup?: boolean;
  /**
   * The IndexedDB catalog namespace (also names the Web Lock and BroadcastChannel).
   * Defaults to one derived from the endpoints, so Uploaders to different servers never
   * share state. Give a user-specific name when several users share a browser.
   */
  catalog?: string;
  /** Start uploading as soon as files are added (and resume a previous page's queue at once). Default false: call `start()`. */
  autoStart?: boolean;
  /** Albums (folders) to back up and to exclude. */
  albums?: AlbumRules;
  /** Files up to this size are kept in IndexedDB until backed up (default 64 MiB). */
  keepFilesUpTo?: number;
  /** Kept files never make this origin's storage exceed this (default 1 GiB). */
  keepFilesBudget?: number;
}

/** What `complete` carries. */
export interface CompleteEvent {
  progress: Progress;
  stats: Stats;
}

export interface UploaderEvents {
  /** The overall state changed (several times a second while uploading). */
  progress: Progress;
  /** An asset moved to another status. */
  'asset-state': Asset;
  /** An asset's record or byte count changed. */
  'asset-progress': Asset;
  /** The queue ran empty after work. */
  complete: CompleteEvent;
  /** A file failed or was skipped for a reason other than cancel, or the backup halted. */
  error: FerryError;
  paused: Progress;
  resumed: Progress;
}

/** A file with its place in a dropped folder; the folder becomes its album. */
export interface FileWithPath {
  file: File;
  path: string;
}

export type AddInput = File | FileList | DataTransfer | Iterable<File | FileWithPath> | ArrayLike<File | FileWithPath>;

export interface AssetPage {
  items: Asset[];
  offset: number;
  /** Pass as `offset` for the next page; null on the last page. */
  nextOffset: number | null;
}

/** One upload queue to one server, with its own catalog in IndexedDB. */
export declare class Uploader {
  /** Creates an Uploader and waits until it is ready. */
  static create(options: UploaderOptions): Promise<Uploader>;
  /** Throws a {@link FerryError} (`unsupported`, `invalid-options`) at once for bad options. */
  constructor(options: UploaderOptions);
  /** Resolves once the wasm, the catalog and the hashing workers are up; rejects with a {@link FerryError}. */
  readonly ready: Promise<Uploader>;
  /** The catalog namespace in use. */
  readonly catalog: string;
  readonly endpoint: string | undefined;
  readonly tusEndpoint: string | undefined;
  /** The last progress seen, or undefined before `ready`. */
  readonly lastProgress?: Progress;

  on<E extends keyof UploaderEvents>(event: E, callback: (value: UploaderEvents[E]) => void): () => void;
  off<E extends keyof UploaderEvents>(event: E, callback: (value: UploaderEvents[E]) => void): void;

  /** Records files in the catalog; resolves to their asset ids. A file already backed up from this browser, unchanged, keeps its record (and id). */
  add(files: AddInput): Promise<string[]>;
  start(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(id: string): Promise<void>;
  retry(id: string): Promise<void>;
  retryAll(): Promise<void>;
  /** Uses a new key or token; uploads halted on `auth` continue. */
  signIn(key: string | AuthHeaders): Promise<void>;
  setPolicy(policy: Policy): Promise<void>;
  /** A page of the catalog, oldest first. */
  assets(page?: { limit?: number; offset?: number }): Promise<AssetPage>;
  stats(): Promise<Stats>;
  progress(): Progress | null;
  capabilities(): Promise<Capabilities>;
  /** Stops this Uploader for good and frees its engine (and the catalog's lock); the queue stays for the next Uploader on it. Methods called after it reject with `invalid-options`. */
  destroy(): Promise<void>;
}

export default Uploader;
