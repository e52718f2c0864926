// The web app under attack: it runs under the server's strict Content-Security-Policy with
// no violation at all, file names made of markup are shown as text everywhere (backup list,
// timeline, full view) and never run, and script injected into the page is blocked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { launchBrowser, pageProblems, startServer } from './support.mjs';

const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? new URL('../target/debug/ferry-server', import.meta.url).pathname;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A real 32×32 RGB PNG in one colour, so thumbnails and previews are made and shown. */
function png([r, g, b]) {
  const size = 32;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: size }, () => [r, g, b]).flat())]);
  const pixels = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(pixels)), chunk('IEND', Buffer.alloc(0)),
    // Random bytes after IEND make each file's content unique; decoders ignore them.
    randomBytes(16),
  ]);
}

/** A backed-up file that is itself a document with script: never a document of the app's origin. */
const SCRIPTED_SVG = 'drawing.svg';

const HOSTILE = [
  '<img src=x onerror=window.__pwned=1>.jpg',
  '<script>window.__pwned=1</script>.png',
  '"><svg onload=window.__pwned=1>.png',
];

test('the app works under its CSP with no violation; markup in file names is text; inline script is blocked', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const context = await browser.newContext();
  // Recorded from the first byte of every document, before the app's own code runs.
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  const page = await context.newPage();
  const problems = pageProblems(page);
  const violations = () => page.evaluate(() => window.__violations);

  const response = await page.goto(server.url);
  const csp = response.headers()['content-security-policy'];
  for (const directive of ["script-src 'self' 'wasm-unsafe-eval'", "object-src 'none'", "base-uri 'none'",
    "frame-ancestors 'none'", "worker-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' blob: data:"]) {
    assert.ok(csp.split(';').map((d) => d.trim()).includes(directive), `CSP has ${directive}: ${csp}`);
  }
  assert.ok(!csp.includes('unsafe-inline'), csp);
  assert.equal(response.headers()['x-content-type-options'], 'nosniff');
  assert.equal(response.headers()['referrer-policy'], 'no-referrer');

  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');

  const files = [
    { name: 'plain.png', mimeType: 'image/png', buffer: png([200, 40, 40]) },
    ...HOSTILE.map((name, i) => ({ name, mimeType: 'image/png', buffer: png([40, 80 * i, 200]) })),
    { name: SCRIPTED_SVG, mimeType: 'image/svg+xml', buffer: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=1"><script>window.__pwned=2</script><!-- ${randomBytes(8).toString('hex')} --></svg>`) },
  ];
  await page.setInputFiles('#files', files);
  try {
    await page.waitForFunction(
      (n) => document.querySelectorAll('#assets li[data-status="uploaded"]').length === n,
      files.length, { timeout: 60_000 },
    );
  } catch (e) {
    const rows = await page.$$eval('#assets li', (r) => r.map((li) => `${li.dataset.name}: ${li.dataset.status}`));
    throw new Error(`rows: ${rows.join(', ')}; ${problems.join('; ')}`, { cause: e });
  }

  // The server stored the names exactly.
  const listed = await (await fetch(`${server.url}/api/assets`, { headers: { 'x-api-key': server.apiKey } })).json();
  assert.deepEqual(listed.items.map((a) => a.originalFileName).sort(), files.map((f) => f.name).sort());

  /** Nothing the names describe exists in the page, and none of their script ran. */
  const assertInert = async (where) => {
    const found = await page.evaluate(() => ({
      pwned: window.__pwned,
      imgX: document.querySelectorAll('img[src="x"]').length,
      svg: document.querySelectorAll('svg[onload]').length,
      handlers: [...document.querySelectorAll('*')].filter((el) => [...el.attributes].some((a) => /^on/i.test(a.name))).length,
      inlineScripts: [...document.scripts].filter((s) => !s.src).length,
    }));
    assert.deepEqual(found, { pwned: undefined, imgX: 0, svg: 0, handlers: 0, inlineScripts: 0 }, where);
  };

  // Backup list: each name is the row's text.
  const rowNames = await page.$$eval('#assets li .name', (els) => els.map((el) => el.textContent));
  for (const name of HOSTILE) assert.ok(rowNames.includes(name), `backup list shows ${name} as text: ${rowNames}`);
  await assertInert('backup list');

  // Timeline: tiles named by text, with thumbnails (blob: images) allowed by img-src.
  await page.click('#tabs a[href="#/timeline"]');
  await page.waitForFunction((n) => document.querySelectorAll('#timeline-days .tile').length === n, files.length);
  const tileNames = await page.$$eval('#timeline-days .tile-name', (els) => els.map((el) => el.textContent));
  assert.deepEqual(tileNames.sort(), files.map((f) => f.name).sort());
  await page.waitForFunction(() => [...document.querySelectorAll('#timeline-days .tile img')]
    .some((img) => img.complete && img.naturalWidth > 0), null, { timeout: 30_000 });
  await assertInert('timeline');

  // Full view of a hostile one: its name is text, its image a blob: URL that loads.
  const tile = page.locator('#timeline-days .tile').filter({ hasText: HOSTILE[1] });
  await tile.click();
  await page.waitForSelector('#viewer[open]');
  assert.equal(await page.$eval('#viewer-name', (el) => el.textContent), HOSTILE[1]);
  await page.waitForSelector('#viewer-download:not([hidden])');
  assert.equal(await page.getAttribute('#viewer-download', 'download'), HOSTILE[1]);
  await assertInert('full view');
  await page.keyboard.press('Escape');

  // Full view of an SVG with script: no preview, and its Download link is plain bytes, so
  // opening it in a tab saves it rather than rendering it as a document of the app's origin.
  await page.locator('#timeline-days .tile').filter({ hasText: SCRIPTED_SVG }).click();
  await page.waitForSelector('#viewer-download:not([hidden])');
  assert.equal(await page.$$eval('#viewer-body img, #viewer-body video', (els) => els.length), 0, 'no preview of an SVG');
  const tab = await context.newPage();
  const [saved] = await Promise.all([
    tab.waitForEvent('download', { timeout: 10_000 }),
    tab.goto(await page.getAttribute('#viewer-download', 'href')).catch(() => {}),
  ]);
  assert.match(saved.url(), /^blob:/);
  assert.equal(await tab.evaluate(() => window.__pwned).catch(() => undefined), undefined);
  await tab.close();
  await assertInert('full view of an SVG with script');
  await page.keyboard.press('Escape');

  // Everything above ran with zero CSP violations and no console error.
  assert.deepEqual(await violations(), [], 'no CSP violation while using the app');
  assert.deepEqual(problems, [], 'no console error or failed request');

  // An attacker who gets markup into the page still cannot run script: an inline <script>,
  // an inline handler and a javascript: URL are all refused. (eval is refused as well, since
  // script-src has no 'unsafe-eval', but code that DevTools runs is exempt, so it is not
  // tried here.)
  const attempts = await page.evaluate(async () => {
    const script = document.createElement('script');
    script.textContent = 'window.__pwned = "inline script"';
    document.body.append(script);
    const div = document.createElement('div');
    // A whole 1x1 GIF, so the load event fires (a truncated one fires error instead: both
    // handlers are there, and Chromium reports a handler only when its event comes).
    div.innerHTML = '<img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" onload="window.__pwned=\'handler\'" onerror="window.__pwned=\'handler\'">';
    document.body.append(div);
    const link = document.createElement('a');
    link.href = 'javascript:window.__pwned="javascript url"';
    document.body.append(link);
    link.click();
    await new Promise((r) => setTimeout(r, 500));
    return { pwned: window.__pwned };
  });
  assert.deepEqual(attempts, { pwned: undefined });
  const refused = await violations();
  assert.ok(refused.some((v) => v.startsWith('script-src-elem blocked inline')), refused.join('\n'));
  assert.ok(refused.some((v) => v.startsWith('script-src-attr blocked inline')), refused.join('\n'));
});

