// Background Sync: files picked in a page are staged in IndexedDB, the page closes with
// nothing uploaded, and a `sync` event fired through CDP (`ServiceWorker.dispatchSyncEvent`)
// makes the module service worker back them up with the same wasm engine, with no page of
// the app open. The server then has every staged file with its SHA-256, the staged copies
// are gone, and a file too large to stage is named with its reason when the app opens.
// Also: with Background Sync allowed, a page closed mid-upload is finished by the worker
// through the page's own sync registration, continuing the same upload; and
// `Backup.stop()`, which the worker calls before the browser's time limit; and the
// notifications the worker shows when a background backup meets a full storage, or ends
// with failed uploads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { ARGS, addUser, api, launchProfile, pageProblems, randomFile, startServer, tempDir, until } from './support.mjs';


const text = (page, selector) => page.$eval(selector, (el) => el.textContent.trim());

async function rows(page) {
  return page.$$eval('#assets li', (r) => r.map((li) => ({
    name: li.dataset.name, status: li.dataset.status, detail: li.querySelector('.detail').textContent,
  })));
}

/** Counts the records and staged files in the catalog, from a page of the origin. */
function catalogCounts(page, name) {
  return page.evaluate(async (db) => {
    // Records are in the catalog; staged files in its `:files` database beside it.
    const countOf = async (name, store) => {
      const open = indexedDB.open(name);
      const conn = await new Promise((resolve, reject) => { open.onsuccess = () => resolve(open.result); open.onerror = () => reject(open.error); });
      const count = await new Promise((resolve, reject) => {
        const req = conn.transaction(store).objectStore(store).count();
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      conn.close();
      return count;
    };
    return { assets: await countOf(db, 'assets'), files: await countOf(`${db}:files`, 'files') };
  }, name);
}

test('the service worker backs up staged files on a sync event with no page open', async (t) => {
  const server = await startServer(t);
  const dir = tempDir(t);
  const staged = [
    randomFile(dir, 'IMG_0001.jpg', 120 * 1024),
    randomFile(dir, 'IMG_0002.jpg', 700 * 1024),
    // Over 16 MiB: hashed in slices (streamed), not in one WebCrypto call, in the worker.
    randomFile(dir, 'VID_0003.mp4', 20 * 1024 * 1024 + 12345),
  ];
  // Over the 64 MiB the engine keeps: it cannot be backed up once the page has closed.
  const large = randomFile(dir, 'VID_LARGE.mov', 64 * 1024 * 1024 + 1);
  const me = await api(server, '/api/users/me');
  const origin = server.url;
  const catalogName = `ferry:${origin}:${me.id}`;

  // Background Sync is denied to the page, so nothing but the CDP sync below can start
  // the worker's backup.
  const { context, cdp, registrationId } = await launchProfile(t, origin, { sync: 'denied' });

  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => navigator.serviceWorker.ready);
  assert.equal(await page.evaluate(() => navigator.serviceWorker.controller !== null
    || navigator.serviceWorker.ready.then((r) => Boolean(r.active))), true);

  // Turn Background backup on (off, then on: a user action, which asks for persistent
  // storage and notifications). The switch is usable and says nothing is missing.
  await page.click('#tabs a[href="#/settings"]');
  const toggle = '[data-setting="backgroundBackup"]';
  assert.equal(await page.isDisabled(toggle), false, 'the switch is enabled where Background Sync exists');
  assert.equal(await page.isVisible('[data-note="backgroundBackup"]'), false, 'no "not supported" note in Chromium');
  if (await page.isChecked(toggle)) await page.click(toggle);
  await page.click(toggle);
  assert.equal(await page.isChecked(toggle), true);
  const saved = JSON.parse(await page.evaluate(() => localStorage.getItem('ferry.settings')));
  assert.equal(saved.backgroundBackup, true);
  await page.click('#tabs a[href="#/backup"]');

  // Another tab of ferry holds the runner's Web Lock, as a tab that is backing up does:
  // this page records and stages the files but neither hashes nor uploads them.
  const holder = await context.newPage();
  await holder.goto(`${server.url}/manifest.webmanifest`);
  await holder.evaluate((name) => new Promise((resolve) => {
    navigator.locks.request(name, () => { resolve(); return new Promise((release) => { window.releaseLock = release; }); });
  }), `ferry-runner:${catalogName}`);

  await page.setInputFiles('#files', [...staged, large].map((f) => f.path));
  await page.waitForFunction((n) => document.querySelectorAll('#assets li[data-status="pending"]').length === n, staged.length + 1);
  // The Backup screen names the file that only backs up while ferry is open.
  await page.waitForSelector('#foreground-only:not([hidden])');
  assert.match(await text(page, '#foreground-only'), /Over 64 MiB, so backed up only while ferry is open: VID_LARGE\.mov\./);
  const before = await catalogCounts(page, catalogName);
  assert.deepEqual(before, { assets: 4, files: 3 }, 'the three files within the limit are staged in IndexedDB');

  // The app's page closes (the lock holder stays a moment longer, so the sync the page
  // asks for on its way out finds an open tab and leaves the work to it).
  // With beforeunload run, as a person closing the tab; close() then does not wait.
  await Promise.all([page.waitForEvent('close'), page.close({ runBeforeUnload: true })]);
  await holder.evaluate(() => window.releaseLock());
  await holder.close();
  assert.equal(context.pages().filter((p) => p.url().startsWith(origin)).length, 0, 'no page of the app is open');
  // The test can fail for real here: nothing went up while the page was open.
  assert.equal((await api(server, '/api/assets')).items.length, 0, 'nothing was uploaded before the sync event');

  // Notifications are allowed: record what the worker shows while it works.
  const worker = context.serviceWorkers().find((w) => w.url().startsWith(origin))
    ?? await context.waitForEvent('serviceworker');
  await worker.evaluate(() => {
    self.shownBodies = [];
    const show = self.registration.showNotification.bind(self.registration);
    self.registration.showNotification = (title, options) => { self.shownBodies.push(options?.body); return show(title, options); };
  });
  await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId: await registrationId(), tag: 'ferry-backup', lastChance: false });

  // With no page open, the worker hashes, checks and uploads everything it has a copy of.
  const done = await until('the background uploads', async () => {
    const items = (await api(server, '/api/assets')).items;
    return { ok: items.length >= staged.length, items: items.map((a) => a.originalFileName) };
  });
  assert.equal(context.pages().filter((p) => p.url().startsWith(origin)).length, 0, 'still no page of the app open');
  assert.equal(done.items.length, staged.length, `only the staged files went up: ${done.items}`);
  const assets = (await api(server, '/api/assets')).items;
  for (const f of staged) {
    const asset = assets.find((a) => a.originalFileName === f.name);
    assert.ok(asset, `${f.name} is on the server`);
    assert.equal(asset.checksum, f.sha256, `${f.name} has the right SHA-256`);
    assert.equal(asset.fileSize, f.size);
  }
  const shown = await until('the progress notification to close', async () => {
    const { bodies, open } = await worker.evaluate(async () => ({
      bodies: self.shownBodies,
      open: (await self.registration.getNotifications({ tag: 'ferry-progress' })).length,
    }));
    return { ok: open === 0 && bodies.length > 0, bodies, open };
  }, 15_000);
  // The closing notice names the file the worker could not back up: no "all done" silence.
  const closing = '1 file needs to be added again. Open ferry to choose it again.';
  const bodies = (await until('the closing notice', async () => {
    const all = await worker.evaluate(() => self.shownBodies);
    return { ok: all.includes(closing), all };
  }, 15_000)).all;
  assert.ok(bodies.filter((b) => b !== closing).every((b) => /^Uploading \d+\/4 photos…$/.test(b)), `progress notifications: ${bodies}`);
  assert.ok(!bodies.some((b) => /failed/.test(b)), 'no failure notice');

  // Opening the app again: the staged copies are gone, the three are backed up, and the
  // large file says why it stopped and how to continue.
  const again = await context.newPage();
  const againProblems = pageProblems(again);
  await again.goto(server.url);
  await again.waitForSelector('body[data-ready="true"]');
  const after = await until('the staged copies to be deleted', async () => {
    const counts = await catalogCounts(again, catalogName);
    return { ok: counts.files === 0, ...counts };
  }, 15_000);
  assert.equal(after.assets, 4);
  await again.waitForFunction(() => document.querySelectorAll('#assets li[data-status="uploaded"]').length === 3);
  const bigRow = (await rows(again)).find((r) => r.name === large.name);
  assert.equal(bigRow.status, 'skipped');
  assert.match(bigRow.detail, /could not keep a copy of this file.*64 MiB.*Add it again to continue/);
  // The backup is not called complete while a file waits to be chosen again: the card
  // says so, and the list of files not backed up offers to choose it (or set it aside).
  await again.waitForFunction(() => document.getElementById('status-title').textContent === '1 file needs to be added again');
  assert.match(await text(again, '#status-count'), /^3 of 4 backed up\. ferry could not read 1 file .*choose it again to back it up\.$/);
  assert.equal(await text(again, '#failed-title'), '1 file to add again');
  assert.deepEqual(await again.$$eval('#failed-list button', (b) => b.map((x) => x.getAttribute('aria-label'))),
    [`Choose ${large.name} again`, `Dismiss ${large.name}`]);
  // Picking the large file again in the open app backs it up too.
  await again.setInputFiles('#files', [large.path]);
  await again.waitForFunction(() => document.querySelectorAll('#assets li[data-status="uploaded"]').length === 4, null, { timeout: 120_000 });
  await again.waitForFunction(() => document.getElementById('status-title').textContent === 'Backup complete');
  assert.equal(await again.isVisible('#failed'), false);
  const last = (await api(server, '/api/assets')).items.find((a) => a.originalFileName === large.name);
  assert.equal(last?.checksum, large.sha256);

  // The worker's copy of the key goes with signing out.
  const config = () => again.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('ferry-background');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const req = open.result.transaction('config').objectStore('config').get('current');
      req.onsuccess = () => { open.result.close(); resolve(req.result ?? null); };
      req.onerror = () => reject(req.error);
    };
  }));
  const kept = await config();
  assert.equal(kept?.apiKey, server.apiKey);
  assert.equal(kept?.catalogName, catalogName);
  assert.equal(kept?.backgroundBackup, true);
  // A second tab of the app is open as the person signs out in the first.
  const second = await context.newPage();
  await second.goto(server.url);
  await second.waitForSelector('body[data-ready="true"]');
  await again.click('#tabs a[href="#/settings"]');
  await again.click('#sign-out');
  // It signs out too, and does not give the background backup the key back.
  await second.waitForSelector('#sign-in:not([hidden])', { timeout: 10_000 });
  await again.waitForSelector('#sign-in:not([hidden])');
  assert.equal(await config(), null, 'signing out deletes the service worker\'s copy of the key');
  // And what this browser kept for the account: its catalog (records, kept copies, hash
  // cache), the last backup time, the settings.
  const left = await until('the catalog to be deleted', async () => {
    const names = (await again.evaluate(() => indexedDB.databases())).map((d) => d.name).filter((n) => n.startsWith('ferry:'));
    // The note of what to delete goes once the deletes have succeeded.
    const stored = await again.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('ferry.')));
    return { ok: names.length === 0 && stored.length === 0, names, stored };
  }, 15_000);
  assert.deepEqual([left.names, left.stored], [[], []], 'nothing of the account is left in IndexedDB or localStorage');
  assert.equal(await config(), null, 'the other tab did not save the key again');
  await second.close();
  assert.deepEqual(problems, []);
  assert.deepEqual(againProblems, []);
});

