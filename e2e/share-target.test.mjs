// The Web Share Target: the manifest declares `share_target` (POST multipart, field
// `media`), and sharing photos into the installed app queues them for backup. The test
// does what the system's share sheet does: a multipart POST navigation to the target URL.
// The service worker answers it (the server never sees the POST), adds the files to the
// engine's catalog, and redirects to the app, whose engine uploads them. The server then
// has every file with the right SHA-256, including a video over the 64 MiB the engine
// keeps a copy of, which the worker hands to the page; a page that finds the worker no
// longer holding such a file says to choose it again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, launchBrowser, pageProblems, randomFile, startServer, tempDir } from './support.mjs';

test('a share-target POST through the service worker queues the files and backs them up', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const files = [randomFile(dir, 'Shared from gallery 1.jpg', 300 * 1024), randomFile(dir, 'Shared clip.mp4', 1024 * 1024),
    // Over the 64 MiB the engine keeps a copy of.
    randomFile(dir, 'Shared long video.mp4', 64 * 1024 * 1024 + 4096)];
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const problems = pageProblems(page);

  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });

  // The manifest parses without errors and names the share target.
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  assert.deepEqual(manifest.errors, []);
  const target = JSON.parse(manifest.data).share_target;
  assert.deepEqual({ action: target.action, method: target.method, enctype: target.enctype, field: target.params.files[0].name },
    { action: './share', method: 'POST', enctype: 'multipart/form-data', field: 'media' });
  await cdp.detach();

  // The share sheet's POST: a multipart form navigation to ./share.
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
  await page.setInputFiles('#share-input', files.map((f) => f.path));
  const shared = page.waitForResponse((r) => new URL(r.url()).pathname === '/share');
  await page.evaluate(() => document.getElementById('share-form').submit());
  const answer = await shared;
  assert.equal(answer.fromServiceWorker(), true, 'the service worker answers the share');
  assert.equal(answer.status(), 303);

  // Back in the app, which says what was shared and backs it up.
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(new URL(page.url()).search, '', 'the share report leaves the address');
  assert.equal(new URL(page.url()).hash, '#/backup');
  await page.waitForSelector('#share-banner:not([hidden])');
  assert.equal((await page.textContent('#share-banner')).trim(),
    '3 shared files added to the backup. One is over 64 MiB and backs up only while ferry is open.');
  await page.waitForFunction(() => [...document.querySelectorAll('#assets li')].filter((li) => li.dataset.status === 'uploaded').length === 3,
    null, { timeout: 120_000 }).catch(async (e) => {
    const rows = await page.$$eval('#assets li', (r) => r.map((li) => `${li.dataset.name}=${li.dataset.status}:${li.textContent}`));
    throw new Error(`rows: ${rows.join(', ')}; ${problems.join('; ')}`, { cause: e });
  });

  const { items } = await api(server, '/api/assets?limit=10');
  const byName = Object.fromEntries(items.map((a) => [a.originalFileName, a.checksum]));
  for (const f of files) assert.equal(byName[f.name], f.sha256, `${f.name} on the server with its SHA-256`);
  assert.equal(items.length, 3);
  assert.deepEqual(problems, []);

  // A page that opens from a share after the worker has let go of the large file (it
  // holds it for a minute, in memory) says so, instead of claiming it was added.
  await page.goto(`${server.url}/?shared=2&large=1#/backup`);
  await page.waitForSelector('#share-banner:not([hidden])');
  assert.equal((await page.textContent('#share-banner')).trim(),
    '2 shared files added to the backup. One file over 64 MiB could not be received: choose it here to back it up.');
  assert.deepEqual(problems, []);
});
