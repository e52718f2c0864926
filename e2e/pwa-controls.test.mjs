// The PWA's backup controls on top of the engine: Pause and Resume (card and Settings),
// the Wi-Fi-only policy, failed uploads with Retry and Retry all, Cancel, skipped files
// with their reason, folders as albums with include and exclude rules, and a key revoked
// in the middle of a backup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, launchBrowser, pageProblems, randomFile, startServer, tempDir } from './support.mjs';

const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? new URL('../target/debug/ferry-server', import.meta.url).pathname;
const cli = (server, ...args) => execFileSync(SERVER_BIN, [...args, '--data', server.data], { encoding: 'utf8' });
const text = (page, selector) => page.$eval(selector, (el) => el.textContent.trim());

async function signInWithKey(page, url, key) {
  await page.goto(url);
  await page.fill('#api-key', key);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
}

async function rows(page) {
  return page.$$eval('#assets li', (r) => r.map((li) => ({
    name: li.dataset.name, status: li.dataset.status, detail: li.querySelector('.detail').textContent,
  })));
}

async function waitForRows(page, status, count, problems, timeout = 60_000) {
  try {
    await page.waitForFunction(
      ([s, n]) => document.querySelectorAll(`#assets li[data-status="${s}"]`).length === n,
      [status, count], { timeout },
    );
  } catch (e) {
    throw new Error(`expected ${count} rows "${status}": ${JSON.stringify(await rows(page))}; ${problems.join('; ')}`, { cause: e });
  }
}

const row = (name) => `#assets li[data-name="${name}"]`;

/**
 * Clicks `selector`, waits until the card's title is `title` (or, with `not`, is no longer
 * it) and asserts that took at most a second, by the page's own clock from the click to
 * the first frame that showed it: Playwright's round trips to the browser are not counted,
 * so a slow machine does not fail what the app did in time.
 */
async function clickAndSeeTitle(page, selector, title, { not = false } = {}) {
  await page.evaluate(() => {
    window.clickedAt = null;
    window.titleAt = null;
    addEventListener('click', () => { window.clickedAt ??= performance.now(); }, { capture: true, once: true });
  });
  await page.click(selector);
  await page.waitForFunction(([want, negate]) => {
    const shown = (document.getElementById('status-title').textContent === want) !== negate;
    if (shown) window.titleAt ??= performance.now();
    return shown;
  }, [title, not], { timeout: 10_000 });
  const ms = await page.evaluate(() => window.titleAt - window.clickedAt);
  assert.ok(ms <= 1000, `the card ${not ? 'left' : 'said'} "${title}" ${Math.round(ms)} ms after the click`);
}