/**
 * Signs in with `apiKey` in a new page of `context` and picks `paths` there while another
 * tab holds the runner's Web Lock, so the page only stages them; then closes the page.
 * Resolves to the app's service worker and the closed page's problems.
 */
async function stageInClosedPage(context, server, apiKey, paths) {
  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(server.url);
  await page.fill('#api-key', apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => navigator.serviceWorker.ready);
  const me = await page.evaluate(() => JSON.parse(localStorage.getItem('ferry.user')));
  const catalogName = `ferry:${server.url}:${me.id}`;
  // Background backup is on by default and notifications are allowed (launchProfile).
  assert.equal(await page.evaluate(() => Notification.permission), 'granted');
  const holder = await context.newPage();
  await holder.goto(`${server.url}/manifest.webmanifest`);
  await holder.evaluate((name) => new Promise((resolve) => {
    navigator.locks.request(name, () => { resolve(); return new Promise((release) => { window.releaseLock = release; }); });
  }), `ferry-runner:${catalogName}`);
  await page.setInputFiles('#files', paths);
  await page.waitForFunction((n) => document.querySelectorAll('#assets li[data-status="pending"]').length === n, paths.length);
  await until('the photos to be staged', async () => ({ ok: (await catalogCounts(page, catalogName)).files === paths.length }), 10_000);
  await Promise.all([page.waitForEvent('close'), page.close({ runBeforeUnload: true })]);
  await holder.evaluate(() => window.releaseLock());
  await holder.close();
  const worker = context.serviceWorkers().find((w) => w.url().startsWith(server.url))
    ?? await context.waitForEvent('serviceworker');
  return { worker, problems };
}

