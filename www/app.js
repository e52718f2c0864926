// ferry's web app: sign-in, then three views (Backup, Timeline, Settings) on top of the
// engine's public API (`./pkg/ferry.js`) and the server's HTTP API. File names and any
// text from the server are only ever set with textContent, never as HTML.
import init, { Backup } from './pkg/ferry.js';
import { Api, HttpError, login } from './lib/api.js';
import { BackupView } from './views/backup.js';
import { TimelineView } from './views/timeline.js';
import { SettingsView } from './views/settings.js';
import { FolderView } from './views/folder.js';
import { TrashView } from './views/trash.js';
import { ALBUMS_KEY, SETTINGS_KEY, SettingsStore, engineSettings } from './lib/settings.js';
import { KEEP_FILES_UP_TO, clearConfig, syncSupported, wireBackground } from './lib/background.js';
import { dropShared, heldShared } from './lib/shared-files.js';

const KEY = 'ferry.apiKey'; // an API key, or the token from password sign-in
const USER = 'ferry.user'; // `{ id, name }`, so the app can open offline
const SESSION = 'ferry.session'; // '1' when KEY is a session token from password sign-in
const VIEWS = ['backup', 'timeline', 'trash', 'settings'];
const $ = (id) => document.getElementById(id);

/** The running app once signed in: `{ user, backupView }`. */
let session = null;
/** Resolves when the wasm engine is loaded. */
let wasmReady = null;

registerServiceWorker();

/** Plays a message to screen readers through the polite live region. */
function announce(text) {
  const region = $('announcer');
  region.textContent = '';
  // A new text node after a tick, so the same message twice is still read.
  setTimeout(() => { region.textContent = text; }, 50);
}

/**
 * Shows what went wrong with something the person just did (adding files, a Retry, a
 * restore) where everyone sees it, not only screen readers: the banner is an alert, read
 * at once. It stays until the next one or 20 s.
 */
let errorTimer = 0;
function showError(text) {
  const banner = $('error-banner');
  banner.textContent = text;
  banner.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { banner.hidden = true; }, 20_000);
}

function showFatal(e) {
  console.warn(e);
  $('fatal').textContent = `Something went wrong: ${e?.message ?? e}`;
  $('fatal').hidden = false;
}

function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  // A module worker: it imports the engine (pkg/ferry.js) for background backup.
  navigator.serviceWorker.register('sw.js', { type: 'module', updateViaCache: 'none' })
    .catch((e) => console.warn('service worker not registered:', e));
}

function cachedUser() {
  try { return JSON.parse(localStorage.getItem(USER) ?? 'null'); } catch { return null; }
}

/**
 * Who the saved key belongs to: `{ user, offline }`, or null when the server rejects it.
 * Without a network the last known user is used, so the app still opens offline.
 */
async function whoAmI(key) {
  try {
    const me = await new Api(key).me();
    localStorage.setItem(USER, JSON.stringify({ id: me.id, name: me.name }));
    return { user: me, offline: false };
  } catch (e) {
    if (e instanceof HttpError && (e.status === 401 || e.status === 403)) return null;
    const user = cachedUser();
    if (user) return { user, offline: true };
    throw e;
  }
}

function forget() {
  localStorage.removeItem(KEY);
  localStorage.removeItem(USER);
  localStorage.removeItem(SESSION);
}

/** The catalogs a sign-out left to delete (see forgetSignedOut). */
const FORGET = 'ferry.forget';

/**
 * Signs out of this browser: revokes a password session on the server (best effort) and
 * removes what the browser keeps for the account, so the next person to use it finds
 * nothing of it: the backup catalog with its copies of queued files and its hash cache,
 * the watched folder, the background backup's key, a held share, the settings and album
 * rules. Files not backed up yet are counted first and the person asked, since they would
 * have to be added again.
 */
