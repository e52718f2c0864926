// The Settings view: the backup switches of seed 002, kept in the shared settings store
// (localStorage `ferry.settings`) and applied by the engine as soon as they change; notes
// on what this browser cannot report; the signed-in account, sign-out and install.

const $ = (id) => document.getElementById(id);

// Chrome offers installation once, possibly before sign-in; keep the offer for the button.
let installPrompt = null;
addEventListener('beforeinstallprompt', (e) => {
  e.preventDefault();
  installPrompt = e;
  document.getElementById('install').hidden = false;
});

/** What this browser cannot do for each setting, in words; empty when it can. */
function limitations(caps) {
  return {
    wifiOnly: caps.networkType
      ? ''
      : 'This browser does not report the network type, so Wi-Fi only cannot be enforced here: ferry uploads whenever it is online.',
    requireCharging: caps.battery
      ? ''
      : 'This browser does not report the battery, so ferry cannot tell whether the device is charging and uploads anyway.',
    webLocks: caps.webLocks
      ? ''
      : 'This browser lacks Web Locks: keep ferry open in one tab at a time.',
    backgroundBackup: caps.backgroundSync
      ? ''
      : 'This browser does not offer Background Sync (Firefox and Safari do not), so backups run only while ferry is open.',
  };
}

export class SettingsView {
  constructor({ user, store, capabilities, onSignOut, onBackgroundOn }) {
    this.store = store;
    $('account-name').textContent = user.name ?? '';
    $('account-server').textContent = location.origin;
    $('sign-out').addEventListener('click', onSignOut);

    const notes = limitations(capabilities ?? {});
    for (const note of document.querySelectorAll('[data-note]')) {
      note.textContent = notes[note.dataset.note] ?? '';
      note.hidden = !note.textContent;
    }
    for (const input of document.querySelectorAll('[data-setting]')) {
      input.addEventListener('change', () => store.set({ [input.dataset.setting]: input.checked }));
    }
    this.backgroundSync = Boolean(capabilities?.backgroundSync);
    const background = document.querySelector('[data-setting="backgroundBackup"]');
    background.addEventListener('change', async () => {
      if (!background.checked) return;
      // Both need a user action, and turning this on is one: persistent storage keeps
      // the staged files from being evicted, and notifications show background progress.
      navigator.storage?.persist?.().catch(() => {});
      if (self.Notification?.permission === 'default') await Notification.requestPermission().catch(() => {});
      onBackgroundOn?.();
    });
    store.subscribe(() => this.render());
    this.render();
    this.setUpInstall();
  }

  render() {
    const { settings } = this.store;
    for (const input of document.querySelectorAll('[data-setting]')) {
      input.checked = Boolean(settings[input.dataset.setting]);
    }
    const background = document.querySelector('[data-setting="backgroundBackup"]');
    background.disabled = !this.backgroundSync;
    background.closest('.toggle').classList.toggle('disabled', !this.backgroundSync);
    if (!this.backgroundSync) background.checked = false;
    if (this.backgroundSync) {
      const note = document.querySelector('[data-note="backgroundBackup"]');
      note.textContent = settings.backgroundBackup && settings.requireCharging
        ? 'With “Require charging” on, ferry backs up only while it is open: the browser does not tell background work about the battery.'
        : '';
      note.hidden = !note.textContent;
    }
    // The mobile-data choices are exceptions to Wi-Fi only; with it off, mobile data is
    // used for everything and they do not apply.
    const off = !settings.wifiOnly;
    for (const key of ['cellularPhotos', 'cellularVideos']) {
      const input = document.querySelector(`[data-setting="${key}"]`);
      input.disabled = off;
      input.closest('.toggle').classList.toggle('disabled', off);
    }
    for (const hint of document.querySelectorAll('[data-cellular-hint]')) {
      hint.dataset.original ??= hint.textContent;
      hint.textContent = off ? 'Mobile data is used for everything while “Use Wi-Fi only” is off.' : hint.dataset.original;
    }
  }

  setUpInstall() {
    const state = $('install-state');
    const button = $('install');
    const standalone = matchMedia('(display-mode: standalone)').matches || navigator.standalone;
    state.textContent = standalone
      ? 'ferry is installed and running as an app.'
      : 'Install ferry to open it from your home screen or dock, like any app.';
    button.hidden = !installPrompt;
    button.addEventListener('click', async () => {
      if (!installPrompt) return;
      installPrompt.prompt();
      await installPrompt.userChoice.catch(() => {});
      installPrompt = null;
      button.hidden = true;
    });
    addEventListener('appinstalled', () => {
      button.hidden = true;
      state.textContent = 'ferry is installed.';
    });
  }
}
