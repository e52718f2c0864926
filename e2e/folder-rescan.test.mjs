// The watched folder (File System Access): the person grants a folder once, its handle is
// kept in IndexedDB, and each rescan (on open, or "Check now") queues only new or changed
// files. A directory picker cannot be clicked through headless, so the page's
// `showDirectoryPicker` answers with a folder of the origin private file system: a real
// FileSystemDirectoryHandle, kept and walked by the app exactly like a picked one.
// A periodic background sync (fired through CDP) makes the service worker rescan it with
// no page open. What headless Chromium cannot show: that the browser fires that event on
// its own (it does so only for an installed app it sees used), and that a picked folder's
// permission lasts once the pages close (Chromium keeps it only when the person chose
// "Allow on every visit"; a private folder needs none).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, launchProfile, pageProblems, startServer, until } from './support.mjs';

/** Writes `files` ({path, size}) of random bytes under the private folder `Phone`. */
function writeFiles(page, files) {
  return page.evaluate(async (list) => {
    const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('Phone', { create: true });
    for (const { path, size } of list) {
      const parts = path.split('/');
      let dir = root;
      for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create: true });
      const handle = await dir.getFileHandle(parts.at(-1), { create: true });
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
      const writable = await handle.createWritable();
      await writable.write(bytes);
      await writable.close();
    }
  }, files);
}

const rows = (page) => page.$$eval('#assets li', (r) => r.map((li) => `${li.dataset.name}=${li.dataset.status}`).sort());

async function settled(page, n) {
  await page.waitForFunction((count) => {
    const all = [...document.querySelectorAll('#assets li')];
    return all.length === count && all.every((li) => li.dataset.status === 'uploaded');
  }, n, { timeout: 60_000 }).catch(async (e) => { throw new Error(`rows: ${await rows(page)}`, { cause: e }); });
}

test('a watched folder is rescanned on open and queues only new or changed files', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const context = await browser.newContext();
  await context.addInitScript(() => {
    window.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('Phone', { create: true });
  });
  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await writeFiles(page, [
    { path: 'Camera/a.jpg', size: 40_000 }, { path: 'Camera/b.jpg', size: 50_000 },
    { path: 'Screenshots/c.png', size: 30_000 }, { path: '.DS_Store', size: 100 },
  ]);

  // Granted once: everything in it is queued, by album, and backed up.
  await page.click('#watch-folder');
  await settled(page, 3);
  assert.equal(await page.textContent('#watched-name'), 'Phone');
  assert.equal(await page.textContent('#watched-files'), '3 files');
  assert.match(await page.textContent('#watched-status'), /^3 new or changed files queued · checked just now$/);
  const albums = Object.fromEntries((await api(server, '/api/albums')).items.map((a) => [a.name, a.assetCount]));
  assert.deepEqual(albums, { Camera: 2, Screenshots: 1 });

  // A new photo and a changed one; the app opens again and rescans on its own.
  await page.waitForTimeout(20); // a later modification time for b.jpg
  await writeFiles(page, [{ path: 'Camera/d.jpg', size: 20_000 }, { path: 'Camera/b.jpg', size: 60_000 }]);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForFunction(() => /^2 new or changed files queued/.test(document.getElementById('watched-status').textContent), null, { timeout: 30_000 });
  await settled(page, 5);
  assert.deepEqual(await rows(page), ['a.jpg=uploaded', 'b.jpg=uploaded', 'b.jpg=uploaded', 'c.png=uploaded', 'd.jpg=uploaded']);
  assert.equal((await api(server, '/api/assets?limit=100')).items.length, 5);

  // Nothing changed: nothing is queued.
  await page.click('#watched-rescan');
  await page.waitForFunction(() => /^Nothing new/.test(document.getElementById('watched-status').textContent));
  await page.waitForTimeout(500);
  assert.equal((await rows(page)).length, 5);

  // A video over the 64 MiB the engine keeps a copy of, found while paused: ferry closes
  // before it is sent. It is not marked seen, so the rescan when the app opens again
  // queues it again and it is backed up, rather than left "not kept"; once backed up it is
  // seen, and the next rescan finds nothing new.
  await page.click('#pause-button');
  await page.waitForFunction(() => document.getElementById('status-title').textContent === 'Paused');
  await writeFiles(page, [{ path: 'Camera/long.mov', size: 64 * 1024 * 1024 + 1 }]);
  await page.click('#watched-rescan');
  await page.waitForFunction(() => /^1 new or changed file queued/.test(document.getElementById('watched-status').textContent), null, { timeout: 30_000 });
  await page.waitForSelector('#assets li[data-name="long.mov"][data-status="pending"]', { timeout: 30_000 });
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForFunction(() => /^1 new or changed file queued/.test(document.getElementById('watched-status').textContent), null, { timeout: 30_000 });
  await page.click('#pause-button');
  await settled(page, 6);
  await page.click('#watched-rescan');
  await page.waitForFunction(() => /^Nothing new/.test(document.getElementById('watched-status').textContent));
  assert.equal((await api(server, '/api/assets?limit=100')).items.length, 6);

  // Another large video, cancelled while it waits: the rescan leaves it set aside (it is
  // seen once settled), rather than queue it again.
  await page.click('#pause-button');
  await page.waitForFunction(() => document.getElementById('status-title').textContent === 'Paused');
  await writeFiles(page, [{ path: 'Camera/unwanted.mov', size: 64 * 1024 * 1024 + 2 }]);
  await page.click('#watched-rescan');
  await page.waitForFunction(() => /^1 new or changed file queued/.test(document.getElementById('watched-status').textContent), null, { timeout: 30_000 });
  // Paused, it waits unhashed: cancelled while it waits.
  await page.waitForSelector('#assets li[data-name="unwanted.mov"][data-status="pending"]', { timeout: 30_000 });
  await page.click('#assets li[data-name="unwanted.mov"] button[data-action="cancel"]');
  await page.waitForSelector('#assets li[data-name="unwanted.mov"][data-status="skipped"]', { timeout: 60_000 });
  await page.click('#watched-rescan');
  await page.waitForFunction(() => /^Nothing new/.test(document.getElementById('watched-status').textContent));
  await page.click('#watched-rescan');
  await page.waitForFunction(() => /^Nothing new/.test(document.getElementById('watched-status').textContent));
  assert.equal(await page.getAttribute('#assets li[data-name="unwanted.mov"]', 'data-status'), 'skipped');
  assert.equal(await page.$$eval('#assets li[data-name="unwanted.mov"]', (r) => r.length), 1);
  await page.click('#pause-button');

  // Stop watching: the handle is forgotten, also after a reload.
  await page.click('#watched-forget');
  // The handle is deleted from IndexedDB before the card hides.
  await page.waitForSelector('#watched', { state: 'hidden', timeout: 10_000 });
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForTimeout(500);
  assert.equal(await page.isVisible('#watched'), false);
  assert.equal((await api(server, '/api/assets?limit=100')).items.length, 6);
  assert.deepEqual(problems, []);
});

