// Accessibility: axe-core (from npm) scans every screen of the web app, at phone and
// desktop sizes, in light and dark mode, and finds no serious or critical violation.
// Screens: sign-in, an empty backup, failed uploads, a finished backup, a watched folder,
// the timeline, the full view, the trash, settings, and signing in again after the key
// was revoked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { launchBrowser, randomFile, startServer, tempDir } from './support.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? new URL('../target/debug/ferry-server', import.meta.url).pathname;

/**
 * Runs axe on the page as it is; resolves to its serious and critical violations as
 * readable lines. axe is evaluated through the DevTools protocol, which the app's CSP
 * (no inline script) does not block, so the page runs under its real policy.
 */
async function scan(page, screen) {
  await page.evaluate(`${AXE}\n;0`);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}${n.failureSummary ? ` (${n.failureSummary.split('\n').slice(1, 2).join('').trim()})` : ''}`),
    }));
  });
  return violations.filter((v) => ['serious', 'critical'].includes(v.impact))
    .map((v) => `${screen}: ${v.impact} ${v.id} (${v.help}): ${v.targets.join('; ')}`);
}

test('axe finds no serious or critical violation on any screen', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const found = [];
  const counts = {};
  for (const [name, viewport, colorScheme] of [
    ['phone', { width: 390, height: 844 }, 'light'],
    ['phone-dark', { width: 390, height: 844 }, 'dark'],
    ['desktop', { width: 1280, height: 800 }, 'light'],
    ['desktop-dark', { width: 1280, height: 800 }, 'dark'],
  ]) {
    const key = execFileSync(SERVER_BIN, ['user', 'add', `a11y-${name}`, '--data', server.data], { encoding: 'utf8' })
      .trim().split('\n').at(-1).trim();
    // Routes see no request a service worker handles: this test makes uploads fail.
    const context = await browser.newContext({ viewport, colorScheme, serviceWorkers: 'block' });
    // The watched folder's picker answers with an (empty) origin-private folder.
    await context.addInitScript(() => {
      window.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('Phone', { create: true });
    });
    const page = await context.newPage();
    let refuse = false;
    await page.route('**/api/uploads', (route) => (refuse && route.request().method() === 'POST'
      ? route.fulfill({ status: 400, contentType: 'text/plain', body: 'refused for the test' })
      : route.continue()));
    const check = async (screen) => {
      const v = await scan(page, `${name} ${screen}`);
      counts[`${name} ${screen}`] = v.length;
      found.push(...v);
    };

    await page.goto(server.url);
    await page.waitForSelector('#api-key');
    await check('sign-in');
    await page.fill('#api-key', key);
    await page.click('#key-form button[type="submit"]');
    await page.waitForSelector('body[data-ready="true"]');
    await check('backup (empty)');

    refuse = true;
    await page.setInputFiles('#files', [randomFile(dir, `IMG_${name}_1.jpg`, 40 * 1024).path, randomFile(dir, `VID_${name}_2.mp4`, 90 * 1024).path]);
    await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'failed', null, { timeout: 60_000 });
    await check('backup (failed uploads)');
    refuse = false;
    await page.click('#retry-all');
    await page.waitForFunction(() => document.getElementById('status-card').dataset.state === 'done', null, { timeout: 60_000 });
    await check('backup (complete)');
    await page.click('#watch-folder');
    await page.waitForFunction(() => /^Nothing new/.test(document.getElementById('watched-status').textContent));
    await check('backup (watched folder)');

    await page.click('#tabs a[href="#/timeline"]');
    await page.waitForFunction(() => document.querySelectorAll('#timeline-days .tile').length >= 2);
    await check('timeline');
    await page.click('#timeline-days .tile[data-kind="video"]');
    await page.waitForSelector('#viewer-download:not([hidden])');
    await check('full view');
    // Delete moves it to the trash, which lists it.
    await page.click('#viewer-delete');
    await page.waitForSelector('#viewer:not([open])', { state: 'hidden' });
    await page.click('.trash-link');
    await page.waitForSelector('#trash-list li');
    await check('trash');

    await page.click('#tabs a[href="#/settings"]');
    await check('settings');

    // The key is revoked: the next request brings the sign-in screen back with a reason.
    const ids = execFileSync(SERVER_BIN, ['key', 'list', `a11y-${name}`, '--data', server.data], { encoding: 'utf8' })
      .trim().split('\n').slice(1).map((l) => l.split('\t')[0]);
    for (const id of ids) execFileSync(SERVER_BIN, ['key', 'revoke', id, '--data', server.data]);
    await page.click('#tabs a[href="#/backup"]');
    await page.setInputFiles('#files', [randomFile(dir, `IMG_${name}_late.jpg`, 20 * 1024).path]);
    await page.waitForSelector('#sign-in:not([hidden])', { timeout: 30_000 });
    await check('sign-in again');
    await context.close();
  }
  console.log(JSON.stringify(counts));
  assert.deepEqual(found, []);
});
