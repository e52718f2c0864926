// The npm package (target/npm/ferry, built by `cargo xtask package`) embedded the way a
// third-party site would: served from its own origin (a CDN stand-in with ordinary CORS),
// imported by a plain <script type="module"> on a page of another origin, with no build
// step, uploading to ferry-server (started with --cors-origin) and to @tus/server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { api, endProcess, launchBrowser, pageProblems, randomFile, tempDir, until } from './support.mjs';

const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? new URL('../target/debug/ferry-server', import.meta.url).pathname;
const PACKAGE_DIR = process.env.FERRY_NPM_PACKAGE ?? new URL('../target/npm/ferry', import.meta.url).pathname;
const MIB = 1024 * 1024;

if (!existsSync(join(PACKAGE_DIR, 'index.js'))) {
  throw new Error(`${PACKAGE_DIR} is missing: run \`cargo xtask package\` first`);
}

const TYPES = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.html': 'text/html; charset=utf-8', '.json': 'application/json', '.ts': 'text/plain', '.md': 'text/plain',
};

/**
 * A tiny static server on loopback: `files` maps a path to a body, anything else comes from
 * `dir`. With `cors`, every answer carries `Access-Control-Allow-Origin: *`, which is all
 * a module script, a module worker's imports and the wasm fetch need.
 */
async function staticServer(t, { dir, files = {}, cors = false }) {
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requests.push(path);
    const headers = cors ? { 'access-control-allow-origin': '*' } : {};
    let body = files[path];
    if (body === undefined && dir) {
      const file = normalize(join(dir, path));
      if (file.startsWith(dir) && existsSync(file)) body = readFileSync(file);
    }
    if (body === undefined) {
      res.writeHead(404, headers).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': TYPES[extname(path)] ?? 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return { url: `http://127.0.0.1:${server.address().port}`, requests, files };
}

/** ferry-server with a new user, allowing the page's origin with --cors-origin (as support.mjs starts it otherwise). */
async function startFerry(t, corsOrigins) {
  let proc;
  // Added before the data directory's removal, so the server is gone before it goes.
  t.after(() => endProcess(proc));
  const data = tempDir(t, 'ferry-data-');
  const out = execFileSync(SERVER_BIN, ['user', 'add', 'e2e', '--data', data], { encoding: 'utf8' });
  const apiKey = out.trim().split('\n').at(-1).trim();
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  const url = `http://127.0.0.1:${port}`;
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data', data];
  for (const origin of corsOrigins) args.push('--cors-origin', origin);
  proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`ferry-server exited early:\n${log}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`ferry-server did not become ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, apiKey, data, log: () => log };
}

