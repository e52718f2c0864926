// The user's backup settings and album rules, kept in localStorage and shared by the
// views: the Settings switches, the Pause button and the Albums card all change the same
// store, and every change is handed to the engine at once (`backup.setSettings`,
// `backup.setAlbumRules`), so it applies within a second.

export const SETTINGS_KEY = 'ferry.settings';
export const ALBUMS_KEY = 'ferry.albums';

export const DEFAULT_SETTINGS = Object.freeze({
  backgroundBackup: true,
  wifiOnly: true,
  requireCharging: false,
  cellularPhotos: false,
  cellularVideos: false,
  paused: false,
});

function read(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key) ?? 'null');
    return value && typeof value === 'object' ? value : fallback;
  } catch {
    return fallback;
  }
}

export function loadSettings() {
  return { ...DEFAULT_SETTINGS, ...read(SETTINGS_KEY, {}) };
}

/** `{include: [], exclude: []}`, album names as the folders are named. */
export function loadAlbumRules() {
  const rules = read(ALBUMS_KEY, {});
  const list = (v) => (Array.isArray(v) ? v.filter((s) => typeof s === 'string') : []);
  return { include: list(rules.include), exclude: list(rules.exclude) };
}

/** The part of the settings the engine's policy reads. */
export function engineSettings(s) {
  return {
    wifiOnly: Boolean(s.wifiOnly),
    cellularPhotos: Boolean(s.cellularPhotos),
    cellularVideos: Boolean(s.cellularVideos),
    requireCharging: Boolean(s.requireCharging),
    paused: Boolean(s.paused),
  };
}

/** One shared, observable copy of the settings and album rules. */
export class SettingsStore {
  constructor() {
    this.settings = loadSettings();
    this.albums = loadAlbumRules();
    this.listeners = new Set();
    // Another tab of the app changed them (Pause there pauses here too): taken as if set here.
    // A removal is a sign-out there, which signs this tab out too (app.js): not a change to
    // take, or to pass on to the background backup's config.
    addEventListener('storage', (e) => {
      if ((e.key !== SETTINGS_KEY && e.key !== ALBUMS_KEY) || e.newValue === null) return;
      this.settings = loadSettings();
      this.albums = loadAlbumRules();
      this.emit();
    });
  }

  /** `listener(settings, albums)` after every change; returns an unsubscribe function. */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  set(changes) {
    Object.assign(this.settings, changes);
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(this.settings));
    this.emit();
  }

  /** `mode`: 'include', 'exclude', or '' for neither. Names compare case-insensitively. */
  setAlbum(name, mode) {
    const same = (a) => a.toLowerCase() === name.toLowerCase();
    const include = this.albums.include.filter((a) => !same(a));
    const exclude = this.albums.exclude.filter((a) => !same(a));
    if (mode === 'include') include.push(name);
    if (mode === 'exclude') exclude.push(name);
    this.albums = { include, exclude };
    localStorage.setItem(ALBUMS_KEY, JSON.stringify(this.albums));
    this.emit();
  }

  albumMode(name) {
    const has = (list) => list.some((a) => a.toLowerCase() === name.toLowerCase());
    if (has(this.albums.exclude)) return 'exclude';
    if (has(this.albums.include)) return 'include';
    return '';
  }

  /** Whether files in `album` are backed up: exclusion wins, an empty include list means all. */
  admits(album) {
    if (!album) return true;
    const mode = this.albumMode(album);
    if (mode === 'exclude') return false;
    return this.albums.include.length === 0 || mode === 'include';
  }

  emit() {
    for (const listener of this.listeners) listener(this.settings, this.albums);
  }
}
