// Screenshots of every screen at phone (390×844) and desktop (1280×800) sizes, light and
// dark, written by every test run (`cargo xtask test` runs it as an e2e suite) for
// looking at what we build; alone: `node --test e2e/screenshots.test.mjs`. Writes PNGs to
// e2e/artifacts/ (docs/screenshots/ holds a copy for the README). It walks each screen
// into the state it shows, waiting for that state, and checks every PNG was written at
// its size; what they look like is for a person to judge.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { launchBrowser, randomFile, startServer, tempDir } from './support.mjs';

const out = new URL('./artifacts/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
/** The screens each size and scheme is shot at, in order. */
const SCREENS = ['sign-in', 'backup-empty', 'backup-progress', 'backup-full', 'backup', 'backup-paused', 'timeline',
  'viewer-download', 'viewer', 'trash', 'settings', 'backup-shared', 'backup-watched', 'sign-in-again'];

/** A PNG's width and height, from its IHDR chunk. */
function pngSize(path) {
  const bytes = readFileSync(path);
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', `${path} is a PNG`);
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}
const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? new URL('../target/debug/ferry-server', import.meta.url).pathname;
const MB = 1024 * 1024;

/** Draws `count` landscape-like JPEGs in the browser; resolves to Buffers. */
async function paintPhotos(browser, count) {
  const page = await browser.newPage();
  const images = await page.evaluate(async (n) => {
    const result = [];
    for (let i = 0; i < n; i += 1) {
      const portrait = i % 4 === 1;
      const w = portrait ? 900 : 1200;
      const h = portrait ? 1200 : 900;
      const canvas = new OffscreenCanvas(w, h);
      const g = canvas.getContext('2d');
      const hue = (i * 47) % 360;
      const sky = g.createLinearGradient(0, 0, 0, h);
      sky.addColorStop(0, `hsl(${hue} 70% 62%)`);
      sky.addColorStop(1, `hsl(${(hue + 40) % 360} 80% 85%)`);
      g.fillStyle = sky;
      g.fillRect(0, 0, w, h);
      g.fillStyle = `hsl(${(hue + 180) % 360} 90% 92% / 0.9)`;
      g.beginPath();
      g.arc(w * (0.25 + (i % 3) * 0.25), h * 0.3, Math.min(w, h) * 0.09, 0, Math.PI * 2);
      g.fill();
      for (let layer = 0; layer < 3; layer += 1) {
        g.fillStyle = `hsl(${(hue + 120 + layer * 15) % 360} ${35 + layer * 10}% ${45 - layer * 12}%)`;
        g.beginPath();
        g.moveTo(0, h);
        for (let x = 0; x <= w; x += w / 8) {
          g.lineTo(x, h * (0.55 + layer * 0.12) + Math.sin(x / 140 + i + layer * 2) * h * 0.05);
        }
        g.lineTo(w, h);
        g.fill();
      }
      const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.85 });
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let s = '';
      for (const b of bytes) s += String.fromCharCode(b);
      result.push(btoa(s));
    }
    return result;
  }, count);
  await page.close();
  return images.map((b64) => Buffer.from(b64, 'base64'));
}

/** Uploads one file with tus (creation-with-upload), as another device would. */
async function tusUpload(server, key, { name, type, bytes, createdAt }) {
  const meta = {
    filename: name, filetype: type, checksum: createHash('sha256').update(bytes).digest('hex'),
    fileCreatedAt: createdAt.toISOString(), fileModifiedAt: createdAt.toISOString(),
  };
  const res = await fetch(`${server.url}/api/uploads`, {
    method: 'POST',
    headers: {
      'x-api-key': key, 'tus-resumable': '1.0.0', 'upload-length': String(bytes.length),
      'upload-metadata': Object.entries(meta).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(','),
      'content-type': 'application/offset+octet-stream',
    },
    body: bytes,
  });
  if (res.status !== 201) throw new Error(`seeding ${name}: HTTP ${res.status} ${await res.text()}`);
}

const HEIC = readFileSync(new URL('../media-meta/fixtures/photo.heic', import.meta.url));