test('Pause and Resume apply within a second, from the card and from Settings', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const first = randomFile(dir, 'first.jpg', 100 * 1024);
  const later = [randomFile(dir, 'later-1.jpg', 300 * 1024), randomFile(dir, 'later-2.mp4', 600 * 1024)];
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = pageProblems(page);
  const creations = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/uploads')) creations.push(r.url()); });
  // The upload requests on the wire (tus creation, chunks and offset checks).
  const open = new Set();
  page.on('request', (r) => { if (r.url().includes('/api/uploads')) open.add(r); });
  for (const ended of ['requestfinished', 'requestfailed']) page.on(ended, (r) => open.delete(r));

  await signInWithKey(page, server.url, server.apiKey);
  await page.setInputFiles('#files', [first.path]);
  await waitForRows(page, 'uploaded', 1, problems);
  assert.equal(await text(page, '#pause-button'), 'Pause');

  // Settings: "Pause backup" on; back on the Backup view the card says Paused at once.
  await page.click('#tabs a[href="#/settings"]');
  await page.click('[data-setting="paused"]');
  assert.equal(JSON.parse(await page.evaluate(() => localStorage.getItem('ferry.settings'))).paused, true);
  await clickAndSeeTitle(page, '#tabs a[href="#/backup"]', 'Paused');
  assert.equal(await text(page, '#pause-button'), 'Resume');
  assert.equal(await page.getAttribute('#pause-button', 'aria-pressed'), 'true');
  // Another tab of the app, open meanwhile, is paused too, and says so.
  const other = await context.newPage();
  await other.goto(server.url);
  await other.waitForSelector('body[data-ready="true"]');
  await page.click('#pause-button');
  await other.waitForFunction(() => document.getElementById('status-title').textContent !== 'Paused', null, { timeout: 5_000 });
  await page.click('#pause-button');
  await other.waitForFunction(() => document.getElementById('status-title').textContent === 'Paused', null, { timeout: 5_000 });
  await other.close();

  // New files wait: nothing is created on the server while paused.
  const before = creations.length;
  await page.setInputFiles('#files', later.map((f) => f.path));
  await page.waitForFunction(() => document.querySelectorAll('#assets li').length === 3);
  await page.waitForTimeout(2500);
  assert.equal(creations.length, before, 'no upload starts while paused');
  assert.equal((await rows(page)).filter((r) => r.status === 'uploaded').length, 1);
  assert.equal(await text(page, '#status-title'), 'Paused');

  // The card's Resume button: within a second the card is no longer paused, and the
  // files upload. The settings switch follows.
  await clickAndSeeTitle(page, '#pause-button', 'Paused', { not: true });
  await waitForRows(page, 'uploaded', 3, problems);
  await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'done');
  assert.equal(await text(page, '#pause-button'), 'Pause');
  await page.click('#tabs a[href="#/settings"]');
  assert.equal(await page.isChecked('[data-setting="paused"]'), false);
  assert.equal((await api(server, '/api/assets')).items.length, 3);

  // Pausing from the card mid-upload: the card says Paused within a second.
  await page.click('#tabs a[href="#/backup"]');
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
  const slow = [randomFile(dir, 'slow-1.jpg', 700 * 1024), randomFile(dir, 'slow-2.jpg', 700 * 1024),
    randomFile(dir, 'slow-3.jpg', 700 * 1024), randomFile(dir, 'slow-4.jpg', 700 * 1024)];
  await page.setInputFiles('#files', slow.map((f) => f.path));
  await page.waitForSelector('#assets li[data-status="uploading"]');
  await clickAndSeeTitle(page, '#pause-button', 'Paused');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  // Files in flight finish their chunk; the rest wait until Resume. Once no upload
  // request is open, nothing more may finish.
  const deadline = Date.now() + 30_000;
  while (open.size > 0 && Date.now() < deadline) await page.waitForTimeout(100);
  assert.equal(open.size, 0, `upload requests still open while paused: ${[...open].map((r) => r.url())}`);
  await page.waitForTimeout(500);
  const settled = (await rows(page)).filter((r) => r.status === 'uploaded').length;
  await page.waitForTimeout(2000);
  assert.equal((await rows(page)).filter((r) => r.status === 'uploaded').length, settled, 'nothing more finishes while paused');
  assert.ok(settled < 7, `some files wait while paused: ${JSON.stringify(await rows(page))}`);
  assert.equal(await text(page, '#status-title'), 'Paused');
  await page.click('#pause-button');
  await waitForRows(page, 'uploaded', 7, problems);
  assert.deepEqual(problems, []);
});

test('Wi-Fi only on a cellular connection: nothing uploads, and the card says why', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const photo = randomFile(dir, 'cell.jpg', 50 * 1024);
  const video = randomFile(dir, 'cell.mp4', 80 * 1024);
  const page = await browser.newPage();
  const problems = pageProblems(page);
  // Desktop Chromium has no navigator.connection.type (and CDP's connectionType does not
  // set it), so the Network Information API of a phone on mobile data is stood in for.
  await page.addInitScript(() => {
    const connection = Object.assign(new EventTarget(), { type: 'cellular', effectiveType: '4g', saveData: false });
    Object.defineProperty(Navigator.prototype, 'connection', { configurable: true, get: () => connection });
  });
  await signInWithKey(page, server.url, server.apiKey);
  await page.click('#tabs a[href="#/settings"]');
  assert.equal(await text(page, '[data-note="wifiOnly"]'), '', 'the network type is known, so no note');
  assert.equal(await page.isChecked('[data-setting="wifiOnly"]'), true, 'Wi-Fi only is the default');
  await page.click('#tabs a[href="#/backup"]');
  await page.setInputFiles('#files', [photo.path, video.path]);
  await page.waitForFunction(() => document.getElementById('status-title').textContent === 'Waiting for Wi-Fi', null, { timeout: 10_000 });
  assert.equal(await page.getAttribute('#status-card', 'data-state'), 'waiting');
  await page.waitForTimeout(1500);
  assert.equal((await api(server, '/api/assets')).items.length, 0, 'nothing uploads on mobile data');

  // Mobile data for photos, applied at once: the photo goes, the video still waits for Wi-Fi.
  await page.click('#tabs a[href="#/settings"]');
  await page.click('[data-setting="cellularPhotos"]');
  await page.click('#tabs a[href="#/backup"]');
  await page.waitForSelector(`${row('cell.jpg')}[data-status="uploaded"]`, { timeout: 30_000 });
  await page.waitForTimeout(1500);
  assert.notEqual(await page.getAttribute(row('cell.mp4'), 'data-status'), 'uploaded');
  assert.deepEqual((await api(server, '/api/assets')).items.map((a) => a.originalFileName), ['cell.jpg']);
  assert.equal(await text(page, '#status-title'), 'Waiting for Wi-Fi');
  // Wi-Fi only off: mobile data for everything.
  await page.click('#tabs a[href="#/settings"]');
  await page.click('[data-setting="wifiOnly"]');
  await page.click('#tabs a[href="#/backup"]');
  await page.waitForSelector(`${row('cell.mp4')}[data-status="uploaded"]`, { timeout: 30_000 });
  assert.deepEqual(problems, []);
});

