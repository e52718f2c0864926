// The Web Share Target: the manifest declares `share_target` (POST multipart, field
// `media`), and sharing photos into the installed app backs them up once the person says
// so. The test does what the system's share sheet does: a multipart POST navigation to
// the target URL. The service worker answers it (the server never sees the POST), holds
// the files, and redirects to the app, which names them and asks; Back up adds them and
// the server then has every file with the right SHA-256, a video over the 64 MiB the
// engine keeps a copy of among them. A share another site posts is held and asked about
// the same way, and nothing of it is added until the person says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { api, launchBrowser, pageProblems, randomFile, startServer, tempDir } from './support.mjs';

test('a share-target POST through the service worker is held, named, and backed up once the person says so; one from another site adds nothing', async (t) => {
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

  // Back in the app, which names what was shared and asks; nothing is added before.
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(new URL(page.url()).search, '', 'the share report leaves the address');
  assert.equal(new URL(page.url()).hash, '#/backup');
  await page.waitForSelector('#share-ask:not([hidden])');
  assert.equal(await page.textContent('#share-ask-text'), 'Back up these 3 shared files?');
  assert.equal(await page.textContent('#share-ask-names'), files.map((f) => f.name).join(', '));
  assert.equal(await page.$$eval('#assets li', (r) => r.length), 0, 'nothing added before the person says so');
  await page.click('#share-accept');
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

  // The held files went with the add: a page opened from the same share again says so,
  // instead of claiming anything was added.
  await page.goto(`${server.url}/?shared=3#/backup`);
  await page.waitForSelector('#share-banner:not([hidden])');
  assert.equal((await page.textContent('#share-banner')).trim(),
    'The shared files are no longer here. Share them again, or choose them here.');
  assert.deepEqual(problems, []);

  // Another site posts a share to ferry's target (a form filled by script, submitted
  // across sites), as any page could: the app asks, names the file, and adds nothing;
  // Discard lets go of it.
  const attacker = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<form id="f" method="post" enctype="multipart/form-data" action="${server.url}/share"><input type="file" name="media" id="i"></form>
<script>
  const dt = new DataTransfer();
  dt.items.add(new File(['not yours'], 'planted.jpg', { type: 'image/jpeg' }));
  document.getElementById('i').files = dt.files;
  document.getElementById('f').submit();
</script>`);
  });
  await new Promise((resolve) => attacker.listen(0, 'localhost', resolve));
  t.after(() => attacker.close());
  await page.goto(`http://localhost:${attacker.address().port}/`);
  await page.waitForURL((url) => url.href.startsWith(server.url), { timeout: 30_000 });
  await page.waitForSelector('#share-ask:not([hidden])');
  assert.equal(await page.textContent('#share-ask-text'), 'Back up this shared file?');
  assert.equal(await page.textContent('#share-ask-names'), 'planted.jpg');
  await page.click('#share-decline');
  await page.waitForSelector('#share-banner:not([hidden])');
  assert.equal((await page.textContent('#share-banner')).trim(), 'The shared file was not added.');
  assert.equal(await page.evaluate(() => caches.has('ferry-shared')), false, 'the held file is let go');
  assert.equal(await page.$$eval('#assets li[data-name="planted.jpg"]', (r) => r.length), 0);
  assert.equal((await api(server, '/api/assets?limit=10')).items.length, 3, 'nothing of it reached the server');

  // A share left unanswered (the page went elsewhere first) is asked about again when
  // the app next opens, and goes with Discard.
  await page.goto(`http://localhost:${attacker.address().port}/`);
  await page.waitForSelector('#share-ask:not([hidden])');
  await page.goto(`${server.url}/#/backup`);
  await page.waitForSelector('#share-ask:not([hidden])');
  assert.equal(await page.textContent('#share-ask-names'), 'planted.jpg');
  await page.click('#share-decline');
  await page.waitForSelector('#share-banner:not([hidden])');
  assert.equal(await page.evaluate(() => caches.has('ferry-shared')), false);
  assert.deepEqual(problems, []);
});
