// The trash in the web app: the full view's Delete moves an asset to the server's trash
// (it leaves the timeline), the Trash view lists it, Restore brings it back, and Delete
// now (asked twice, on the button) purges it for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { api, launchBrowser, pageProblems, startServer } from './support.mjs';

async function upload(server, name, createdAt) {
  const form = new FormData();
  form.set('fileCreatedAt', createdAt.toISOString());
  form.set('assetData', new Blob([randomBytes(2048)], { type: 'video/mp4' }), name);
  const res = await fetch(`${server.url}/api/assets`, { method: 'POST', headers: { 'x-api-key': server.apiKey }, body: form });
  assert.equal(res.status, 201, await res.text());
}

const tileNames = (page) => page.$$eval('#timeline-days .tile-name', (els) => els.map((e) => e.textContent));

test('delete to the trash, restore, and delete for good', async (t) => {
  const server = await startServer(t);
  await upload(server, 'Beach.mp4', new Date(Date.now() - 60_000));
  await upload(server, 'Party.mp4', new Date(Date.now() - 120_000));
  const browser = await launchBrowser(t);
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  const problems = pageProblems(page);
  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');

  await page.click('#tabs a[href="#/timeline"]');
  await page.waitForFunction(() => document.querySelectorAll('#timeline-days .tile').length === 2);
  await page.click('.tile[aria-label^="Beach.mp4"]');
  await page.waitForSelector('#viewer-download:not([hidden])');
  await page.click('#viewer-delete');
  await page.waitForSelector('#viewer:not([open])', { state: 'hidden' });
  await page.waitForFunction(() => document.querySelectorAll('#timeline-days .tile').length === 1);
  assert.deepEqual(await tileNames(page), ['Party.mp4']);
  assert.deepEqual((await api(server, '/api/trash')).items.map((a) => a.originalFileName), ['Beach.mp4']);

  // The Trash view lists it; Restore brings it back to the timeline.
  await page.click('.trash-link');
  await page.waitForSelector('#trash-list li[data-name="Beach.mp4"]');
  assert.match(await page.textContent('#trash-list li .trash-meta'), /^2\.0 KB · deleted just now$/);
  assert.equal(await page.getAttribute('#tabs a[href="#/timeline"]', 'aria-current'), 'page');
  // A Restore the server does not answer says so where anyone can see it, and the item stays.
  await page.route('**/api/trash/*/restore', (route) => route.abort('connectionfailed'));
  await page.click('#trash-list li[data-name="Beach.mp4"] button[data-action="restore"]');
  await page.waitForSelector('#error-banner:not([hidden])');
  assert.match(await page.textContent('#error-banner'), /^Could not restore Beach\.mp4: the server could not be reached; check the connection and try again$/);
  assert.equal(await page.getAttribute('#error-banner', 'role'), 'alert');
  await page.unroute('**/api/trash/*/restore');
  // The browser logs the request refused on purpose above; it is no problem of the app's.
  const refused = problems.findIndex((p) => p.includes('ERR_CONNECTION_FAILED'));
  if (refused >= 0) problems.splice(refused, 1);
  await page.click('#trash-list li[data-name="Beach.mp4"] button[data-action="restore"]');
  await page.waitForSelector('#trash-empty:not([hidden])');
  await page.click('#tabs a[href="#/timeline"]');
  await page.waitForFunction(() => document.querySelectorAll('#timeline-days .tile').length === 2);
  assert.deepEqual(await tileNames(page), ['Beach.mp4', 'Party.mp4']);

  // Delete again, then Delete now: the first click only asks.
  await page.click('.tile[aria-label^="Party.mp4"]');
  await page.waitForSelector('#viewer-download:not([hidden])');
  await page.click('#viewer-delete');
  await page.waitForFunction(() => document.querySelectorAll('#timeline-days .tile').length === 1);
  await page.goto(`${server.url}/#/trash`);
  await page.waitForSelector('#trash-list li[data-name="Party.mp4"]');
  const purge = '#trash-list li[data-name="Party.mp4"] button[data-action="purge"]';
  await page.click(purge);
  assert.equal(await page.textContent(purge), 'Delete for good?');
  assert.equal((await api(server, '/api/trash')).items.length, 1, 'nothing purged on the first click');
  await page.click(purge);
  await page.waitForSelector('#trash-empty:not([hidden])');
  assert.equal((await api(server, '/api/trash')).items.length, 0);
  assert.deepEqual((await api(server, '/api/assets')).items.map((a) => a.originalFileName), ['Beach.mp4']);
  assert.deepEqual(problems, []);
});