async function signOut() {
  const left = session?.backupView.notBackedUp() ?? 0;
  if (left > 0) {
    const files = left === 1 ? '1 file is' : `${left.toLocaleString()} files are`;
    const them = left === 1 ? 'it' : 'them';
    if (!confirm(`${files} not backed up yet. Signing out removes ${them} from this browser, and you would need to add ${them} again. Sign out?`)) return;
  }
  const key = localStorage.getItem(KEY);
  if (key && localStorage.getItem(SESSION) === '1') {
    await new Api(key).fetch('/auth/logout', { method: 'POST' }).catch(() => {});
  }
  forget();
  await clearConfig().catch(() => {});
  await dropShared().catch(() => {});
  if (session) {
    session.backupView.backup.stop();
    await session.folder?.forget().catch(() => {});
    localStorage.removeItem(`ferry.lastBackup:${session.user.id}`);
    // Deleted as the next page starts: this page's engine still has them open.
    const pending = JSON.parse(localStorage.getItem(FORGET) ?? '[]');
    localStorage.setItem(FORGET, JSON.stringify([...new Set([...pending, session.catalogName])]));
  }
  localStorage.removeItem(SETTINGS_KEY);
  localStorage.removeItem(ALBUMS_KEY);
  location.hash = '';
  location.reload();
}

/**
 * Deletes the catalogs (and their kept files) a sign-out left, before anything opens them.
 * A delete waits for a connection still open (a background backup finishing its step);
 * a catalog opened meanwhile, by the same person signing in again, opens after it.
 */
function forgetSignedOut() {
  const names = JSON.parse(localStorage.getItem(FORGET) ?? '[]');
  if (names.length === 0) return Promise.resolve();
  const deleted = names.flatMap((name) => [name, `${name}:files`]).map((name) => new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve(true);
    request.onerror = () => resolve(false);
  }));
  return Promise.all(deleted).then((done) => { if (done.every(Boolean)) localStorage.removeItem(FORGET); });
}

/**
 * Before the engine opens `catalogName`: the deletes a sign-out left are waited for (a
 * little), and this catalog is taken off the list either way, so a delete left over can
 * never take the catalog of the person signed in now.
 */
async function keepFromForgetting(catalogName) {
  await Promise.race([forgetting, new Promise((r) => { setTimeout(r, 5_000); })]);
  const names = JSON.parse(localStorage.getItem(FORGET) ?? '[]').filter((n) => n !== catalogName);
  if (names.length) localStorage.setItem(FORGET, JSON.stringify(names));
  else localStorage.removeItem(FORGET);
}

/**
 * What the service worker's share target reports in the query (`?shared=N[&share=...]`,
 * see sw.js): `{ count, problem }`, or null. The query is removed from the address.
 */
function takeShare() {
  const query = new URLSearchParams(location.search);
  if (!query.has('shared')) return null;
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
  return { count: Number(query.get('shared')) || 0, problem: query.get('share') };
}

/** What became of a share, for the banner; `large`: how many are over 64 MiB. */
function shareMessage({ count, problem, large = 0 }) {
  const files = `${count} shared ${count === 1 ? 'file' : 'files'}`;
  if (problem === 'signed-out') return `Sign in, then share the ${files} again.`;
  if (problem === 'gone') return 'The shared files are no longer here. Share them again, or choose them here.';
  if (problem === 'failed' || count === 0) return 'The shared files could not be added. Share them again, or choose them here.';
  const added = `${files[0].toUpperCase()}${files.slice(1)} added to the backup.`;
  if (large === 0) return added;
  return `${added} ${large === 1 ? 'One is' : `${large} are`} over 64 MiB and ${large === 1 ? 'backs' : 'back'} up only while ferry is open.`;
}

function showShareBanner(text) {
  $('share-banner').textContent = text;
  $('share-banner').hidden = false;
  announce(text);
  setTimeout(() => { $('share-banner').hidden = true; }, 15_000);
}

/**
 * A share the service worker holds (lib/shared-files.js): the person is asked, with the
 * files' names, before anything is added, since a share may come from another site.
 */