test('failed uploads: reasons, Retry on a row and Retry all once the cause is gone', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const files = [randomFile(dir, 'one.jpg', 30 * 1024), randomFile(dir, 'two.jpg', 40 * 1024), randomFile(dir, 'three.jpg', 50 * 1024)];
  // Routes do not see requests a service worker could handle; this test needs none.
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const page = await context.newPage();
  const problems = pageProblems(page);
  let refuse = true;
  await page.route('**/api/uploads', (route) => (refuse && route.request().method() === 'POST'
    ? route.fulfill({ status: 400, contentType: 'text/plain', body: 'refused for the test' })
    : route.continue()));

  await signInWithKey(page, server.url, server.apiKey);
  await page.setInputFiles('#files', files.map((f) => f.path));
  await waitForRows(page, 'failed', 3, problems);
  await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'failed');
  assert.equal(await text(page, '#status-title'), '3 uploads failed');
  assert.equal(await text(page, '#failed-title'), '3 uploads failed');
  assert.equal(await page.isVisible('#retry-all'), true);
  const reasons = await page.$$eval('#failed-list li .reason', (r) => r.map((x) => x.textContent));
  assert.equal(reasons.length, 3);
  assert.ok(reasons.every((r) => r.length > 0), `reasons: ${reasons}`);
  assert.equal(await text(page, '#stat-failed'), '3');

  // The cause goes away; Retry on one row uploads that one only.
  refuse = false;
  await page.click('#failed-list li:has-text("two.jpg") button[data-action="retry"]');
  await page.waitForSelector(`${row('two.jpg')}[data-status="uploaded"]`);
  await page.waitForFunction(() => document.getElementById('failed-title').textContent === '2 uploads failed');
  assert.equal((await rows(page)).filter((r) => r.status === 'failed').length, 2);

  // Retry all takes the rest.
  await page.click('#retry-all');
  await waitForRows(page, 'uploaded', 3, problems);
  await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'done');
  assert.equal(await page.isVisible('#failed'), false);
  const { items } = await api(server, '/api/assets');
  assert.deepEqual(items.map((a) => a.originalFileName).sort(), ['one.jpg', 'three.jpg', 'two.jpg']);
  assert.ok(problems.every((p) => /\b400\b/.test(p)), problems.join('; '));
});