test('password guessing is stopped with 429 and Retry-After, and the sign-in form says so', async (t) => {
  const server = await startServer(t);
  execFileSync(SERVER_BIN, ['user', 'add', 'carol', '--password-stdin', '--data', server.data],
    { input: 'the right one\n', encoding: 'utf8' });
  const guess = (password) => fetch(`${server.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'carol', password }),
  });
  // Ten guesses at once: all are checked and fail; nothing gets through early.
  const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => guess(`guess ${i}`).then((r) => r.status)));
  assert.deepEqual(statuses, Array(10).fill(401));
  const refused = await guess('guess 11');
  assert.equal(refused.status, 429);
  const retryAfter = Number(refused.headers.get('retry-after'));
  assert.ok(retryAfter > 0 && retryAfter <= 900, `Retry-After: ${retryAfter}`);
  assert.equal((await refused.json()).error, 'too-many-login-attempts');

  // Now even the right password is refused, and the app tells the person to wait.
  const browser = await launchBrowser(t);
  const page = await browser.newPage();
  await page.goto(server.url);
  await page.fill('#username', 'carol');
  await page.fill('#password', 'the right one');
  await page.click('#login-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent !== '');
  assert.match(await page.$eval('#login-error', (el) => el.textContent), /Too many attempts/);
  assert.equal(await page.isVisible('#sign-in'), true, 'still on the sign-in screen');
  assert.equal(await page.evaluate(() => localStorage.getItem('ferry.apiKey')), null, 'no session was stored');
});
