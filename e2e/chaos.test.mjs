// Fault injection: the real engine in Chromium backs up through ferry-chaos (the proxy in
// chaos/) to a real ferry-server, while the proxy fails requests, resets connections,
// swallows traffic in a black hole, and the test revokes the key or closes the browser.
// Each scenario ends with the same checks: the server's assets are byte-identical to the
// files (SHA-256 of the originals), no file is there twice, the upload sweep leaves no
// partial upload behind, and the engine's catalog agrees with the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { tempDir } from './support.mjs';
import {
  CHROMIUM, CHROMIUM_ARGS, KIB, MIB, sleep, startFerry, startChaos, makeFiles, openEngine, addFiles,
  waitForAll, waitForAssets, verify, launch, report, sql, serverAssets,
} from './chaos-support.mjs';
test('200 files through a proxy failing 10% of API requests: each file once, byte for byte', async (t) => {
  const ferry = await startFerry(t);
  const chaos = await startChaos(t, ferry, {
    failRate: 0.04, loseAnswerRate: 0.02, dropRequestRate: 0.02, dropResponseRate: 0.02, seed: 200,
  });
  const dir = tempDir(t);
  // Mostly photos sent whole at creation, and a few files of several chunks.
  const sizes = Array.from({ length: 200 }, (_, i) => (i % 25 === 0 ? 2 * MIB + i * 997 : 8 * KIB + i * 613));
  const files = makeFiles(dir, sizes);
  const browser = await launch(t);
  const page = await browser.newPage();
  await openEngine(page, chaos.url, ferry.apiKey, { chunkSize: MIB, requestTimeoutMs: 10_000 });
  const started = Date.now();
  await addFiles(page, files.map((f) => f.path));
  const catalog = await waitForAll(page, files.length, 240_000);
  const stats = await chaos.stats();
  const partial = await verify(ferry, files, catalog);
  report('10% failing', stats, files, { seconds: (Date.now() - started) / 1000, partialUploadsSwept: partial });
  assert.ok(stats.inScope > files.length, `the backup went through the proxy (${stats.inScope} requests)`);
  const faulted = Object.values(stats.failed).reduce((a, b) => a + b, 0) + stats.lostAnswers + stats.droppedRequests + stats.droppedResponses;
  assert.ok(faulted / stats.inScope > 0.05, `about 10% failed: ${faulted} of ${stats.inScope}`);
});

test('a connection reset on every 3rd chunk: uploads resume from the server offset', async (t) => {
  const ferry = await startFerry(t);
  const chaos = await startChaos(t, ferry, { methods: ['PATCH'], resetEvery: 3, resetAfterBytes: 300 * KIB, seed: 3 });
  const dir = tempDir(t);
  const files = makeFiles(dir, [6 * MIB + 1, 5 * MIB + 333, 4 * MIB, 3 * MIB + 7], 'VID_');
  const browser = await launch(t);
  const page = await browser.newPage();
  await openEngine(page, chaos.url, ferry.apiKey, { chunkSize: MIB, requestTimeoutMs: 10_000 });
  await addFiles(page, files.map((f) => f.path));
  const catalog = await waitForAll(page, files.length, 180_000);
  const stats = await chaos.stats();
  await verify(ferry, files, catalog);
  report('reset every 3rd chunk', stats, files);
  assert.ok(stats.resets >= 4, `chunks were reset (${stats.resets})`);
});

test('a black hole in the middle of a backup: requests caught in it time out and are retried', async (t) => {
  const ferry = await startFerry(t);
  const chaos = await startChaos(t, ferry, { bandwidth: 2 * MIB, seed: 30 });
  const dir = tempDir(t);
  const files = makeFiles(dir, Array.from({ length: 30 }, (_, i) => 200 * KIB + i * 4099));
  const browser = await launch(t);
  const page = await browser.newPage();
  // The hole lasts 8 s, not 30: what matters is that it outlasts the request timeout
  // (3 s plus 1 ms per 64 bytes), so every request caught in it is abandoned and retried
  // with backoff while the hole is still open; a longer hole only repeats that.
  await openEngine(page, chaos.url, ferry.apiKey, { requestTimeoutMs: 3_000 });
  await addFiles(page, files.map((f) => f.path));
  await waitForAssets(page, (all) => all.some((a) => a.status === 'uploaded'));
  await chaos.blackhole(8_000);
  const holeStarted = Date.now();
  const catalog = await waitForAll(page, files.length, 120_000);
  const stats = await chaos.stats();
  await verify(ferry, files, catalog);
  report('8 s black hole', stats, files, { secondsAfterHole: (Date.now() - holeStarted) / 1000 });
  assert.ok(stats.blackholed > 0, 'the black hole caught requests');
});

