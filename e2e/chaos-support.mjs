// Plumbing of the fault-injection tests (chaos, soak, hostile files): a real ferry-server
// with a password user, ferry-chaos in front of it, the engine opened on the proxy's
// origin in Chromium, and `verify`, the checks every scenario ends with.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { endProcess, tempDir } from './support.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? join(ROOT, 'target/debug/ferry-server');
const CHAOS_BIN = process.env.FERRY_CHAOS_BIN ?? join(ROOT, 'target/debug/ferry-chaos');
const WWW = process.env.FERRY_WWW ?? join(ROOT, 'www');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
export const KIB = 1024;
export const MIB = 1024 * KIB;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * ferry-server with a user `chaos` who has a password. `options.data` is its data directory
 * (default: a new temporary one); `options.serve` are extra `serve` flags, kept across
 * restarts; `restart()` starts it again on the same address and data; `pid()` is the
 * running process's id.
 */
export async function startFerry(t, options = {}) {
  let proc;
  // Added before the data directory's removal, so the server is gone before it goes.
  t.after(() => endProcess(proc));
  const data = options.data ?? tempDir(t, 'ferry-chaos-data-');
  const serveArgs = options.serve ?? [];
  const password = 'correct horse battery staple';
  const cli = (...args) => execFileSync(SERVER_BIN, [...args, '--data', data], { encoding: 'utf8' });
  const apiKey = execFileSync(SERVER_BIN, ['user', 'add', 'chaos', '--password-stdin', '--data', data], {
    encoding: 'utf8', input: `${password}\n`,
  }).trim().split('\n').at(-1).trim();
  const listen = `127.0.0.1:${await freePort()}`;
  const url = `http://${listen}`;
  let log = '';
  const start = async (extra = []) => {
    proc = spawn(SERVER_BIN, ['serve', '--listen', listen, '--data', data, '--www', WWW, ...serveArgs, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.on('data', (d) => { log += d; });
    proc.stderr.on('data', (d) => { log += d; });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`ferry-server exited early:\n${log}`);
      try {
        if ((await fetch(`${url}/healthz`)).ok) return;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`ferry-server did not become ready:\n${log}`);
      await sleep(100);
    }
  };
  const stop = () => endProcess(proc, 'SIGTERM');
  const kill = () => endProcess(proc);
  await start();
  return { url, listen, apiKey, password, data, cli, stop, kill, restart: start, log: () => log, pid: () => proc.pid };
}

/** ferry-chaos in front of `ferry`, with `faults`; bounded to `maxSeconds` (10 minutes). */
export async function startChaos(t, ferry, faults, { maxSeconds = 600 } = {}) {
  const proc = spawn(CHAOS_BIN, ['--upstream', ferry.listen, '--faults', JSON.stringify(faults),
    '--max-seconds', String(maxSeconds), '--max-requests', '1000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => proc.kill('SIGKILL'));
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    proc.once('exit', (code) => reject(new Error(`ferry-chaos exited (${code}): ${err}`)));
  });
  const control = async (method, path, body) => {
    const res = await fetch(`${url}/__chaos/${path}`, { method, body: body && JSON.stringify(body) });
    assert.ok(res.ok, `${path}: ${res.status} ${await res.clone().text()}`);
    return res.json();
  };
  return {
    url,
    stats: () => control('GET', 'stats'),
    faults: (f) => control('PUT', 'faults', f),
    blackhole: (ms) => control('POST', `blackhole?ms=${ms}`),
  };
}

/** Writes `sizes.length` files of random bytes; returns `{ path, name, size, sha256 }`. */
export function makeFiles(dir, sizes, prefix = 'IMG_') {
  return sizes.map((size, i) => {
    const bytes = randomBytes(size);
    const name = `${prefix}${String(i).padStart(4, '0')}.jpg`;
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return { path, name, size, sha256: sha256(bytes) };
  });
}

/** Opens the engine on a page of the proxy's origin, so every API call goes through it. */
export async function openEngine(page, origin, apiKey, options = {}) {
  if (!page.url().startsWith(origin)) await page.goto(`${origin}/healthz`);
  await page.evaluate(async ({ apiKey, options }) => {
    const { default: init, Backup } = await import('/pkg/ferry.js');
    await init();
    window.backup = await Backup.open({
      apiKey, catalogName: 'chaos', hashWorkerUrl: '/hash-worker.js', ...options,
    });
  }, { apiKey, options });
}

export async function addFiles(page, paths) {
  await page.evaluate(() => {
    document.querySelector('#pick')?.remove();
    const input = Object.assign(document.createElement('input'), { type: 'file', multiple: true, id: 'pick' });
    document.body.append(input);
  });
  await page.setInputFiles('#pick', paths);
  return page.evaluate(() => window.backup.add(document.querySelector('#pick').files));
}

/**
 * Polls the catalog until `predicate(records)` holds, and returns the records. (Playwright's
 * `waitForFunction` cannot do this: it takes the Promise that `assets()` returns as truthy
 * and returns at once.)
 */
export async function waitForAssets(page, predicate, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  let all = [];
  for (;;) {
    all = await page.evaluate(() => window.backup.assets(100000)).catch(() => all);
    if (predicate(all)) return all;
    if (Date.now() > deadline) {
      throw new Error(`the catalog never got there: ${JSON.stringify(all.slice(0, 20).map((a) => [a.name, a.status, a.doneBytes, a.lastError]))}`);
    }
    await sleep(100);
  }
}