test('a background backup that meets a full storage says so in a notification', async (t) => {
  const server = await startServer(t);
  const dir = tempDir(t);
  // A user whose quota is smaller than the photo: the server answers 413 when the upload
  // is created, and the engine stops the backup (DESIGN.md: quota).
  const apiKey = addUser(server, 'small', { quota: 100_000 });
  const photo = randomFile(dir, 'IMG_0300.jpg', 300 * 1024);
  const origin = server.url;
  const { context, cdp, registrationId } = await launchProfile(t, origin, { sync: 'denied' });
  const { worker, problems } = await stageInClosedPage(context, server, apiKey, [photo.path]);
  assert.deepEqual(await worker.evaluate(async () => (await self.registration.getNotifications()).length), 0);
  await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId: await registrationId(), tag: 'ferry-backup', lastChance: false });

  // The notification the browser shows (read back from the registration, not a stub).
  const shown = await until('the failure notification', async () => {
    const list = await worker.evaluate(async () => (await self.registration.getNotifications())
      .map((n) => ({ title: n.title, body: n.body, tag: n.tag })));
    return { ok: list.some((n) => n.tag === 'ferry-failed'), list };
  }, 60_000);
  assert.deepEqual(shown.list, [{ title: 'ferry', body: 'Your storage quota is full. The backup stopped; nothing is lost.', tag: 'ferry-failed' }],
    'only the failure notice is left: the progress one closed');
  assert.equal((await api(server, '/api/assets')).items.length, 0);

  // The app opened again says the same, and keeps the photo queued.
  const again = await context.newPage();
  await again.goto(server.url);
  await again.waitForSelector('body[data-ready="true"]');
  await again.waitForFunction(() => document.getElementById('status-title').textContent === 'Your storage quota is full', null, { timeout: 30_000 });
  assert.match(await text(again, '#status-count'), /^The backup stopped\. Nothing is lost: 1 file is still queued/);
  assert.deepEqual(problems, []);
});

