// The Settings view: the backup toggles of seed 002, saved as one JSON object in
// localStorage under `ferry.settings` (the engine will read this policy later), notes on
// what this browser cannot report, the signed-in account, sign-out and install.

const $ = (id) => document.getElementById(id);

// Chrome offers installation once, possibly before sign-in; keep the offer for the button.
let installPrompt = null;
addEventListener('beforeinstallprompt', (e) => {
  e.preventDefault();
  installPrompt = e;
  document.getElementById('install').hidden = false;
});

export const SETTINGS_KEY = 'ferry.settings';

export const DEFAULT_SETTINGS = Object.freeze({
  backgroundBackup: true,
  wifiOnly: true,
  requireCharging: false,
  cellularPhotos: false,
  cellularVideos: false,
});

export function loadSettings() {
  try {
    return { ...DEFAULT_SETTINGS, ...JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') };
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
}

/** What this browser cannot do for each setting, in words; empty when it can. */
function limitations() {
  return {
    backgroundBackup: 'SyncManager' in globalThis
      ? ''
      : 'This browser does not support Background Sync, so backups run only while ferry is open.',
    wifiOnly: navigator.connection?.type
      ? ''
      : 'This browser does not report the network type, so ferry cannot tell Wi-Fi from mobile data here.',
    requireCharging: typeof navigator.getBattery === 'function'
      ? ''
      : 'This browser does not report whether the device is charging.',
  };
}

export class SettingsView {
  constructor({ user, onSignOut }) {
    this.settings = loadSettings();
    $('account-name').textContent = user.name ?? '';
    $('account-server').textContent = location.origin;
    $('sign-out').addEventListener('click', onSignOut);

    const notes = limitations();
    for (const note of document.querySelectorAll('[data-note]')) {
      note.textContent = notes[note.dataset.note] ?? '';
      note.hidden = !note.textContent;
    }
    for (const input of document.querySelectorAll('[data-setting]')) {
      input.checked = Boolean(this.settings[input.dataset.setting]);
      input.addEventListener('change', () => {
        this.settings[input.dataset.setting] = input.checked;
        localStorage.setItem(SETTINGS_KEY, JSON.stringify(this.settings));
        this.renderDependencies();
      });
    }
    this.renderDependencies();
    this.setUpInstall();
  }

  /** With Wi-Fi only on, the mobile-data choices do not apply. */
  renderDependencies() {
    const wifiOnly = this.settings.wifiOnly;
    for (const key of ['cellularPhotos', 'cellularVideos']) {
      const input = document.querySelector(`[data-setting="${key}"]`);
      input.disabled = wifiOnly;
      input.closest('.toggle').classList.toggle('disabled', wifiOnly);
    }
    for (const hint of document.querySelectorAll('[data-cellular-hint]')) {
      hint.dataset.original ??= hint.textContent;
      hint.textContent = wifiOnly ? 'Turn off “Use Wi-Fi only” to choose.' : hint.dataset.original;
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