test('a file deleted after it was picked is skipped with its reason and keeps the backup from "complete" until set aside; Cancel and Retry on a row', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const gone = randomFile(dir, 'gone.jpg', 60 * 1024);
  const keep = randomFile(dir, 'keep.jpg', 70 * 1024);
  const page = await browser.newPage();
  const problems = pageProblems(page);

  await signInWithKey(page, server.url, server.apiKey);
  await page.evaluate(() => localStorage.setItem('ferry.settings', JSON.stringify({ paused: true })));
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForFunction(() => document.getElementById('status-title').textContent === 'Paused');

  await page.setInputFiles('#files', [gone.path, keep.path]);
  await page.waitForFunction(() => document.querySelectorAll('#assets li').length === 2);
  rmSync(gone.path);
  // Cancel keep.jpg while it waits: it is skipped, and says so.
  await page.click(`${row('keep.jpg')} button[data-action="cancel"]`);
  await page.waitForSelector(`${row('keep.jpg')}[data-status="skipped"]`);
  assert.equal(await text(page, `${row('keep.jpg')} .detail`), 'Cancelled');
  // The focus moved from Cancel to the Retry that replaced it, not to the page.
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Retry keep.jpg');
  assert.equal(await text(page, `${row('keep.jpg')} .status`), 'Skipped');

  await page.click('#pause-button');
  await page.waitForSelector(`${row('gone.jpg')}[data-status="skipped"]`, { timeout: 30_000 });
  const reason = await text(page, `${row('gone.jpg')} .detail`);
  assert.match(reason, /no longer|could not be read|deleted|moved/i, `reason: ${reason}`);
  // Its own file cannot be read: the row offers to choose it again, not a Retry that would fail.
  assert.equal(await page.isVisible(`${row('gone.jpg')} button[data-action="choose"]`), true);

  // Retry the cancelled one: it uploads.
  await page.click(`${row('keep.jpg')} button[data-action="retry"]`);
  await page.waitForSelector(`${row('keep.jpg')}[data-status="uploaded"]`, { timeout: 30_000 });
  // The deleted file is still wanted: the backup is not called complete while it waits.
  await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'failed');
  assert.equal(await text(page, '#status-title'), '1 file needs to be added again');
  assert.match(await text(page, '#status-count'), /^1 of 2 backed up\. ferry could not read 1 file/);
  assert.equal(await text(page, '#failed-title'), '1 file to add again');
  // Choose again opens the file picker.
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#failed-list button[data-action="choose"]')]);
  assert.equal(chooser.isMultiple(), true);
  // Gone for good: Dismiss sets it aside, and the backup is complete.
  await page.click('#failed-list button[data-action="dismiss"]');
  await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'done');
  // The list it was in is gone: the focus went to the status it changed, not the page.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'status-title');
  assert.equal(await text(page, '#status-title'), 'Backup complete');
  assert.equal(await page.isVisible('#failed'), false);
  assert.equal(await text(page, `${row('gone.jpg')} .detail`), 'Cancelled');
  assert.match(await text(page, '#summary'), /1 skipped/);
  const { items } = await api(server, '/api/assets');
  assert.deepEqual(items.map((a) => a.originalFileName), ['keep.jpg']);
  assert.deepEqual(problems, []);
});