/** The package's origin and a page origin whose `/` imports the package with no build step. */
async function embeddingPage(t, body = '') {
  const cdn = await staticServer(t, { dir: PACKAGE_DIR, cors: true });
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>embedding ferry-uploader</title></head>
<body>
<input type="file" id="pick" multiple>
${body}
<script type="module">
  import { Uploader, FerryError } from '${cdn.url}/index.js';
  window.Uploader = Uploader;
  window.FerryError = FerryError;
  window.embedded = true;
</script>
</body></html>`;
  const site = await staticServer(t, { files: { '/': html } });
  return { cdn, site };
}

/** Picks `paths` through the page's own file input. */
async function pick(page, paths) {
  await page.setInputFiles('#pick', paths);
}

async function waitForStatuses(page, name, statuses, count, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const items = await page.evaluate(async (n) => (await window[n].assets({ limit: 1000 })).items, name);
    if (items.length === count && items.every((a) => statuses.includes(a.status))) return items;
    if (Date.now() > deadline) {
      const progress = await page.evaluate((n) => window[n].progress(), name);
      throw new Error(`${name}: ${JSON.stringify(items.map((a) => [a.name, a.status, a.lastError]))}; progress ${JSON.stringify(progress)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('a page on another origin imports the package from a third origin and uploads two files to ferry-server with CORS', async (t) => {
  const { cdn, site } = await embeddingPage(t);
  const server = await startFerry(t, [site.url]);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const files = [randomFile(dir, 'IMG_0001.jpg', 3 * MIB + 7), randomFile(dir, 'VID_0002.mp4', 12 * MIB + 1)];
  const page = await browser.newPage();
  const problems = pageProblems(page);
  await page.goto(site.url);
  await page.waitForFunction(() => window.embedded === true);

  // Unsupported protocols fail loudly, with a stable code.
  const refused = await page.evaluate(() => {
    try {
      new window.Uploader({ endpoint: '/api', protocol: 'multipart' });
      return null;
    } catch (e) {
      return { isError: e instanceof Error, code: e.code, message: e.message };
    }
  });
  assert.deepEqual({ ...refused, message: /not supported yet/.test(refused.message) }, { isError: true, code: 'unsupported', message: true });
  // Options only the engine checks fail with the code the engine gives, and name the field.
  const invalid = await page.evaluate(async () => Promise.all([{ chunkSize: 'big' }, { rufhVersion: 5 }].map((bad) => window.Uploader.create({ endpoint: '/api', catalog: 'never-opened', ...bad })
    .then(() => null, (e) => ({ isFerryError: e instanceof window.FerryError, code: e.code, cause: e.cause?.code, message: e.message })))));
  assert.deepEqual(invalid.map(({ message, ...rest }) => rest), [1, 2].map(() => ({ isFerryError: true, code: 'invalid-options', cause: 'invalid-options' })));
  assert.match(invalid[0].message, /chunkSize/);
  assert.match(invalid[1].message, /rufhVersion must be 6, 7 or 8/);
  // A getAuth that throws: `ready` rejects with a FerryError auth, the page's error as its cause.
  const noAuth = await page.evaluate(() => window.Uploader.create({ endpoint: '/api', catalog: 'never-opened', getAuth: () => { throw new Error('no token yet'); } })
    .then(() => null, (e) => ({ isFerryError: e instanceof window.FerryError, code: e.code, cause: e.cause?.message })));
  assert.deepEqual(noAuth, { isFerryError: true, code: 'auth', cause: 'no token yet' });

  await page.evaluate(async ({ endpoint, apiKey }) => {
    window.log = { states: [], complete: [], errors: [], progress: 0 };
    const uploader = new window.Uploader({ endpoint, headers: { 'x-api-key': apiKey }, chunkSize: 4 * 1024 * 1024 });
    uploader.on('asset-state', (a) => window.log.states.push(`${a.name}:${a.status}`));
    uploader.on('complete', (c) => window.log.complete.push(c.stats));
    uploader.on('error', (e) => window.log.errors.push(`${e.code}: ${e.message}`));
    uploader.on('progress', () => { window.log.progress += 1; });
    await uploader.ready;
    window.up = uploader;
  }, { endpoint: `${server.url}/api`, apiKey: server.apiKey });
  await pick(page, files.map((f) => f.path));
  const ids = await page.evaluate(async () => {
    const ids = await window.up.add(document.querySelector('#pick').files);
    await window.up.start();
    return ids;
  });
  assert.equal(ids.length, 2);
  await waitForStatuses(page, 'up', ['uploaded'], 2);
  await page.waitForFunction(() => window.log.complete.length > 0, null, { timeout: 10_000 });

  const { items } = await api(server, '/api/assets?limit=100');
  assert.equal(items.length, 2);
  for (const f of files) {
    assert.ok(items.some((a) => a.checksum === f.sha256 && a.fileSize === f.size && a.originalFileName === f.name), `${f.name} on the server with its SHA-256`);
  }
  const log = await page.evaluate(() => window.log);
  assert.deepEqual(log.errors, []);
  assert.ok(log.states.includes('IMG_0001.jpg:uploaded') && log.states.includes('VID_0002.mp4:uploaded'), log.states.join(', '));
  assert.ok(log.progress > 0, 'progress events');
  assert.equal(log.complete.at(-1).uploaded, 2);
  // Everything the package needed came from the package's own origin: the module, the
  // worker script and the wasm. The embedding site served only its page.
  for (const file of ['/index.js', '/ferry.js', '/hash-worker.js', '/ferry_bg.wasm']) {
    assert.ok(cdn.requests.includes(file), `${file} was loaded from the package origin: ${cdn.requests}`);
  }
  assert.deepEqual([...new Set(site.requests)].filter((p) => p !== '/favicon.ico'), ['/']);
  assert.ok(!problems.some((p) => p.startsWith('pageerror')), problems.join('\n'));
});

test('two Uploaders on one page, to ferry-server and to @tus/server, keep separate catalogs', async (t) => {
  const { Server: TusServer } = await import('@tus/server');
  const { FileStore } = await import('@tus/file-store');
  const { site } = await embeddingPage(t);
  const server = await startFerry(t, [site.url]);
  const store = tempDir(t, 'tus-store-');
  const tus = new TusServer({
    path: '/files',
    datastore: new FileStore({ directory: store }),
    allowedHeaders: ['x-api-key'],
    allowedOrigins: [site.url],
  });
  const tusHttp = createServer((req, res) => tus.handle(req, res));
  await new Promise((resolve) => tusHttp.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => { tusHttp.closeAllConnections(); tusHttp.close(resolve); }));
  const tusUrl = `http://127.0.0.1:${tusHttp.address().port}/files`;

  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const toFerry = randomFile(dir, 'to-ferry.jpg', 2 * MIB);
  const toTus = randomFile(dir, 'to-tus.mov', 5 * MIB + 3);
  const page = await browser.newPage();
  const problems = pageProblems(page);
  await page.goto(site.url);
  await page.waitForFunction(() => window.embedded === true);
  const catalogs = await page.evaluate(async ({ endpoint, apiKey, tusUrl }) => {
    window.ferryUp = await window.Uploader.create({ endpoint, headers: { 'x-api-key': apiKey }, autoStart: true });
    // A plain tus server: no ferry API, so no dedup check (the default without `endpoint`).
    window.tusUp = await window.Uploader.create({ tusEndpoint: tusUrl, autoStart: true });
    return [window.ferryUp.catalog, window.tusUp.catalog];
  }, { endpoint: `${server.url}/api`, apiKey: server.apiKey, tusUrl });
  assert.notEqual(catalogs[0], catalogs[1], 'different default catalog namespaces');

  await pick(page, [toFerry.path]);
  await page.evaluate(() => window.ferryUp.add(document.querySelector('#pick').files));
  await pick(page, [toTus.path]);
  await page.evaluate(() => window.tusUp.add(document.querySelector('#pick').files));

  const [ferryItems, tusItems] = [
    await waitForStatuses(page, 'ferryUp', ['uploaded'], 1),
    await waitForStatuses(page, 'tusUp', ['uploaded'], 1),
  ];
  assert.deepEqual(ferryItems.map((a) => a.name), ['to-ferry.jpg'], 'the ferry uploader sees only its own file');
  assert.deepEqual(tusItems.map((a) => a.name), ['to-tus.mov'], 'the tus uploader sees only its own file');
  const stats = await page.evaluate(async () => [await window.ferryUp.stats(), await window.tusUp.stats()]);
  assert.deepEqual(stats.map((s) => [s.total, s.uploaded]), [[1, 1], [1, 1]]);

  const { items } = await api(server, '/api/assets');
  assert.deepEqual(items.map((a) => a.checksum), [toFerry.sha256], 'ferry-server got only its file');
  const id = new URL(tusItems[0].uploadUrl).pathname.split('/').at(-1);
  assert.equal(createHash('sha256').update(readFileSync(join(store, id))).digest('hex'), toTus.sha256, '@tus/server stored the right bytes');
  assert.ok(!problems.some((p) => p.startsWith('pageerror')), problems.join('\n'));
});

test('destroy() lets another Uploader on the same catalog run: one mounted again backs up what the first queued', async (t) => {
  const { site } = await embeddingPage(t);
  const server = await startFerry(t, [site.url]);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const file = randomFile(dir, 'queued-then-remounted.jpg', 300 * 1024);
  const page = await browser.newPage();
  const problems = pageProblems(page);
  await page.goto(site.url);
  await page.waitForFunction(() => window.embedded === true);
  const options = { endpoint: `${server.url}/api`, headers: { 'x-api-key': server.apiKey }, catalog: 'remounted' };
  // The first is never started (no autoStart): its engine is paused, with the file queued.
  await page.evaluate(async (o) => { window.first = await window.Uploader.create(o); }, options);
  await pick(page, [file.path]);
  await page.evaluate(() => window.first.add(document.querySelector('#pick').files));
  await waitForStatuses(page, 'first', ['pending'], 1);
  const after = await page.evaluate(async (o) => {
    await window.first.destroy();
    const refused = await window.first.start().then(() => null, (e) => [e instanceof window.FerryError, e.code]);
    window.second = await window.Uploader.create({ ...o, autoStart: true });
    return refused;
  }, options);
  assert.deepEqual(after, [true, 'invalid-options'], 'a destroyed Uploader refuses to start');
  const [item] = await waitForStatuses(page, 'second', ['uploaded'], 1, 30_000);
  assert.equal(item.name, file.name);
  const { items } = await api(server, '/api/assets');
  assert.deepEqual(items.map((a) => a.checksum), [file.sha256]);
  assert.ok(!problems.some((p) => p.startsWith('pageerror')), problems.join('\n'));
});

test('requestTimeoutMs reaches the engine: a server that never answers is given up on in time', async (t) => {
  const { site } = await embeddingPage(t);
  // Accepts connections and reads requests, and never answers one.
  const silent = createServer(() => {});
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => { silent.closeAllConnections(); silent.close(resolve); }));
  const tusUrl = `http://127.0.0.1:${silent.address().port}/files`;
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const file = randomFile(dir, 'never-answered.jpg', 64 * 1024);
  const page = await browser.newPage();
  const given = [];
  page.on('requestfailed', (r) => { if (r.url().startsWith(tusUrl)) given.push(Date.now()); });
  await page.goto(site.url);
  await page.waitForFunction(() => window.embedded === true);
  await page.evaluate(async (tusUrl) => {
    window.up = await window.Uploader.create({ tusEndpoint: tusUrl, requestTimeoutMs: 1_000, autoStart: true });
  }, tusUrl);
  await pick(page, [file.path]);
  const started = Date.now();
  await page.evaluate(() => window.up.add(document.querySelector('#pick').files));
  // The default (30 s) would give nothing up in this window.
  const deadline = started + 10_000;
  while (given.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(given.length > 0, 'a request was given up on within 10 s');
  const after = (given[0] - started) / 1000;
  assert.ok(after < 8, `given up after ${after.toFixed(1)} s`);
  await page.evaluate(() => window.up.pause());
});

