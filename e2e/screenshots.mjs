// Screenshots of the page at desktop and phone sizes, for looking at what we build:
//   node e2e/screenshots.mjs   (after `cargo xtask build` or `cargo xtask test`)
// Writes PNGs to e2e/artifacts/. Not a test; the test runner does not pick it up.
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { launchBrowser, randomFile, startServer, tempDir } from './support.mjs';

const out = new URL('./artifacts/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });

test('screenshots', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const files = [
    randomFile(dir, 'IMG_2041.jpg', 2 * 1024 * 1024),
    randomFile(dir, 'Beach day 🌊 with a very long file name that has to wrap somewhere.heic', 900 * 1024),
    randomFile(dir, 'VID_0007.mp4', 12 * 1024 * 1024),
  ];
  for (const [name, viewport, scheme] of [
    ['desktop', { width: 1280, height: 800 }, 'light'],
    ['phone', { width: 390, height: 844 }, 'light'],
    ['phone-dark', { width: 390, height: 844 }, 'dark'],
  ]) {
    const context = await browser.newContext({ viewport, colorScheme: scheme, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.goto(server.url);
    await page.screenshot({ path: `${out}${name}-sign-in.png` });
    await page.fill('#api-key', server.apiKey);
    await page.click('#key-form button[type="submit"]');
    await page.waitForSelector('body[data-ready="true"]');
    await page.setInputFiles('#files', files.map((f) => f.path));
    await page.waitForFunction((n) => {
      const rows = [...document.querySelectorAll('#assets li')];
      return rows.length === n && rows.every((li) => ['uploaded', 'duplicate', 'failed'].includes(li.dataset.status));
    }, files.length);
    await page.screenshot({ path: `${out}${name}-backup.png`, fullPage: true });
    await context.close();
  }
});