async function showShare(share) {
  // A share left unanswered (the page closed before Back up or Discard) is asked about
  // again when the app next opens.
  if (!share && !(await caches.has('ferry-shared').catch(() => false))) return;
  if (share?.problem || share?.count === 0) { showShareBanner(shareMessage(share)); return; }
  const files = await heldShared().catch(() => []);
  if (files.length === 0) {
    if (share) showShareBanner(shareMessage({ ...share, problem: 'gone' }));
    return;
  }
  const names = files.map((f) => f.name);
  $('share-ask-text').textContent = `Back up ${files.length === 1 ? 'this shared file' : `these ${files.length} shared files`}?`;
  $('share-ask-names').textContent = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  $('share-ask').hidden = false;
  $('share-accept').focus();
  const answer = await new Promise((resolve) => {
    $('share-accept').onclick = () => resolve(true);
    $('share-decline').onclick = () => resolve(false);
  });
  $('share-ask').hidden = true;
  if (!answer) {
    await dropShared().catch(() => {});
    showShareBanner(`${files.length === 1 ? 'The shared file was' : 'The shared files were'} not added.`);
    return;
  }
  const added = await session.backupView.add(files);
  await dropShared().catch(() => {});
  const large = files.filter((f) => f.size > KEEP_FILES_UP_TO).length;
  showShareBanner(shareMessage(added ? { count: files.length, large } : { count: files.length, problem: 'failed' }));
}

function trackOnline() {
  const update = () => { $('offline-banner').hidden = navigator.onLine; };
  addEventListener('online', update);
  addEventListener('offline', update);
  update();
}