test('a file failed or skipped by the engine reaches the page as a FerryError with the engine\'s code', async (t) => {
  const { site } = await embeddingPage(t);
  const server = await startFerry(t, [site.url]);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const file = randomFile(dir, 'VID_not_kept.mp4', 256 * 1024);
  const page = await browser.newPage();
  const open = () => page.evaluate(async ({ endpoint, apiKey }) => {
    window.errors = [];
    // keepFilesUpTo: 1 keeps no copy of any file, as 64 MiB does of a long video.
    window.up = await window.Uploader.create({ endpoint, headers: { 'x-api-key': apiKey }, keepFilesUpTo: 1 });
    window.up.on('error', (e) => window.errors.push({ isFerryError: e instanceof window.FerryError, code: e.code, asset: e.asset?.errorCode }));
  }, { endpoint: `${server.url}/api`, apiKey: server.apiKey });
  await page.goto(site.url);
  await page.waitForFunction(() => window.embedded === true);
  await open();
  await pick(page, [file.path]);
  await page.evaluate(() => window.up.add(document.querySelector('#pick').files));
  // The page closes before start(): the next one finds the file in the queue and no copy.
  await page.reload();
  await page.waitForFunction(() => window.embedded === true);
  await open();
  await page.evaluate(() => window.up.start());
  const [asset] = await waitForStatuses(page, 'up', ['skipped'], 1);
  assert.equal(asset.errorCode, 'file-not-kept');
  await page.waitForFunction(() => window.errors.length > 0, null, { timeout: 10_000 });
  // Its words say "Add it again", which the old text patterns took for file-changed.
  assert.deepEqual(await page.evaluate(() => window.errors), [{ isFerryError: true, code: 'file-not-kept', asset: 'file-not-kept' }]);
  // Added again, it backs up.
  await pick(page, [file.path]);
  await page.evaluate(() => window.up.add(document.querySelector('#pick').files));
  await waitForStatuses(page, 'up', ['uploaded'], 1);
});

