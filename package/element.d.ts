import type { AddInput, Asset, CompleteEvent, FerryError, Progress, Uploader, UploaderOptions } from './index.js';

/**
 * `<ferry-uploader endpoint="…" api-key="…">`: a drop zone, a picker button, overall
 * progress with a live status line, and one row per file with Retry or Cancel.
 *
 * Attributes: `endpoint`, `tus-endpoint`, `api-key`, `catalog`, `chunk-size`,
 * `concurrency`, `dedup="false"`, `accept`, `disabled`, `manual-start`.
 */
export declare class FerryUploaderElement extends HTMLElement {
  /** The Uploader behind the element, once connected. */
  uploader?: Uploader;
  /** Options attributes cannot carry (getAuth, policy, albums…); recreates the Uploader when connected. */
  configure(options: Partial<UploaderOptions>): void;
  /** Recreates the Uploader from the attributes and `configure()` options. */
  reset(): void;
  /** Adds files and, unless `manual-start`, starts uploading. */
  add(files: AddInput): Promise<string[]>;
}

export interface FerryUploaderEventMap {
  'ferry-ready': CustomEvent<{ uploader: Uploader }>;
  'ferry-progress': CustomEvent<Progress>;
  'ferry-asset-state': CustomEvent<Asset>;
  'ferry-complete': CustomEvent<CompleteEvent>;
  'ferry-error': CustomEvent<FerryError>;
}

declare global {
  interface HTMLElementTagNameMap {
    'ferry-uploader': FerryUploaderElement;
  }
  interface HTMLElementEventMap extends FerryUploaderEventMap {}
}
