// The walking skeleton end to end: files picked in the page are hashed in a worker,
// checked against the server, uploaded with tus, verified and stored by ferry-server,
// and remembered in IndexedDB across a reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, launchBrowser, pageProblems, randomFile, startServer, tempDir } from './support.mjs';

async function rowsByStatus(page) {
  return page.$$eval('#assets li', (rows) => rows.map((r) => ({
    name: r.dataset.name, status: r.dataset.status, text: r.textContent,
  })));
}

async function waitForStatus(page, status, count, problems) {
  try {
    await page.waitForFunction(
      ([s, n]) => document.querySelectorAll(`#assets li[data-status="${s}"]`).length === n,
      [status, count],
      { timeout: 90_000 },
    );
  } catch (e) {
    const rows = await rowsByStatus(page);
    throw new Error(`expected ${count} rows "${status}"; rows: ${JSON.stringify(rows)}; ${problems.join('; ')}`, { cause: e });
  }
}

test('picked files are hashed, uploaded, verified, deduplicated and remembered', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const dir = tempDir(t);
  const files = [
    randomFile(dir, 'empty.jpg', 0),
    randomFile(dir, 'holiday 🌅 <img src=x onerror=alert(1)>.jpg', 300 * 1024),
    randomFile(dir, 'clip.mp4', 20 * 1024 * 1024),
  ];
  const paths = files.map((f) => f.path);

  const page = await browser.newPage();
  const problems = pageProblems(page);
  const uploadRequests = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/uploads')) {
      const h = r.headers();
      uploadRequests.push({
        method: r.method(), url: r.url(), offset: Number(h['upload-offset']),
        withBody: h['content-type'] === 'application/offset+octet-stream', checksum: h['upload-checksum'],
      });
    }
  });

  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');

  // First backup: every file is uploaded.
  await page.setInputFiles('#files', paths);
  await waitForStatus(page, 'uploaded', 3, problems);

  const { items } = await api(server, '/api/assets');
  assert.equal(items.length, 3);
  for (const file of files) {
    const asset = items.find((a) => a.originalFileName === file.name);
    assert.ok(asset, `server lists ${file.name}`);
    assert.equal(asset.checksum, file.sha256, `server SHA-256 of ${file.name}`);
    assert.equal(asset.fileSize, file.size);
    const original = await fetch(`${server.url}/api/assets/${asset.id}/original`, {
      headers: { 'x-api-key': server.apiKey },
    });
    assert.ok(Buffer.from(await original.arrayBuffer()).equals(file.bytes), `bytes of ${file.name}`);
  }
  // One creation per file; the 0-byte file completes at creation and the 300 KiB one is
  // sent inside its creation request (creation-with-upload). The 20 MiB file's chunks
  // (8 MiB first, then adapted to the link) go in order from offset 0, no byte is sent
  // twice, and each carries its SHA-256 for the server to verify.
  const posts = uploadRequests.filter((r) => r.method === 'POST');
  assert.equal(posts.length, 3);
  assert.equal(posts.filter((r) => r.withBody).length, 1, 'one small file went up with its creation');
  assert.ok(posts.filter((r) => r.withBody).every((r) => r.checksum?.startsWith('sha256 ')));
  const patches = uploadRequests.filter((r) => r.method === 'PATCH');
  assert.ok(patches.every((r) => /^sha256 [A-Za-z0-9+/]{43}=$/.test(r.checksum)), 'every chunk carries a checksum');
  const byUpload = new Map();
  for (const r of patches) byUpload.set(r.url, [...(byUpload.get(r.url) ?? []), r]);
  assert.equal(byUpload.size, 1, 'only the 20 MiB file needed chunks');
  for (const [url, sent] of byUpload) {
    const offsets = sent.map((r) => r.offset);
    assert.equal(offsets[0], 0, `${url} starts at 0`);
    assert.ok(offsets.every((o, i) => i === 0 || o > offsets[i - 1]), `${url} offsets increase: ${offsets}`);
  }

  // The same files again, and a copy of one under a new name: the three keep their rows
  // (this browser backed them up), and the copy is hashed and found backed up already.
  // Nothing is sent.
  uploadRequests.length = 0;
  const copy = join(dir, 'holiday copy.jpg');
  copyFileSync(files[1].path, copy);
  await page.setInputFiles('#files', [...paths, copy]);
  await waitForStatus(page, 'duplicate', 1, problems);
  assert.deepEqual(uploadRequests, []);
  assert.deepEqual((await rowsByStatus(page)).map((r) => r.status).sort(), ['duplicate', 'uploaded', 'uploaded', 'uploaded']);
  assert.equal((await api(server, '/api/assets')).items.length, 3);

  // A hostile file name is shown as text, never run as markup.
  const hostile = (await rowsByStatus(page)).find((r) => r.name.includes('<img'));
  assert.ok(hostile.text.includes('<img src=x onerror=alert(1)>'));
  assert.equal(await page.$$eval('#assets img', (s) => s.length), 0);

  // A reload shows the same list from IndexedDB.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  const after = await rowsByStatus(page);
  assert.equal(after.length, 4);
  assert.equal(after.filter((r) => r.status === 'uploaded').length, 3);
  assert.equal(after.filter((r) => r.status === 'duplicate').length, 1);
  assert.deepEqual(problems, []);
});