test('the drop-in <ferry-uploader> element uploads a file picked through its own input, showing names as text', async (t) => {
  const cdn = await staticServer(t, { dir: PACKAGE_DIR, cors: true });
  // The page's origin must exist before ferry-server starts, to be on its CORS list.
  const site = await staticServer(t, { files: {} });
  const server = await startFerry(t, [site.url]);
  site.files['/'] = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>element</title>
<script type="module" src="${cdn.url}/element.js"></script></head>
<body><ferry-uploader endpoint="${server.url}/api" api-key="${server.apiKey}"></ferry-uploader></body></html>`;
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  // A hostile file name must show as text, never as markup.
  const file = randomFile(dir, '<img src=x onerror=window.pwned=1>.jpg', 1 * MIB + 11);
  const page = await browser.newPage();
  const problems = pageProblems(page);
  await page.goto(site.url);
  await page.waitForFunction(() => customElements.get('ferry-uploader') !== undefined);
  await page.evaluate(() => new Promise((resolve) => {
    const el = document.querySelector('ferry-uploader');
    if (el.uploader) el.uploader.ready.then(resolve, resolve);
    else el.addEventListener('ferry-ready', resolve, { once: true });
  }));
  const events = [];
  await page.exposeFunction('recordEvent', (e) => events.push(e));
  await page.evaluate(() => {
    for (const type of ['ferry-asset-state', 'ferry-complete', 'ferry-error']) {
      document.addEventListener(type, (e) => window.recordEvent(`${type}:${e.detail?.status ?? e.detail?.code ?? ''}`));
    }
  });

  // What a screen reader is told, recorded as it changes, over an upload slow enough
  // (Chromium's throttling) for several progress events with a speed and time left.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
  await page.evaluate(() => {
    window.heard = [];
    const live = document.querySelector('ferry-uploader').shadowRoot.querySelector('[role="status"]');
    new MutationObserver(() => window.heard.push(live.textContent)).observe(live, { childList: true, characterData: true, subtree: true });
  });

  // Keyboard and screen readers: a real button, a live status, a labelled list.
  const button = page.locator('ferry-uploader').getByRole('button', { name: 'Choose files' });
  await button.focus();
  assert.equal(await page.evaluate(() => document.querySelector('ferry-uploader').shadowRoot.activeElement?.textContent), 'Choose files');
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), button.press('Enter')]);
  await chooser.setFiles([file.path]);

  const row = page.locator('ferry-uploader li[data-status="uploaded"]');
  await row.waitFor({ timeout: 60_000 });
  assert.equal(await row.locator('.name').textContent(), file.name);
  assert.equal(await page.evaluate(() => document.querySelector('ferry-uploader').shadowRoot.querySelectorAll('img').length), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.ok(await page.locator('ferry-uploader [role="status"]').count() === 1);
  // Told when the state changes, not with every progress event's speed and time left.
  await page.waitForFunction(() => window.heard.at(-1) === '1 of 1 done', null, { timeout: 10_000 });
  const heard = await page.evaluate(() => window.heard);
  assert.ok(heard.length <= 4, `announcements: ${JSON.stringify(heard)}`);
  const shown = await page.evaluate(() => document.querySelector('ferry-uploader').shadowRoot.querySelector('[part="status"]').textContent);
  assert.equal(shown, '1 of 1 done');
  assert.ok(heard.every((h) => !/\/s|left/.test(h)), `no speed or time left is read out: ${JSON.stringify(heard)}`);

  const { items } = await api(server, '/api/assets');
  assert.deepEqual(items.map((a) => [a.checksum, a.fileSize]), [[file.sha256, file.size]]);
  assert.ok(events.includes('ferry-asset-state:uploaded'), events.join(', '));
  assert.ok(!events.some((e) => e.startsWith('ferry-error')), events.join(', '));
  assert.ok(!problems.some((p) => p.startsWith('pageerror')), problems.join('\n'));
});

test('<ferry-uploader> opening on a catalog of more than 200 files lists the newest, not the oldest', async (t) => {
  const cdn = await staticServer(t, { dir: PACKAGE_DIR, cors: true });
  const site = await staticServer(t, { files: {} });
  const server = await startFerry(t, [site.url]);
  site.files['/'] = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>element</title>
<script type="module" src="${cdn.url}/element.js"></script></head>
<body><ferry-uploader endpoint="${server.url}/api" api-key="${server.apiKey}" manual-start></ferry-uploader></body></html>`;
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const files = Array.from({ length: 210 }, (_, i) => randomFile(dir, `photo-${String(i).padStart(3, '0')}.jpg`, 1024 + i));
  const page = await browser.newPage();
  const problems = pageProblems(page);
  await page.goto(site.url);
  await page.waitForFunction(() => document.querySelector('ferry-uploader')?.uploader);
  await page.evaluate(() => document.querySelector('ferry-uploader').uploader.ready);
  // Not started (manual-start): all 210 wait, the newest added last.
  const input = page.locator('ferry-uploader input[type="file"]');
  await input.setInputFiles(files.slice(0, 205).map((f) => f.path));
  await input.setInputFiles(files.slice(205).map((f) => f.path));
  await page.waitForFunction(() => document.querySelector('ferry-uploader').shadowRoot.querySelectorAll('li').length === 210);
  await page.reload();
  await page.waitForFunction(() => document.querySelector('ferry-uploader')?.shadowRoot.querySelectorAll('li').length === 200, null, { timeout: 30_000 });
  const names = await page.$$eval('ferry-uploader li .name', (els) => els.map((el) => el.textContent));
  // The five added last are all listed; five of the 205 added before them are left out.
  for (const f of files.slice(205)) assert.ok(names.includes(f.name), `${f.name}, added last, is listed`);
  assert.equal(names.filter((n) => files.slice(0, 205).some((f) => f.name === n)).length, 195);
  assert.ok(!problems.some((p) => p.startsWith('pageerror')), problems.join('\n'));
});