test('a background backup in which a file fails says "1 upload failed" in a notification, and the app lists it', async (t) => {
  // The server takes uploads of up to 200,000 bytes: the larger photo fails (a reason, not
  // a halt), the smaller one is backed up.
  const server = await startServer(t, { serve: ['--max-upload-bytes', '200000'] });
  const dir = tempDir(t);
  const small = randomFile(dir, 'IMG_0401.jpg', 100 * 1024);
  const large = randomFile(dir, 'IMG_0402.jpg', 300 * 1024);
  const origin = server.url;
  const { context, cdp, registrationId } = await launchProfile(t, origin, { sync: 'denied' });
  const { worker, problems } = await stageInClosedPage(context, server, server.apiKey, [small.path, large.path]);
  await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId: await registrationId(), tag: 'ferry-backup', lastChance: false });

  const shown = await until('the failure notification', async () => {
    const list = await worker.evaluate(async () => (await self.registration.getNotifications())
      .map((n) => ({ title: n.title, body: n.body, tag: n.tag })));
    return { ok: list.some((n) => n.tag === 'ferry-failed'), list };
  }, 60_000);
  assert.deepEqual(shown.list, [{ title: 'ferry', body: '1 upload failed. Open ferry to retry.', tag: 'ferry-failed' }],
    'the failure notice, and the progress one closed');
  const { items } = await api(server, '/api/assets');
  assert.deepEqual(items.map((a) => a.originalFileName), ['IMG_0401.jpg'], 'the small photo is backed up, the large one is not');

  // The app opened again says so, and lists the failed photo with its reason.
  const again = await context.newPage();
  await again.goto(server.url);
  await again.waitForSelector('body[data-ready="true"]');
  await again.waitForFunction(() => document.getElementById('status-title').textContent === '1 upload failed', null, { timeout: 30_000 });
  await again.waitForFunction(() => [...document.querySelectorAll('#failed-list li')].some((li) => li.textContent.includes('IMG_0402.jpg')
    && /larger than this server accepts/.test(li.textContent)), null, { timeout: 30_000 });
  assert.deepEqual(problems, []);
});