test('the server killed with SIGKILL 5 times during a backup and restarted: every file once, byte for byte', async (t) => {
  const ferry = await startFerry(t);
  const chaos = await startChaos(t, ferry, { bandwidth: 2 * MIB, seed: 5 });
  const dir = tempDir(t);
  const files = makeFiles(dir, Array.from({ length: 16 }, (_, i) => (i % 2 ? 2 * MIB + i * 4093 : 300 * KIB + i * 17)));
  const browser = await launch(t);
  const page = await browser.newPage();
  await openEngine(page, chaos.url, ferry.apiKey, { chunkSize: MIB, requestTimeoutMs: 10_000 });
  await addFiles(page, files.map((f) => f.path));
  const uploadedAtKill = [];
  await waitForAssets(page, (all) => all.some((a) => a.status === 'uploaded'));
  for (let i = 0; i < 5; i++) {
    await sleep(1_000);
    uploadedAtKill.push((await page.evaluate(() => window.backup.assets(1000))).filter((a) => a.status === 'uploaded').length);
    await ferry.kill();
    await sleep(400);
    await ferry.restart();
  }
  const catalog = await waitForAll(page, files.length, 180_000);
  const stats = await chaos.stats();
  await verify(ferry, files, catalog);
  report('server killed 5 times', stats, files, { uploadedAtKill, badGateway: stats.upstreamErrors });
  assert.ok(uploadedAtKill.at(-1) < files.length, 'the last kill came before the backup had finished');
});

test('an API key revoked mid-backup, then a new sign-in: the backup finishes, once', async (t) => {
  const ferry = await startFerry(t);
  // 2 MiB/s: the 14 MiB take about 7 s, so the revoke (two runs of the server's CLI)
  // lands mid-backup even on a slow machine.
  const chaos = await startChaos(t, ferry, { bandwidth: 2 * MIB, failRate: 0.05, seed: 401 });
  const dir = tempDir(t);
  const files = makeFiles(dir, Array.from({ length: 24 }, (_, i) => 512 * KIB + i * 7919));
  const browser = await launch(t);
  const page = await browser.newPage();
  await openEngine(page, chaos.url, ferry.apiKey, { requestTimeoutMs: 10_000 });
  await addFiles(page, files.map((f) => f.path));
  await waitForAssets(page, (all) => all.filter((a) => a.status === 'uploaded').length >= 3);

  const [keyId] = ferry.cli('key', 'list', 'chaos').trim().split('\n').slice(1).map((l) => l.split('\t')[0]);
  ferry.cli('key', 'revoke', keyId);
  await page.waitForFunction(() => window.backup.progress().reasonCode === 'auth', null, { timeout: 60_000 });
  const halted = await page.evaluate(() => window.backup.assets(1000));
  assert.equal(halted.filter((a) => a.status === 'failed').length, 0, 'nothing failed for the revoked key');
  assert.ok(halted.some((a) => a.status !== 'uploaded'), 'the key was revoked mid-backup');

  // Signing in again with the password gives a session token; the engine resumes with it.
  const login = await fetch(`${chaos.url}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'chaos', password: ferry.password }),
  });
  // The proxy may fail the sign-in too; ask again, as a person would.
  let token = login.ok ? (await login.json()).token : null;
  for (let i = 0; !token && i < 5; i++) {
    const again = await fetch(`${ferry.url}/api/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'chaos', password: ferry.password }),
    });
    if (again.ok) token = (await again.json()).token;
  }
  assert.ok(token, 'signed in again');
  await page.evaluate((token) => window.backup.signIn(token), token);
  const catalog = await waitForAll(page, files.length, 120_000);
  const stats = await chaos.stats();
  await verify(ferry, files, catalog, token);
  report('key revoked', stats, files);
});