const VITE_EXAMPLE = new URL('../package/examples/vite/', import.meta.url).pathname;
const VITE_BIN = join(VITE_EXAMPLE, 'node_modules/.bin/vite');

/** Builds the Vite example with `args`, serves the build, and uploads through it. */
async function viteBuildUploads(t, args) {
  const out = tempDir(t, 'ferry-vite-dist-');
  execFileSync(VITE_BIN, ['build', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn', ...args], { cwd: VITE_EXAMPLE, stdio: 'inherit' });
  const { readdirSync } = await import('node:fs');
  const emitted = readdirSync(join(out, 'assets'));
  assert.ok(emitted.some((f) => f.endsWith('.wasm')), `the wasm was emitted: ${emitted}`);

  const site = await staticServer(t, { dir: out });
  const server = await startFerry(t, [site.url]);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const file = randomFile(dir, 'vite.jpg', 2 * MIB + 5);
  const page = await browser.newPage();
  const problems = pageProblems(page);
  const params = new URLSearchParams({ endpoint: `${server.url}/api`, key: server.apiKey });
  await page.goto(`${site.url}/index.html?${params}`);
  await page.waitForFunction(() => window.uploader !== undefined);
  await page.evaluate(() => window.uploader.ready);
  await page.setInputFiles('#pick', [file.path]);
  await waitForStatuses(page, 'uploader', ['uploaded'], 1);
  const { items } = await api(server, '/api/assets');
  assert.deepEqual(items.map((a) => a.checksum), [file.sha256]);
  // The element on the same page is a second Uploader with its own catalog.
  const elementAssets = await page.evaluate(async () => {
    const el = document.querySelector('ferry-uploader');
    await el.uploader.ready;
    return (await el.uploader.assets()).items.length;
  });
  assert.equal(elementAssets, 0);
  assert.ok(!problems.some((p) => p.startsWith('pageerror')), problems.join('\n'));
  return emitted;
}

test('the Vite 7 example builds with the package, and the built app hashes in its worker and uploads', {
  skip: existsSync(VITE_BIN) ? false : 'package/examples/vite has no node_modules: run `npm ci` there',
}, async (t) => {
  // Vite inlines the small worker script as a data: URL by default…
  await t.test('default build (worker inlined)', (t) => viteBuildUploads(t, []));
  // …and emits it with a hashed name, beside a renamed engine and wasm, when told not to.
  await t.test('no inlining (worker emitted)', async (t) => {
    const emitted = await viteBuildUploads(t, ['--assetsInlineLimit', '0']);
    assert.ok(emitted.some((f) => /^hash-worker-.*\.js$/.test(f)), `the worker was emitted: ${emitted}`);
  });
});

/**
 * A page with an Uploader whose `getAuth` returns `window.auth.key`, 4 files of about 1 MiB
 * added (not started), and `replaceKey()`, which makes a new key for getAuth to return
 * and revokes the old one.
 */
async function uploaderWithGetAuth(t) {
  const { site } = await embeddingPage(t);
  const server = await startFerry(t, [site.url]);
  const cli = (...args) => execFileSync(SERVER_BIN, [...args, '--data', server.data], { encoding: 'utf8' });
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const files = [1, 2, 3, 4].map((i) => randomFile(dir, `auth-${i}.jpg`, 1 * MIB + i));
  const page = await browser.newPage();
  const problems = pageProblems(page);
  await page.goto(site.url);
  await page.waitForFunction(() => window.embedded === true);
  await page.evaluate(async ({ endpoint, apiKey }) => {
    window.auth = { key: apiKey, calls: 0, errors: [], states: [] };
    window.up = await window.Uploader.create({
      endpoint, concurrency: 1,
      getAuth: async () => { window.auth.calls += 1; return { Authorization: `Bearer ${window.auth.key}` }; },
    });
    window.up.on('error', (e) => window.auth.errors.push(e.code));
    window.up.on('progress', (p) => { if (window.auth.states.at(-1) !== p.state) window.auth.states.push(p.state); });
  }, { endpoint: `${server.url}/api`, apiKey: server.apiKey });
  await pick(page, files.map((f) => f.path));
  await page.evaluate(() => window.up.add(document.querySelector('#pick').files));
  let fresh;
  const replaceKey = async () => {
    fresh = cli('key', 'create', 'e2e', '--name', 'refreshed').trim().split('\n').at(-1).trim();
    await page.evaluate((key) => { window.auth.key = key; }, fresh);
    const ids = cli('key', 'list', 'e2e').trim().split('\n').slice(1).map((l) => l.split('\t')).filter((c) => c[1] !== 'refreshed').map((c) => c[0]);
    assert.equal(ids.length, 1, 'the old key');
    cli('key', 'revoke', ids[0]);
  };
  // Every file once on the server, no auth error on the page, and the refusal seen.
  const expectEachFileOnce = async () => {
    await waitForStatuses(page, 'up', ['uploaded'], 4, 90_000);
    const auth = await page.evaluate(() => window.auth);
    assert.deepEqual(auth.errors, [], 'no auth error reached the page');
    assert.ok(auth.calls >= 3, `getAuth called at open, start and after the refusal (${auth.calls})`);
    assert.ok(auth.states.includes('halted'), `the refusal halted the backup until getAuth answered: ${auth.states}`);
    const { items } = await fetch(`${server.url}/api/assets`, { headers: { 'x-api-key': fresh } }).then((r) => r.json());
    assert.equal(items.length, 4, 'each file once');
    for (const f of files) assert.ok(items.some((a) => a.checksum === f.sha256), f.name);
    assert.ok(!problems.some((p) => p.startsWith('pageerror')), problems.join('\n'));
  };
  return { server, page, replaceKey, expectEachFileOnce };
}

test('getAuth: a key revoked mid-upload is replaced by what getAuth returns, and the uploads finish once', async (t) => {
  const { page, replaceKey, expectEachFileOnce } = await uploaderWithGetAuth(t);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 512 * 1024 });
  await page.evaluate(() => window.up.start());
  // Polled here: waitForFunction takes an async predicate's promise for a truthy answer
  // at once (this test used to revoke the key before anything was sent).
  for (const deadline = Date.now() + 60_000; !(await page.evaluate(async () => (await window.up.stats()).uploaded >= 1));) {
    assert.ok(Date.now() < deadline, 'a first file was uploaded');
    await new Promise((r) => setTimeout(r, 100));
  }
  await replaceKey();
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await expectEachFileOnce();
});