test('folders become albums; an excluded album is skipped, and the rule is kept', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const put = (path, size) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    const name = path.split('/').at(-1);
    const f = randomFile(join(dir, path, '..'), name, size);
    return { ...f, path: join(dir, path) };
  };
  put('Phone/Trip/IMG_1.jpg', 20 * 1024);
  put('Phone/Home/IMG_2.jpg', 30 * 1024);
  put('Phone/Trip/Beach/IMG_3.jpg', 40 * 1024);
  writeFileSync(join(dir, 'Phone/Trip/.DS_Store'), 'junk');
  put('Later/Trip/IMG_4.jpg', 50 * 1024);
  put('Later/Home/IMG_5.jpg', 60 * 1024);
  const page = await browser.newPage();
  const problems = pageProblems(page);

  await signInWithKey(page, server.url, server.apiKey);
  assert.equal(await page.isVisible('#albums'), false, 'no albums before a folder is added');
  await page.setInputFiles('#folder', join(dir, 'Phone'));
  await waitForRows(page, 'uploaded', 3, problems);
  assert.equal(await page.$$eval('#assets li', (r) => r.length), 3, 'the .DS_Store is not a photo');
  const albums = await page.$$eval('#album-list li', (li) => li.map((l) => [
    l.querySelector('.album-name').textContent, l.querySelector('.album-meta').textContent,
  ]));
  assert.deepEqual(albums, [['Beach', '1 file · backed up'], ['Home', '1 file · backed up'], ['Trip', '1 file · backed up']]);
  // The albums are on the server too, each with its photo (a nested folder is its own album).
  const onServer = Object.fromEntries((await api(server, '/api/albums')).items.map((a) => [a.name, a.assetCount]));
  assert.deepEqual(onServer, { Beach: 1, Home: 1, Trip: 1 });
  const byName = Object.fromEntries((await api(server, '/api/assets?limit=10')).items.map((a) => [a.originalFileName, a.albums]));
  assert.deepEqual(byName, { 'IMG_1.jpg': ['Trip'], 'IMG_2.jpg': ['Home'], 'IMG_3.jpg': ['Beach'] });

  // Exclude Trip: stored, shown, and applied to the files added next.
  await page.selectOption('select[data-album="Trip"]', 'exclude');
  assert.deepEqual(JSON.parse(await page.evaluate(() => localStorage.getItem('ferry.albums'))), { include: [], exclude: ['Trip'] });
  // Its photo went up before the rule: the card says it stays backed up.
  await page.waitForFunction(() => document.querySelector('#album-list li:last-child .album-meta').textContent
    === '1 file · not backed up from now on · 1 backed up before');
  await page.setInputFiles('#folder', join(dir, 'Later'));
  await page.waitForSelector(`${row('IMG_4.jpg')}[data-status="skipped"]`);
  await page.waitForSelector(`${row('IMG_5.jpg')}[data-status="uploaded"]`);
  assert.match(await text(page, `${row('IMG_4.jpg')} .detail`), /album/i);

  // The rule survives a reload and reaches the engine when it opens.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.$eval('select[data-album="Trip"]', (s) => s.value), 'exclude');
  await page.selectOption('select[data-album="Home"]', 'include');
  put('Again/Beach/IMG_6.jpg', 10 * 1024);
  put('Again/Home/IMG_7.jpg', 10 * 1024);
  await page.setInputFiles('#folder', join(dir, 'Again'));
  await page.waitForSelector(`${row('IMG_6.jpg')}[data-status="skipped"]`);
  await page.waitForSelector(`${row('IMG_7.jpg')}[data-status="uploaded"]`);
  assert.match(await text(page, '#albums-summary'), /Only included albums/);

  // Files dropped on the page (not in a folder) are taken too, with no album.
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File([new Uint8Array(3000).fill(7)], 'dropped.jpg', { type: 'image/jpeg' }));
    for (const type of ['dragover', 'drop']) {
      document.getElementById('drop-zone').dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
    }
  });
  await page.waitForSelector(`${row('dropped.jpg')}[data-status="uploaded"]`);

  const { items } = await api(server, '/api/assets');
  assert.deepEqual(items.map((a) => a.originalFileName).sort(), ['IMG_1.jpg', 'IMG_2.jpg', 'IMG_3.jpg', 'IMG_5.jpg', 'IMG_7.jpg', 'dropped.jpg']);
  assert.deepEqual(problems, []);
});

test('a key revoked mid-backup: sign in again with a new key and the backup finishes, once', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const files = [1, 2, 3, 4, 5].map((i) => randomFile(dir, `VID_${i}.mp4`, 1024 * 1024));
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const problems = pageProblems(page);

  await signInWithKey(page, server.url, server.apiKey);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 512 * 1024 });
  await page.setInputFiles('#files', files.map((f) => f.path));
  await page.waitForSelector('#assets li[data-status="uploading"]');

  // Revoke the key the page uses, by its id from `key list`.
  const ids = cli(server, 'key', 'list', 'e2e').trim().split('\n').slice(1).map((l) => l.split('\t')[0]);
  assert.equal(ids.length, 1);
  cli(server, 'key', 'revoke', ids[0]);
  const fresh = cli(server, 'key', 'create', 'e2e', '--name', 'again').trim().split('\n').at(-1).trim();

  // The next request is refused: the sign-in screen comes back with the reason.
  await page.waitForSelector('#sign-in:not([hidden])', { timeout: 60_000 });
  assert.match(await text(page, '#sign-in-message'), /no longer accepts your key.*nothing is lost/i);
  assert.equal(await page.isVisible('#tabs'), false);
  assert.equal(await page.$eval('body', (b) => b.dataset.ready), 'false');
  assert.equal((await rows(page)).filter((r) => r.status === 'failed').length, 0, 'nothing failed');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

  await page.fill('#api-key', fresh);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.isVisible('#backup'), true);
  await waitForRows(page, 'uploaded', 5, problems);
  assert.equal(await page.evaluate(() => localStorage.getItem('ferry.apiKey')), fresh);

  const { items } = await fetch(`${server.url}/api/assets`, { headers: { 'x-api-key': fresh } }).then((r) => r.json());
  assert.equal(items.length, 5, 'each file once');
  for (const f of files) {
    const asset = items.find((a) => a.originalFileName === f.name);
    assert.equal(asset?.checksum, f.sha256, `bytes of ${f.name}`);
    assert.equal(asset.fileSize, f.size);
  }
  assert.ok(problems.every((p) => /\b401\b/.test(p)), problems.join('; '));
});