test('the browser closed at random points, again and again, then reopened: nothing lost or doubled', async (t) => {
  const ferry = await startFerry(t);
  // The cap is shared by every connection: at 384 KiB/s the 18 MiB take over 48 s of
  // uploading, longer than the browser is open in all between the 20 closes (each 0.2-1.5 s
  // after the engine opened; under 30 s in all even on a loaded machine), so every close
  // falls mid-backup.
  const chaos = await startChaos(t, ferry, { bandwidth: 384 * KIB, failRate: 0.03, seed: 20 });
  // Closed before its profile directory is removed (hooks run in the order added), and
  // whichever context is open at the end, even if the test fails among the closes.
  let context;
  let page;
  t.after(() => context?.close());
  const dir = tempDir(t);
  const profile = join(tempDir(t, 'ferry-chaos-profile-'), 'chromium');
  mkdirSync(profile);
  const sizes = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? 1536 * KIB + i * 101 : 96 * KIB + i * 1009));
  const files = makeFiles(dir, sizes);
  const closes = Number(process.env.FERRY_CHAOS_CLOSES ?? 20);
  let seed = Number(process.env.FERRY_CHAOS_SEED ?? 1234);
  const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const open = async () => {
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = context.pages()[0] ?? await context.newPage();
    await openEngine(page, chaos.url, ferry.apiKey, { chunkSize: MIB, requestTimeoutMs: 10_000 });
    return { context, page };
  };
  ({ context, page } = await open());
  await addFiles(page, files.map((f) => f.path));
  const seen = [];
  for (let i = 0; i < closes; i++) {
    await sleep(200 + random() * 1_300);
    const progress = await page.evaluate(() => window.backup.assets(1000)).catch(() => []);
    seen.push(progress.filter((a) => a.status === 'uploaded').length);
    await context.close();
    ({ context, page } = await open());
  }
  const catalog = await waitForAll(page, files.length, 180_000);
  const stats = await chaos.stats();
  await verify(ferry, files, catalog);
  report(`browser closed ${closes} times`, stats, files, { uploadedAtEachClose: seen });
  assert.ok(seen.at(-1) < files.length, 'the last close came before the backup had finished');
});


/**
 * A 64 MiB tmpfs of its own, unmounted when `t` ends: a disk that really fills up
 * (ENOSPC from the kernel, for the blob files and for SQLite alike). Needs root.
 */