// Two requests sent with the old key are refused one after the other: the dedup check of
// files 2-4, then the first file's upload creation, held by the test until getAuth's new
// key has signed the backup in again. The late refusal of a key already replaced must not
// halt the backup a second time: it did, and the page, seeing it halted still, did not ask
// getAuth again; every file stayed waiting, with no error (CI, 2 runs in about 12).
test('getAuth: a refusal of the replaced key arriving after the new sign-in does not halt the backup again', async (t) => {
  const { server, page, replaceKey, expectEachFileOnce } = await uploaderWithGetAuth(t);
  const held = {};
  const hold = (name) => new Promise((release) => { held[name] = release; });
  let checks = 0;
  await page.route(`${server.url}/api/**`, async (route) => {
    const request = route.request();
    const path = new URL(request.url()).pathname;
    if (request.method() === 'POST' && path === '/api/assets/bulk-upload-check' && ++checks === 2) await hold('check');
    else if (request.method() === 'POST' && path === '/api/uploads' && !held.creation) await hold('creation');
    await route.continue();
  });
  await page.evaluate(() => window.up.start());
  await until('the second dedup check and the first creation are on their way', async () => ({ ok: !!(held.check && held.creation), held: Object.keys(held) }), 30_000);
  await replaceKey();
  held.check();
  await until('getAuth was asked again after the refusal', () => page.evaluate(() => ({ ok: window.auth.calls >= 3, ...window.auth })), 30_000);
  held.creation();
  await expectEachFileOnce();
});