test('notification permission is asked for only when the person turns Background backup on', async (t) => {
  const server = await startServer(t);
  const dir = tempDir(t);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
  t.after(() => browser.close());
  const context = await browser.newContext();
  // Counts the app's calls (and still asks the browser).
  await context.addInitScript(() => {
    window.asked = 0;
    const ask = Notification.requestPermission.bind(Notification);
    Notification.requestPermission = (...args) => { window.asked += 1; return ask(...args); };
  });
  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(server.url);
  assert.equal(await page.evaluate(() => Notification.permission), 'default');
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  // Signing in, a backup, and every view: no prompt (Background backup is on by default).
  await page.setInputFiles('#files', [randomFile(dir, 'VID_0400.mp4', 50_000).path]);
  await page.waitForSelector('#assets li[data-status="uploaded"]', { timeout: 60_000 });
  for (const view of ['timeline', 'settings', 'backup']) await page.click(`#tabs a[href="#/${view}"]`);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.evaluate(() => window.asked), 0, 'no permission prompt without a user action');
  // Turning the switch on is the user action that asks.
  await page.click('#tabs a[href="#/settings"]');
  const toggle = '[data-setting="backgroundBackup"]';
  assert.equal(await page.isChecked(toggle), true);
  await page.click(toggle);
  assert.equal(await page.evaluate(() => window.asked), 0, 'turning it off asks nothing');
  await page.click(toggle);
  await page.waitForFunction(() => window.asked === 1);
  assert.deepEqual(problems, []);
});

