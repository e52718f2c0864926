// The watched folder on the Backup screen (File System Access browsers only): "Keep a
// folder backed up" asks for a folder once; the app then rescans it when it opens (if
// the browser still grants access; otherwise "Check now" asks again) and queues only
// new or changed files. Where the browser offers Periodic Background Sync, the service
// worker also rescans it with no page open; while a page is open, the worker asks the
// page to rescan instead (message `ferry-rescan`). Names are set as text only.
import { ago, count } from '../lib/format.js';
import { WatchedFolder, folderAccessSupported, periodicRescan } from '../lib/folder.js';
import { keepable } from '../lib/background.js';

const $ = (id) => document.getElementById(id);

export class FolderView {
  constructor({ userId, add, fileState, announce, showError }) {
    this.userId = userId;
    this.add = add;
    this.announce = announce;
    this.fileState = fileState;
    this.showError = showError;
    this.folder = null;
    this.busy = false;
    if (!folderAccessSupported()) return;
    $('watch-folder').hidden = false;
    $('watch-folder').addEventListener('click', () => this.choose());
    $('watched-rescan').addEventListener('click', () => this.rescan(true));
    $('watched-forget').addEventListener('click', () => this.forget());
    navigator.serviceWorker?.addEventListener('message', (e) => {
      if (e.data?.type === 'ferry-rescan') this.rescan(false);
    });
  }

  /** Asks for the background rescan while a folder is watched, and says when it is on. */
  async background() {
    const on = await periodicRescan(Boolean(this.folder));
    $('watched-background').hidden = !on;
  }

  /** Shows the watched folder, if any, and rescans it when access is still granted. */
  async load() {
    if (!folderAccessSupported()) return;
    this.folder = await WatchedFolder.load(this.userId);
    this.render();
    if (this.folder) this.background();
    if (this.folder && await this.folder.permitted(false)) await this.rescan(false);
    else if (this.folder) this.status('Check now to give ferry access to it again.');
  }

  async choose() {
    let folder;
    try {
      folder = await WatchedFolder.choose(this.userId);
    } catch (e) {
      if (e?.name !== 'AbortError') this.showError(`Could not open the folder: ${e?.message ?? e}`);
      return;
    }
    this.folder = folder;
    this.render();
    this.background();
    await this.rescan(false);
  }

  async rescan(ask) {
    if (!this.folder || this.busy) return;
    this.busy = true;
    $('watched-rescan').disabled = true;
    this.status('Checking for new photos and videos…');
    try {
      if (!await this.folder.permitted(ask)) {
        this.status('ferry may not read this folder now. Check now to allow it.');
        return;
      }
      const scanned = await this.folder.scan();
      // Only files the engine keeps a copy of are marked seen when queued: a larger one
      // backs up only while a page is open, and should ferry close first, the next rescan
      // queues it again (its record continues). It is marked seen once it is settled:
      // backed up, failed (it has its own Retry), or set aside (a cancel, an album rule).
      const state = new Map(scanned.changed.map((item) => [item, this.fileState(item.file)]));
      const settled = scanned.changed.filter((item) => state.get(item) === 'settled');
      const changed = scanned.changed.filter((item) => ['new', 'again'].includes(state.get(item)));
      // Measured before the add, whose copies the storage estimate would then count.
      const kept = await keepable(changed);
      if (changed.length > 0 && !await this.add(changed)) {
        this.status('The new files could not be queued. Check now to try again.');
        return;
      }
      await scanned.remember([...kept, ...settled]);
      const found = changed.length === 0 ? 'Nothing new'
        : `${count(changed.length)} new or changed ${changed.length === 1 ? 'file' : 'files'} queued`;
      this.status(`${found} · checked ${ago(this.folder.scannedAt)}`);
      if (changed.length > 0) this.announce(`${found} from ${this.folder.name}.`);
    } catch (e) {
      this.status(`Could not read the folder: ${e?.message ?? e}`);
    } finally {
      this.busy = false;
      $('watched-rescan').disabled = false;
      this.render();
    }
  }

  async forget() {
    await this.folder?.forget().catch(() => {});
    this.folder = null;
    this.render();
    this.background();
    this.announce('The folder is no longer watched. Files already backed up stay on the server.');
  }

  render() {
    $('watched').hidden = !this.folder;
    if (!this.folder) return;
    $('watched-name').textContent = this.folder.name;
    $('watched-files').textContent = this.folder.scannedAt
      ? `${count(this.folder.files)} ${this.folder.files === 1 ? 'file' : 'files'}`
      : 'Not checked yet';
  }

  status(text) { $('watched-status').textContent = text; }
}