export async function waitForAll(page, count, timeout) {
  const deadline = Date.now() + timeout;
  let all = [];
  for (;;) {
    all = await page.evaluate(() => window.backup.assets(100000)).catch(() => all);
    const done = all.filter((a) => a.status === 'uploaded' || a.status === 'duplicate');
    if (all.length === count && done.length === count) return all;
    if (Date.now() > deadline) {
      const stuck = all.filter((a) => a.status !== 'uploaded' && a.status !== 'duplicate');
      throw new Error(`${done.length} of ${count} backed up; the rest: ${JSON.stringify(stuck.slice(0, 10).map((a) => [a.name, a.status, a.doneBytes, a.lastError]))}`);
    }
    await sleep(300);
  }
}

export async function serverAssets(ferry, key) {
  const items = [];
  let cursor = '';
  do {
    const res = await fetch(`${ferry.url}/api/assets?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
      headers: { 'x-api-key': key },
    });
    assert.equal(res.status, 200);
    const page = await res.json();
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/**
 * The promises every scenario keeps: each file is on the server once, byte for byte; the
 * catalog names the server's asset for each; and once uploads expire, the sweep leaves
 * none behind. Returns the count of partial uploads the faults had left for the sweep.
 */
export async function verify(ferry, files, catalog, key = ferry.apiKey) {
  const items = await serverAssets(ferry, key);
  const missing = files.filter((f) => !items.some((a) => a.checksum === f.sha256)).map((f) => {
    const record = catalog.find((r) => r.sha256 === f.sha256);
    return { name: f.name, size: f.size, status: record?.status, serverId: record?.serverId, uploadUrl: record?.uploadUrl };
  });
  assert.equal(items.length, files.length, `one asset per file: ${items.length} for ${files.length}; missing ${JSON.stringify(missing)}`);
  assert.equal(new Set(items.map((a) => a.checksum)).size, files.length, 'no checksum twice');
  const byChecksum = new Map(items.map((a) => [a.checksum, a]));
  for (const f of files) {
    const asset = byChecksum.get(f.sha256);
    assert.ok(asset, `the server has ${f.name}`);
    assert.equal(asset.fileSize, f.size, f.name);
    assert.equal(asset.originalFileName, f.name);
    const res = await fetch(`${ferry.url}/api/assets/${asset.id}/original`, { headers: { 'x-api-key': key } });
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), f.sha256, `stored bytes of ${f.name}`);
  }
  assert.equal(catalog.length, files.length, 'one catalog record per file');
  for (const record of catalog) {
    const asset = byChecksum.get(record.sha256);
    assert.ok(asset, `catalog ${record.name} (${record.sha256}) is on the server`);
    assert.equal(record.serverId, asset.id, `catalog ${record.name} names its server asset`);
    assert.equal(asset.originalFileName, record.name);
  }
  // Abandoned uploads (a creation whose answer was lost, say) wait for the expiry sweep,
  // 24 hours after their last write. Move every unfinished upload's expiry into the past,
  // as a day's wait would, and restart the server, which sweeps as it starts.
  await ferry.stop();
  const partial = Number(sql(ferry, 'UPDATE uploads SET expires_at = 1 WHERE asset_id IS NULL'));
  await ferry.restart();
  const deadline = Date.now() + 15_000;
  while (readdirSync(join(ferry.data, 'uploads')).length > 0 && Date.now() < deadline) await sleep(200);
  // A file left here that no upload row names is reported with what the catalog says of
  // it (a SIGKILL between making an upload's file and its row left one, before the row
  // came first).
  const left = readdirSync(join(ferry.data, 'uploads'));
  for (const id of left) {
    const row = sql(ferry, `SELECT count(*) || ' row(s), asset ' || coalesce(max(asset_id), 'none') FROM uploads WHERE id = '${id.replace(/[^0-9a-f]/g, '')}'`);
    console.log(`chaos: partial file ${id} left after the sweep (${row})`);
  }
  assert.deepEqual(left, [], 'no partial upload file after the sweep');
  assert.equal(sql(ferry, 'SELECT count(*) FROM uploads WHERE asset_id IS NULL'), '0', 'no unfinished upload after the sweep');
  assert.equal((await serverAssets(ferry, key)).length, files.length, 'the sweep kept every asset');
  return partial;
}

/** Runs one SQL statement on the stopped server's SQLite catalog (python3's sqlite3). */
export function sql(ferry, statement) {
  const script = 'import sqlite3, sys\n'
    + 'db = sqlite3.connect(sys.argv[1])\n'
    + 'cur = db.execute(sys.argv[2])\n'
    + 'row = cur.fetchone()\n'
    + 'db.commit()\n'
    + 'print(row[0] if row else cur.rowcount)\n';
  return execFileSync('python3', ['-c', script, join(ferry.data, 'ferry.sqlite'), statement], { encoding: 'utf8' }).trim();
}

export async function launch(t) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  // Bounded: a close that hangs (seen once after a failed 20-minute soak) must not hold
  // the hooks after it, which stop the server and the proxy.
  t.after(() => Promise.race([browser.close(), sleep(15_000)]));
  return browser;
}

export function report(name, stats, files, extra = {}) {
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const failed = Object.values(stats.failed).reduce((a, b) => a + b, 0);
  console.log(`chaos ${name}: ${stats.inScope} API requests, ${failed} error statuses, ${stats.lostAnswers} lost answers, `
    + `${stats.droppedRequests} dropped requests, ${stats.droppedResponses} dropped responses, ${stats.resets} resets, `
    + `${stats.blackholed} black-holed; sent ${(stats.uploadBytes / MIB).toFixed(1)} MiB for ${(bytes / MIB).toFixed(1)} MiB of files `
    + `(${((stats.uploadBytes - bytes) / MIB).toFixed(1)} MiB resent) ${JSON.stringify(extra)}`);
}