test('closed mid-upload: the sync the page asked for makes the service worker continue the same upload', async (t) => {
  const server = await startServer(t);
  const dir = tempDir(t);
  const video = randomFile(dir, 'VID_0100.mp4', 24 * 1024 * 1024 + 7);
  const origin = server.url;
  // Background Sync is allowed: no CDP sync this time, the page's own registration wakes
  // the worker once the page is gone.
  const { context } = await launchProfile(t, origin, { sync: 'granted' });
  // Every upload request, from the page and from the service worker.
  const requests = [];
  context.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/uploads')) {
      requests.push({ from: r.serviceWorker() ? 'worker' : 'page', method: r.method(), url: r.url(), offset: r.headers()['upload-offset'] });
    }
  });

  const page = await context.newPage();
  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => navigator.serviceWorker.ready);
  // Background backup is on by default; the page's uploads are slow, so one is going.
  const pageCdp = await context.newCDPSession(page);
  await pageCdp.send('Network.enable');
  await pageCdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 3 * 1024 * 1024 });
  await page.setInputFiles('#files', [video.path]);
  // Close once the server has acknowledged part of it.
  await page.waitForFunction(() => {
    const detail = document.querySelector('#assets li[data-status="uploading"] .detail')?.textContent ?? '';
    return /^[1-9][\d.]* MB \//.test(detail);
  }, null, { timeout: 60_000 });
  // With beforeunload run, as a person closing the tab; close() then does not wait.
  await Promise.all([page.waitForEvent('close'), page.close({ runBeforeUnload: true })]);
  const created = requests.filter((r) => r.method === 'POST');
  assert.equal(created.length, 1, 'the page created one upload');
  assert.equal((await api(server, '/api/assets')).items.length, 0, 'not complete when the page closed');
  assert.equal(context.pages().filter((p) => p.url().startsWith(origin)).length, 0, 'no page of the app is open');

  const { items } = await until('the background upload', async () => {
    const list = (await api(server, '/api/assets')).items;
    return { ok: list.length === 1, items: list };
  });
  assert.equal(items[0].checksum, video.sha256);
  assert.equal(items[0].fileSize, video.size);
  // The worker went on with the page's upload: it created none, and its first chunk
  // started past zero, at an offset the server had acknowledged.
  const fromWorker = requests.filter((r) => r.from === 'worker');
  assert.equal(fromWorker.filter((r) => r.method === 'POST').length, 0, `no new upload: ${JSON.stringify(fromWorker)}`);
  const patches = fromWorker.filter((r) => r.method === 'PATCH');
  assert.ok(patches.length > 0, `the worker sent the rest: ${JSON.stringify(requests)}`);
  const pageUpload = requests.find((r) => r.from === 'page' && r.method === 'PATCH')?.url;
  assert.ok(patches.every((r) => r.url === pageUpload), `the same upload URL as the page's (${pageUpload})`);
  assert.ok(Number(patches[0].offset) > 0, `resumed from ${patches[0].offset}`);
});

test('Backup.stop() ends the run after the step in flight, releases the Web Lock, and resumes later', async (t) => {
  const server = await startServer(t);
  const dir = tempDir(t);
  const video = randomFile(dir, 'VID_0200.mp4', 20 * 1024 * 1024);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${server.url}/healthz`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 4 * 1024 * 1024 });
  await page.evaluate(async (apiKey) => {
    const { default: init, Backup } = await import('/pkg/ferry.js');
    await init();
    window.backup = await Backup.open({ apiKey, catalogName: 'stop-test', hashWorkerUrl: '/hash-worker.js', concurrency: 1 });
    window.latest = null;
    window.backup.onChange((a) => { window.latest = a; });
  }, server.apiKey);
  await page.evaluate(() => {
    const input = Object.assign(document.createElement('input'), { type: 'file', id: 'pick' });
    document.body.append(input);
  });
  await page.setInputFiles('#pick', video.path);
  await page.evaluate(() => window.backup.add(document.querySelector('#pick').files));
  // Once the server has acknowledged a chunk, stop.
  await page.waitForFunction(() => window.latest?.status === 'uploading' && window.latest.doneBytes > 0, null, { timeout: 60_000 });
  await page.evaluate(() => window.backup.stop());
  await page.waitForFunction(() => window.backup.progress().state === 'idle', null, { timeout: 30_000, polling: 100 });
  const [stopped] = await page.evaluate(() => window.backup.assets(10));
  assert.equal(stopped.status, 'uploading', 'the record stays resumable');
  assert.ok(stopped.doneBytes > 0 && stopped.doneBytes < video.size, `part of it went up: ${stopped.doneBytes}`);
  await until('the runner\'s Web Lock to be released', async () => {
    const held = await page.evaluate(async () => (await navigator.locks.query()).held.map((l) => l.name));
    return { ok: held.length === 0, held };
  }, 5_000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await page.evaluate(() => window.backup.assets(10)))[0].doneBytes, stopped.doneBytes, 'nothing more is sent after the stop');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await page.evaluate(() => window.backup.resume());
  await page.waitForFunction(() => window.latest?.status === 'uploaded', null, { timeout: 60_000 });
  const { items } = await api(server, '/api/assets');
  assert.equal(items.length, 1);
  assert.equal(items[0].checksum, video.sha256);
});