function smallDisk(t) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-chaos-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot mount a 64 MiB tmpfs at ${dir} (this scenario needs root): ${e.stderr ?? e.message}`);
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Writes zeros to `path` until the file system answers ENOSPC; returns the bytes written. */
function fillDisk(path) {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [MIB, 4 * KIB, 512]) {
      const zeros = Buffer.alloc(size);
      for (;;) {
        try {
          written += writeSync(fd, zeros);
        } catch (e) {
          if (e.code !== 'ENOSPC') throw e;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

test('the disk filling up during an upload, then freed: "the server is out of storage space", the queue kept, then every file once, by itself', async (t) => {
  const disk = smallDisk(t);
  const ferry = await startFerry(t, { data: join(disk, 'data') });
  // The cap keeps the backup going while the test fills the disk behind it.
  const chaos = await startChaos(t, ferry, { bandwidth: 4 * MIB, seed: 64 });
  const dir = tempDir(t);
  // 34 MiB of files: they fit the 64 MiB disk once it is freed, not once it is full.
  const files = makeFiles(dir, Array.from({ length: 10 }, (_, i) => (i % 2 ? 5 * MIB + i * 4099 : 1536 * KIB + i * 333)));
  const browser = await launch(t);
  const page = await browser.newPage();
  await openEngine(page, chaos.url, ferry.apiKey, { chunkSize: MIB, requestTimeoutMs: 10_000 });
  await addFiles(page, files.map((f) => f.path));
  await waitForAssets(page, (all) => all.some((a) => a.status === 'uploaded'));

  // Fill the disk behind the server's back, as another program would.
  const filler = join(disk, 'filler');
  const filled = fillDisk(filler);
  const freeWhenFull = statfsSync(disk).bavail * statfsSync(disk).bsize;
  await page.waitForFunction(() => window.backup.progress().reasonCode === 'storage-full', null, { timeout: 60_000, polling: 100 });
  const haltedAt = Date.now();
  const progress = await page.evaluate(() => window.backup.progress());
  assert.equal(progress.state, 'halted', 'the backup stopped');
  // The server's disk, not the user's quota: the person is told whose problem it is.
  assert.match(progress.reason, /^The server is out of storage space\. Your files are safe here and the backup will continue when space is freed; tell the server's admin\.$/);
  assert.doesNotMatch(progress.reason, /quota/i, 'a full disk is not called a full quota');
  // Nothing failed: every file not yet on the server is still queued, and stays so.
  await sleep(2_000);
  const halted = await page.evaluate(() => window.backup.assets(1000));
  assert.equal(halted.length, files.length);
  assert.deepEqual(halted.filter((a) => a.status === 'failed' || a.status === 'skipped').map((a) => [a.name, a.lastError]), [], 'nothing failed or was skipped');
  const waiting = halted.filter((a) => a.status !== 'uploaded' && a.status !== 'duplicate');
  assert.ok(waiting.length > 0, 'the disk filled mid-backup');
  assert.equal((await page.evaluate(() => window.backup.progress())).reasonCode, 'storage-full', 'it stays stopped while the disk is full');
  // It was the kernel's ENOSPC (507 storage-full), not a quota.
  assert.match(ferry.log(), /storage is full/, 'the server met a full disk');

  // Free the space, and touch nothing: the engine tries again by itself (15 s after it
  // stopped, then less and less often) and finishes the backup.
  unlinkSync(filler);
  const catalog = await waitForAll(page, files.length, 120_000);
  const resumedAfterMs = Date.now() - haltedAt;
  assert.ok(resumedAfterMs >= 14_000, `it waited before trying again (${resumedAfterMs} ms)`);
  const stats = await chaos.stats();
  await verify(ferry, files, catalog);
  report('disk full, then freed', stats, files, {
    fillerMiB: +(filled / MIB).toFixed(1), freeBytesWhenFull: freeWhenFull, waitingWhenFull: waiting.length, resumedAfterMs,
  });
});

test('the app tells a full server disk from a full quota, and goes on by itself once the disk has room', async (t) => {
  const disk = smallDisk(t);
  const ferry = await startFerry(t, { data: join(disk, 'data') });
  // A second user whose quota is smaller than their photo.
  const smallKey = ferry.cli('user', 'add', 'small', '--quota', String(100 * KIB)).trim().split('\n').at(-1).trim();
  const dir = tempDir(t);
  const [photo] = makeFiles(dir, [200 * KIB], 'QUOTA_');
  const files = makeFiles(dir, [300 * KIB, 2 * MIB + 4099], 'DISK_');
  const browser = await launch(t);
  const signIn = async (key) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(ferry.url);
    await page.fill('#api-key', key);
    await page.click('#key-form button[type="submit"]');
    await page.waitForSelector('body[data-ready="true"]');
    return page;
  };
  const card = (page) => page.evaluate(() => {
    const el = document.getElementById('status-card');
    return {
      state: el.dataset.state,
      halt: el.dataset.halt,
      title: document.getElementById('status-title').textContent,
      line: document.getElementById('status-count').textContent,
      tryAgain: !document.getElementById('quota-retry').hidden,
    };
  });
  const overQuota = await signIn(smallKey);
  const diskFull = await signIn(ferry.apiKey);

  // Over quota: the user's own storage, theirs to fix.
  await overQuota.setInputFiles('#files', [photo.path]);
  await overQuota.waitForFunction(() => document.getElementById('status-card').dataset.state === 'stopped', null, { timeout: 60_000 });
  const quota = await card(overQuota);
  assert.equal(quota.halt, 'quota');
  assert.equal(quota.title, 'Your storage quota is full');
  assert.match(quota.line, /^The backup stopped\. Nothing is lost: 1 file is still queued and will upload when there is space\. Delete some files or ask for a bigger quota\./);
  assert.doesNotMatch(quota.line, /admin|server is out/);

  // The server's disk full: the admin's to fix, and the person is told so.
  const filler = join(disk, 'filler');
  fillDisk(filler);
  await diskFull.setInputFiles('#files', files.map((f) => f.path));
  await diskFull.waitForFunction(() => document.getElementById('status-card').dataset.state === 'stopped', null, { timeout: 60_000 });
  const full = await card(diskFull);
  assert.equal(full.halt, 'storage-full');
  assert.equal(full.title, 'The server is out of storage space');
  assert.match(full.line, /^Your files are safe here and the backup will continue when space is freed; tell the server's admin\. [12] files? (is|are) still queued\./);
  assert.doesNotMatch(full.line, /quota/i);
  assert.ok(full.tryAgain, 'Try again is offered too');
  assert.notEqual(full.title, quota.title);
  // The quota user's page still says quota: each is told about their own problem.
  assert.equal((await card(overQuota)).title, 'Your storage quota is full');

  // Space freed, nobody clicks anything: the backup goes on by itself.
  unlinkSync(filler);
  await diskFull.waitForFunction(() => document.getElementById('status-card').dataset.state === 'done', null, { timeout: 90_000 });
  assert.equal((await card(diskFull)).title, 'Backup complete');
  const stored = new Map((await serverAssets(ferry, ferry.apiKey)).map((a) => [a.checksum, a.fileSize]));
  for (const f of files) assert.equal(stored.get(f.sha256), f.size, `${f.name} is on the server`);
  assert.equal(stored.size, files.length, 'each file once');
});

test('RUFH with answers cut after the server acted: a final append the browser sends again is no failure', async (t) => {
  // Chromium sends a request again by itself when a reused connection closes before any
  // answer: here the final append of an upload that the first one completed. RUFH answers
  // that 400 completed-upload, which is the upload done, not a refusal.
  const ferry = await startFerry(t);
  // Every other append reaches the server whole and acts; then its connection is reset
  // before any answer.
  const chaos = await startChaos(t, ferry, { resetEvery: 2, resetAfterBytes: 64 * MIB, methods: ['PATCH'], seed: 11 });
  const dir = tempDir(t);
  const files = makeFiles(dir, Array.from({ length: 8 }, (_, i) => 2 * MIB + 512 * KIB + i * 997), 'RUFH_');
  const browser = await launch(t);
  const page = await browser.newPage();
  await openEngine(page, chaos.url, ferry.apiKey, { protocol: 'rufh', chunkSize: MIB, requestTimeoutMs: 10_000 });
  await addFiles(page, files.map((f) => f.path));
  const catalog = await waitForAll(page, files.length, 120_000).catch((e) => {
    console.log(`server log:\n${ferry.log().split('\n').filter((l) => /bad request|broke off|completed upload|inconsistent|WARN|ERROR/.test(l)).slice(-30).join('\n')}`);
    throw e;
  });
  const stats = await chaos.stats();
  assert.ok(stats.resets > 3, `answers were lost (${stats.resets})`);
  await verify(ferry, files, catalog);
  report('RUFH, answers cut', stats, files);
});

test('an upload expiring while the client is offline: the engine makes a new upload, bytes correct', async (t) => {
  // Unfinished uploads expire 10 s after their last write (the default is a day). The
  // engine sizes chunks to take 2-5 s, so a live upload writes well within that.
  const ferry = await startFerry(t, { serve: ['--upload-expiry-secs', '10'] });
  const chaos = await startChaos(t, ferry, { bandwidth: 2 * MIB, seed: 7 });
  const dir = tempDir(t);
  const files = makeFiles(dir, [12 * MIB + 17, 9 * MIB + 4093, 300 * KIB], 'VID_');
  const browser = await launch(t);
  const context = await browser.newContext();
  const page = await context.newPage();
  await openEngine(page, chaos.url, ferry.apiKey, { chunkSize: MIB, requestTimeoutMs: 10_000 });
  await addFiles(page, files.map((f) => f.path));
  let inFlight;
  for (const deadline = Date.now() + 60_000; !inFlight; await sleep(100)) {
    assert.ok(Date.now() < deadline, 'an upload got under way');
    const all = await page.evaluate(() => window.backup.assets(1000));
    inFlight = all.find((a) => a.status === 'uploading' && a.uploadUrl && a.doneBytes >= 2 * MIB && a.doneBytes < a.size - 2 * MIB);
  }

  await context.setOffline(true);
  await page.waitForFunction(() => window.backup.progress().reasonCode === 'offline', null, { timeout: 15_000, polling: 100 });
  await sleep(12_000);
  // The server has let the upload go: 410 for whoever asks.
  const id = inFlight.uploadUrl.split('/').at(-1);
  const head = await fetch(`${ferry.url}/api/uploads/${id}`, {
    method: 'HEAD', headers: { 'x-api-key': ferry.apiKey, 'tus-resumable': '1.0.0' },
  });
  assert.equal(head.status, 410, `the upload of ${inFlight.name} expired while offline`);
  const offline = await page.evaluate(() => window.backup.assets(1000));
  assert.equal(offline.filter((a) => a.status === 'failed').length, 0, 'nothing failed offline');

  await context.setOffline(false);
  const catalog = await waitForAll(page, files.length, 120_000);
  const stats = await chaos.stats();
  // The expired upload never became an asset: the file came through a new upload.
  assert.equal(sql(ferry, `SELECT count(*) FROM uploads WHERE id = '${id}' AND asset_id IS NULL`), '1', 'the expired upload stayed unfinished');
  await verify(ferry, files, catalog);
  report('upload expired while offline', stats, files, { expired: { name: inFlight.name, doneBytes: inFlight.doneBytes, id } });
});