const TSC_BIN = join(VITE_EXAMPLE, 'node_modules/.bin/tsc');

test('the shipped .d.ts files type the usage example, and refuse a mistyped one', {
  skip: existsSync(TSC_BIN) ? false : 'package/examples/vite has no node_modules: run `npm install` there',
}, async (t) => {
  // The example's own tsconfig (strict, no skipLibCheck) against the built package.
  execFileSync(TSC_BIN, ['--noEmit', '-p', '.'], { cwd: VITE_EXAMPLE, stdio: 'pipe' });
  // The types have teeth: a wrong option type and an unknown event are errors.
  const wrong = join(VITE_EXAMPLE, '.wrong-usage.ts');
  writeFileSync(wrong, [
    "import { Uploader } from 'ferry-uploader';",
    'export async function wrong() {',
    '  await Uploader.create({ endpoint: 42 });',
    "  const uploader = await Uploader.create({ endpoint: '/api' });",
    "  uploader.on('no-such-event', () => {});",
    '}',
  ].join('\n'));
  t.after(() => rmSync(wrong, { force: true }));
  const refused = (() => {
    try {
      execFileSync(TSC_BIN, ['--noEmit', '--strict', '--target', 'ES2022', '--module', 'ESNext', '--moduleResolution', 'Bundler',
        '--lib', 'ES2022,ESNext.Disposable,DOM,DOM.Iterable', wrong], { cwd: VITE_EXAMPLE, stdio: 'pipe', encoding: 'utf8' });
      return '';
    } catch (e) {
      return `${e.stdout}`;
    }
  })();
  assert.match(refused, /\(3,\d+\): error TS2322/, `endpoint: 42 is refused: ${refused}`);
  assert.match(refused, /\(5,\d+\): error TS2345.*no-such-event/, `an unknown event is refused: ${refused}`);
});