async function start(key, user, offline) {
  const api = new Api(key);
  const store = new SettingsStore();
  const catalogName = `ferry:${location.origin}:${user.id}`;
  await keepFromForgetting(catalogName);
  const backup = await Backup.open({
    apiKey: key,
    catalogName,
    settings: engineSettings(store.settings),
    albums: store.albums,
  });
  // Every change of a switch, the Pause button or an album rule reaches the engine at once.
  store.subscribe((settings, albums) => {
    backup.setSettings(engineSettings(settings));
    backup.setAlbumRules(albums);
  });
  const background = wireBackground({ apiKey: key, catalogName, userId: user.id, store, backup, engineSettings });
  const timeline = new TimelineView({ api, announce });
  const trash = new TrashView({ api, announce, showError, onRestored: () => timeline.markStale() });
  const settings = new SettingsView({
    user, store, onSignOut: signOut,
    capabilities: { ...backup.capabilities(), backgroundSync: syncSupported() },
    onBackgroundOn: () => { background.save(); background.sync(); },
  });
  const backupView = new BackupView({
    backup, api, user, store, announce, showError,
    onUploaded: () => timeline.markStale(),
    onSignInNeeded: (reason) => askToSignInAgain(reason),
    beforeAdd: () => background.handOver(),
  });
  session = { user, backupView, background, catalogName };
  // Before the views load: they word what the server cannot tell them by this banner.
  if (offline) $('offline-banner').hidden = false;
  await backupView.load();
  const folder = new FolderView({
    userId: user.id, add: (items) => backupView.add(items), fileState: (file) => backupView.fileState(file), announce, showError,
  });
  session.folder = folder;
  folder.load().catch((e) => console.warn('watched folder:', e));

  const views = { backup: backupView, timeline, trash, settings };
  let current = null;
  const route = (focus) => {
    const name = VIEWS.find((v) => location.hash === `#/${v}`) ?? 'backup';
    if (name === current || !$('sign-in').hidden) return;
    views[current]?.hide?.();
    for (const v of VIEWS) $(v).hidden = v !== name;
    for (const link of document.querySelectorAll('#tabs a')) {
      // The trash is a part of the timeline.
      if (link.dataset.view === (name === 'trash' ? 'timeline' : name)) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    current = name;
    document.title = `${name[0].toUpperCase()}${name.slice(1)} · ferry`;
    views[name].show?.();
    if (focus) $(`${name}-title`).focus({ preventScroll: true });
    scrollTo(0, 0);
  };
  addEventListener('hashchange', () => route(true));
  route(false);
  session.showViews = () => { current = null; route(false); };
  if (!$('sign-in').hidden) return; // the key stopped working while the catalog loaded
  $('tabs').hidden = false;
  document.body.dataset.ready = 'true';
}

function signInError(e) {
  if (e instanceof HttpError) {
    if (e.status === 401 || e.status === 403) return 'Wrong user name or password.';
    if (e.status === 404 || e.status === 405) return 'This server does not offer password sign-in yet. Use an API key below.';
    if (e.status === 429) return 'Too many attempts. Wait a minute and try again.';
    return `The server answered ${e.status}: ${e.message}`;
  }
  return 'Could not reach the server. Check your connection and try again.';
}

/**
 * The server stopped accepting the key mid-backup: the sign-in screen comes back with the
 * reason, the queue waits, and signing in again as the same user resumes it.
 */
function askToSignInAgain(reason) {
  document.body.dataset.ready = 'false';
  $('tabs').hidden = true;
  for (const v of VIEWS) $(v).hidden = true;
  showSignIn(`${reason ?? 'The server no longer accepts your key.'} Your backup is waiting; nothing is lost.`);
  $('username').value = session?.user?.name ?? '';
  announce('Sign in again to continue the backup.');
}

/** Shows the sign-in screen, with `message` above the forms when there is one. */
function showSignIn(message = '') {
  $('sign-in-server').textContent = location.host;
  $('sign-in-message').textContent = message;
  $('sign-in-message').hidden = !message;
  $('sign-in').hidden = false;
}

/** Back from signing in again: the same user resumes; another user gets a fresh start. */
function resumeSession(key, user) {
  if (session.user.id !== user.id) {
    location.reload();
    return;
  }
  session.backupView.signedIn(key);
  session.background.setKey(key);
  $('tabs').hidden = false;
  session.showViews();
  document.body.dataset.ready = 'true';
}

function wireSignIn() {
  const busy = (form, on) => {
    for (const el of form.elements) el.disabled = on;
    form.setAttribute('aria-busy', String(on));
  };
  const finish = async (key, user, isSessionToken) => {
    localStorage.setItem(KEY, key);
    if (isSessionToken) localStorage.setItem(SESSION, '1');
    else localStorage.removeItem(SESSION);
    localStorage.setItem(USER, JSON.stringify({ id: user.id, name: user.name }));
    $('password').value = '';
    $('api-key').value = '';
    $('sign-in').hidden = true;
    $('sign-in-message').hidden = true;
    if (session) {
      resumeSession(key, user);
      return;
    }
    await wasmReady;
    await start(key, user, false);
  };

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const username = $('username').value.trim();
    const password = $('password').value;
    $('login-error').textContent = '';
    if (!username || !password) {
      $('login-error').textContent = 'Enter your user name and password.';
      (username ? $('password') : $('username')).focus();
      return;
    }
    busy(form, true);
    try {
      const { token, user } = await login(username, password);
      const me = user?.id ? user : await new Api(token).me();
      await finish(token, me, true);
    } catch (err) {
      $('login-error').textContent = signInError(err);
      $('password').focus();
    } finally {
      busy(form, false);
    }
  });

  $('key-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const key = $('api-key').value.trim();
    $('key-error').textContent = '';
    busy(form, true);
    try {
      await finish(key, await new Api(key).me(), false);
    } catch (err) {
      $('key-error').textContent = err instanceof HttpError && (err.status === 401 || err.status === 403)
        ? 'The server did not accept that key. Check it and try again.'
        : signInError(err);
      $('api-key').focus();
    } finally {
      busy(form, false);
    }
  });
}

/** The deletes a sign-out left, started as the page starts (see forgetSignedOut). */
let forgetting = Promise.resolve();

async function main() {
  forgetting = forgetSignedOut();
  // Signed out in another tab: this one is too, rather than go on backing up (and keep
  // the account's data) with a key that was let go.
  addEventListener('storage', (e) => {
    if (e.key === KEY && e.newValue === null && session) location.reload();
  });
  trackOnline();
  const share = takeShare();
  wasmReady = init();
  wireSignIn();
  const saved = localStorage.getItem(KEY);
  if (saved) {
    let who;
    try {
      who = await whoAmI(saved);
    } catch (e) {
      showSignIn();
      $('login-error').textContent = signInError(e);
      return;
    }
    if (who) {
      await wasmReady;
      await start(saved, who.user, who.offline);
      await showShare(share);
      return;
    }
    const name = cachedUser()?.name;
    forget();
    // The background backup would go on trying it, and saying "sign in again" each time.
    await clearConfig().catch(() => {});
    showSignIn('The server no longer accepts the saved key. Sign in again; anything waiting to upload continues.');
    if (name) $('username').value = name;
    return;
  }
  showSignIn(share ? shareMessage({ ...share, problem: 'signed-out' }) : '');
}

main().catch(showFatal);