test('a periodic background sync rescans the watched folder with no page open and backs up what is new', async (t) => {
  const server = await startServer(t);
  const origin = server.url;
  // Chromium offers Periodic Background Sync to installed apps only; headless, the
  // permission is granted here, and the event is fired through CDP
  // (`ServiceWorker.dispatchPeriodicSyncEvent`), as the browser would fire it.
  const { context, cdp, registrationId } = await launchProfile(t, origin, {
    sync: 'denied', permissions: { 'periodic-background-sync': 'granted' },
  });
  await context.addInitScript(() => {
    window.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('Phone', { create: true });
  });
  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => navigator.serviceWorker.ready);
  await writeFiles(page, [{ path: 'Camera/a.jpg', size: 40_000 }]);
  await page.click('#watch-folder');
  await settled(page, 1);
  // The page asked for the periodic rescan, and says so.
  await page.waitForSelector('#watched-background:not([hidden])');
  assert.deepEqual(await page.evaluate(async () => (await navigator.serviceWorker.ready).periodicSync.getTags()), ['ferry-rescan']);

  // A photo arrives in the folder while ferry is closed.
  await writeFiles(page, [{ path: 'Camera/new.jpg', size: 30_000 }, { path: 'Camera/huge.mov', size: 64 * 1024 * 1024 + 1 }]);
  const sha256 = await page.evaluate(async () => {
    const dir = await (await (await navigator.storage.getDirectory()).getDirectoryHandle('Phone')).getDirectoryHandle('Camera');
    const bytes = await (await (await dir.getFileHandle('new.jpg')).getFile()).arrayBuffer();
    return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
  });
  await Promise.all([page.waitForEvent('close'), page.close({ runBeforeUnload: true })]);
  assert.equal(context.pages().filter((p) => p.url().startsWith(origin)).length, 0, 'no page of the app is open');
  assert.equal((await api(server, '/api/assets?limit=100')).items.length, 1);

  await cdp.send('ServiceWorker.dispatchPeriodicSyncEvent', { origin, registrationId: await registrationId(), tag: 'ferry-rescan' });
  const { items } = await until('the rescanned photo on the server', async () => {
    const list = (await api(server, '/api/assets?limit=100')).items;
    return { ok: list.length >= 2, items: list.map((a) => ({ name: a.originalFileName, checksum: a.checksum, albums: a.albums })) };
  });
  const added = items.find((a) => a.name === 'new.jpg');
  assert.equal(added?.checksum, sha256, 'the new photo went up with its SHA-256, with no page open');
  assert.deepEqual(added.albums, ['Camera']);
  assert.equal(context.pages().filter((p) => p.url().startsWith(origin)).length, 0, 'still no page of the app open');

  // The app opened again: the worker's rescan is remembered, so only the file too large
  // for the worker to keep a copy of is queued now, by the page.
  const again = await context.newPage();
  const againProblems = pageProblems(again);
  await again.goto(server.url);
  await again.waitForSelector('body[data-ready="true"]');
  await again.waitForFunction(() => /^1 new or changed file queued/.test(document.getElementById('watched-status').textContent), null, { timeout: 30_000 })
    .catch(async (e) => { throw new Error(`status: ${await again.textContent('#watched-status')}`, { cause: e }); });
  await until('the large file from the page', async () => {
    const list = (await api(server, '/api/assets?limit=100')).items;
    return { ok: list.some((a) => a.originalFileName === 'huge.mov'), names: list.map((a) => a.originalFileName) };
  }, 120_000);
  assert.equal((await api(server, '/api/assets?limit=100')).items.length, 3);

  // Stop watching: the periodic rescan is no longer asked for.
  await again.click('#watched-forget');
  await again.waitForSelector('#watched', { state: 'hidden' });
  await until('the periodic sync to be unregistered', async () => {
    const tags = await again.evaluate(async () => (await navigator.serviceWorker.ready).periodicSync.getTags());
    return { ok: tags.length === 0, tags };
  }, 10_000);
  assert.deepEqual(problems, []);
  assert.deepEqual(againProblems, []);
});