test('screenshots', async (t) => {
  const server = await startServer(t);
  // A user with a quota, so the storage bar and a quota failure show.
  let key = execFileSync(SERVER_BIN, ['user', 'add', 'alex', '--quota', String(50 * MB), '--data', server.data],
    { encoding: 'utf8' }).trim().split('\n').at(-1).trim();
  const browser = await launchBrowser(t);
  const dir = tempDir(t);

  // A library on the server from "another device": photos over several days, a video, a HEIC.
  const photos = await paintPhotos(browser, 11);
  const day = (d, h) => new Date(Date.now() - d * 86_400_000 - h * 3_600_000);
  const when = [[1, 1], [1, 2], [1, 3], [1, 5], [3, 2], [3, 4], [3, 6], [9, 1], [9, 2], [40, 3], [40, 5]];
  for (const [i, bytes] of photos.entries()) {
    await tusUpload(server, key, { name: `PXL_2025${String(i).padStart(4, '0')}.jpg`, type: 'image/jpeg', bytes, createdAt: day(...when[i]) });
  }
  await tusUpload(server, key, { name: 'Birthday cake.mp4', type: 'video/mp4', bytes: randomFile(dir, 'v.mp4', 300 * 1024).bytes, createdAt: day(3, 3) });
  await tusUpload(server, key, { name: 'IMG_4410.HEIC', type: 'image/heic', bytes: randomFile(dir, 'h.heic', 200 * 1024).bytes, createdAt: day(9, 3) });
  const tooBig = randomFile(dir, 'Drone flight 4K.mov', 60 * MB);
  // A folder of two albums, picked with "Choose a folder".
  const folder = join(dir, 'Phone');
  for (const [album, names] of [['Camera', ['PXL_1.jpg', 'PXL_2.jpg', 'PXL_3.jpg']], ['Screenshots', ['Screenshot_1.png']]]) {
    mkdirSync(join(folder, album), { recursive: true });
    for (const n of names) randomFile(join(folder, album), n, 20 * 1024);
  }

  for (const [name, viewport, scheme] of [
    ['desktop', { width: 1280, height: 800 }, 'light'],
    ['desktop-dark', { width: 1280, height: 800 }, 'dark'],
    ['phone', { width: 390, height: 844 }, 'light'],
    ['phone-dark', { width: 390, height: 844 }, 'dark'],
  ]) {
    // A real JPEG (trailing bytes make it new to the server), so the current file has a thumbnail.
    const jpeg = join(dir, `IMG_${name}_2041.jpg`);
    writeFileSync(jpeg, Buffer.concat([photos[0], randomFile(dir, 'tail', 1536 * 1024).bytes]));
    // A real HEIC (media-meta/fixtures) whose EXIF says when it was taken, so its row shows
    // the date; trailing bytes make it new to the server.
    const heic = join(dir, `IMG_${name}_0412.HEIC`);
    writeFileSync(heic, Buffer.concat([HEIC, randomFile(dir, 'tail', 40 * 1024).bytes]));
    const files = [
      { path: jpeg },
      { path: heic },
      randomFile(dir, `Beach day 🌊 ${name} with a very long file name that has to wrap somewhere.heic`, 900 * 1024),
      randomFile(dir, `VID_${name}_0007.mp4`, 5 * MB),
    ];
    // Phones show one screen as a person sees it (with the tab bar at the bottom); the
    // desktop shots show the whole page.
    const phone = viewport.width < 600;
    const context = await browser.newContext({ viewport, colorScheme: scheme, deviceScaleFactor: 1 });
    // The watched folder: a folder of the origin private file system stands in for the
    // directory picker (as in folder-rescan.test.mjs), and periodic sync is granted, so
    // the card says it is also checked in the background.
    await context.addInitScript(() => {
      window.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('Camera roll', { create: true });
    });
    for (const shot of SCREENS) rmSync(`${out}${name}-${shot}.png`, { force: true });
    const page = await context.newPage();
    const grant = await context.newCDPSession(page);
    const { targetInfo } = await grant.send('Target.getTargetInfo');
    await grant.send('Browser.setPermission', {
      permission: { name: 'periodic-background-sync' }, setting: 'granted', origin: server.url, browserContextId: targetInfo.browserContextId,
    });
    // (Not detached: Chromium drops a session's permission overrides when it detaches.)
    await page.goto(server.url);
    await page.waitForSelector('#api-key');
    await page.screenshot({ path: `${out}${name}-sign-in.png` });
    await page.fill('#api-key', key);
    await page.click('#key-form button[type="submit"]');
    await page.waitForSelector('body[data-ready="true"]');
    await page.screenshot({ path: `${out}${name}-backup-empty.png`, fullPage: !phone });

    // Slow uploads down to catch the backup in progress.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 1.5 * MB,
    });
    await page.setInputFiles('#files', files.map((f) => f.path));
    await page.waitForFunction(() => document.getElementById('current-rate').textContent.includes('left'), null, { timeout: 60_000 });
    await page.screenshot({ path: `${out}${name}-backup-progress.png`, fullPage: !phone });
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
    });
    await cdp.detach();
    await page.setInputFiles('#files', [tooBig.path]);
    // The drone video does not fit: the backup stops with storage full.
    await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'stopped', null, { timeout: 60_000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${out}${name}-backup-full.png`, fullPage: !phone });
    await page.click('#assets li[data-name="Drone flight 4K.mov"] button[data-action="cancel"]');
    await page.click('#quota-retry');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#assets li')];
      return rows.length === 5 && rows.every((li) => ['uploaded', 'duplicate', 'skipped'].includes(li.dataset.status));
    }, null, { timeout: 60_000 });
    await page.setInputFiles('#folder', folder);
    await page.waitForFunction(() => document.querySelectorAll('#album-list li').length === 2);
    await page.selectOption('select[data-album="Screenshots"]', 'exclude');
    await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'done', null, { timeout: 60_000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${out}${name}-backup.png`, fullPage: !phone });
    await page.click('#pause-button');
    await page.waitForTimeout(100);
    await page.screenshot({ path: `${out}${name}-backup-paused.png` });
    await page.click('#pause-button');

    await page.click('#tabs a[href="#/timeline"]');
    // The real JPEGs of the first screen have thumbnails: the one picked here and the other
    // device's photos below the folder's files (random bytes, so no thumbnail). How many of
    // those fit depends on whether Screenshot_1.png went up before its album was excluded.
    await page.waitForFunction(() => document.querySelectorAll('.tile[data-thumb="shown"]').length >= 5, null, { timeout: 120_000 })
      .catch(async (e) => {
        throw new Error(`thumbnails: ${await page.$$eval('.tile', (ts) => ts.map((x) => `${x.getAttribute('aria-label')}=${x.dataset.thumb}`).join('; '))}`, { cause: e });
      });
    // Every thumbnail the server makes is in (it makes them one at a time).
    await page.waitForFunction(() => document.querySelectorAll('.tile[data-thumb="loading"], .tile[data-thumb="queued"]').length === 0,
      null, { timeout: 30_000 }).catch(() => {});
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${out}${name}-timeline.png` });
    // The full view while the original downloads, on a slow link, then shown.
    const slow = await context.newCDPSession(page);
    await slow.send('Network.enable');
    await slow.send('Network.emulateNetworkConditions', {
      offline: false, latency: 40, downloadThroughput: 160 * 1024, uploadThroughput: -1,
    });
    await page.click('.tile[data-thumb="shown"]');
    await page.waitForFunction(() => {
      const bar = document.getElementById('viewer-progress');
      return bar.value / bar.max > 0.3;
    }, null, { timeout: 30_000 });
    await page.screenshot({ path: `${out}${name}-viewer-download.png` });
    await slow.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
    });
    await slow.detach();
    await page.waitForSelector('#viewer img.viewer-media');
    await page.waitForTimeout(200);
    await page.screenshot({ path: `${out}${name}-viewer.png` });
    await page.keyboard.press('Escape');
    // A HEIC moved to the trash, seen in the Trash view.
    await page.click('.tile[aria-label^="Beach day"]');
    await page.waitForSelector('#viewer-download:not([hidden])');
    await page.click('#viewer-delete');
    await page.waitForSelector('#viewer:not([open])', { state: 'hidden' });
    await page.click('.trash-link');
    await page.waitForSelector('#trash-list li');
    await page.waitForTimeout(200);
    await page.screenshot({ path: `${out}${name}-trash.png` });

    await page.click('#tabs a[href="#/settings"]');
    await page.screenshot({ path: `${out}${name}-settings.png`, fullPage: !phone });

    // Photos shared into the app from the system's share sheet (a multipart POST to the
    // manifest's share_target, answered by the service worker).
    await page.evaluate(() => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = 'share';
      form.enctype = 'multipart/form-data';
      form.id = 'share-form';
      const input = document.createElement('input');
      input.type = 'file';
      input.name = 'media';
      input.multiple = true;
      input.id = 'share-input';
      form.append(input);
      document.body.append(form);
    });
    const shared = [0, 1].map((i) => {
      const path = join(dir, `Shared_${name}_${i}.jpg`);
      writeFileSync(path, Buffer.concat([photos[3 + i * 4], randomFile(dir, 'tail', 1024).bytes]));
      return path;
    });
    await page.setInputFiles('#share-input', shared);
    await page.evaluate(() => document.getElementById('share-form').submit());
    // The app names the shared files and asks; Back up adds them.
    await page.waitForSelector('#share-ask:not([hidden])', { timeout: 30_000 });
    await page.click('#share-accept');
    await page.waitForSelector('#share-banner:not([hidden])', { timeout: 30_000 });
    await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'done', null, { timeout: 60_000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${out}${name}-backup-shared.png` });

    // A watched folder, checked once: its card on the Backup screen.
    await page.evaluate(async ({ n, jpegs }) => {
      const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('Camera roll', { create: true });
      for (const [i, b64] of jpegs.entries()) {
        const writable = await (await root.getFileHandle(`PXL_watched_${n}_${i}.jpg`, { create: true })).createWritable();
        // A real photo, with bytes after its end that make it new to the server.
        await writable.write(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), crypto.getRandomValues(new Uint8Array(64))]));
        await writable.close();
      }
    }, { n: name, jpegs: [photos[6], photos[9]].map((b) => b.toString('base64')) });
    await page.click('#watch-folder');
    await page.waitForFunction(() => /queued · checked/.test(document.getElementById('watched-status').textContent), null, { timeout: 30_000 });
    await page.waitForSelector('#watched-background:not([hidden])');
    await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'done', null, { timeout: 60_000 });
    if (phone) await page.$eval('#watched', (card) => card.scrollIntoView({ block: 'center' }));
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${out}${name}-backup-watched.png`, fullPage: !phone });

    // The key is revoked while files wait: the app asks to sign in again.
    const ids = execFileSync(SERVER_BIN, ['key', 'list', 'alex', '--data', server.data], { encoding: 'utf8' })
      .trim().split('\n').slice(1).map((l) => l.split('\t')[0]);
    for (const id of ids) execFileSync(SERVER_BIN, ['key', 'revoke', id, '--data', server.data]);
    await page.click('#tabs a[href="#/backup"]');
    await page.setInputFiles('#files', [randomFile(dir, `IMG_${name}_late.jpg`, 64 * 1024).path]);
    await page.waitForSelector('#sign-in:not([hidden])', { timeout: 30_000 });
    await page.screenshot({ path: `${out}${name}-sign-in-again.png` });
    key = execFileSync(SERVER_BIN, ['key', 'create', 'alex', '--data', server.data], { encoding: 'utf8' }).trim().split('\n').at(-1).trim();
    await context.close();

    for (const shot of SCREENS) {
      const size = pngSize(`${out}${name}-${shot}.png`);
      assert.equal(size.width, viewport.width, `${name}-${shot}.png is ${viewport.width} px wide`);
      assert.ok(size.height >= viewport.height, `${name}-${shot}.png is at least a screen tall`);
    }
  }
});
