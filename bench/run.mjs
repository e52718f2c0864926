// `cargo xtask bench [--quick]`: ferry against its peers, side by side, in one run, in
// Debian's Chromium (playwright-core, never a downloaded browser), on loopback only.
// Writes BENCHMARKS.md and bench/charts/*.svg, and prints the key figures.
//
// Env: FERRY_SERVER_BIN (release ferry-server), FERRY_WWW (www/ with pkg/), CHROMIUM.
import { existsSync, mkdtempSync, rmSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { chromium } from 'playwright-core';
import { Upload as NodeTusUpload } from 'tus-js-client';
import { seededBytes, seededFile, seededFiles } from './lib/files.mjs';
import { countingProxy, cpuSnapshot, cpuSpent, NPM, procMemory, rendererPids, startFerryServer, startTusHost } from './lib/servers.mjs';
import { median, writeReport } from './lib/report.mjs';
import { rendererMemoryParts } from './lib/memory-dump.mjs';

const QUICK = process.argv.includes('--quick');
const MIB = 1024 * 1024;
const CFG = QUICK
  ? { runs: 1, hash: [128, 128], small: [20, 5], large: [64], many: [100, 1], rerun: 1000, rerunRuns: 1, resume: 256, single: 128, memory: 256, ingest: [16, 8], budget: 190 }
  : { runs: 3, hash: [256, 256, 256, 256], small: [200, 5], large: [256, 256], many: [1000, 1], rerun: 10000, rerunRuns: 1, resume: 1024, single: 256, memory: 4096, ingest: [16, 64], budget: 840 };
const STARTED = Date.now();
const left = () => Number(process.env.BENCH_BUDGET ?? CFG.budget) * 1000 - (Date.now() - STARTED);
const log = (...a) => console.error(`[bench ${((Date.now() - STARTED) / 1000).toFixed(0).padStart(4)} s]`, ...a);

function withTimeout(promise, ms, label) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${label}: timed out after ${(ms / 1000).toFixed(0)} s`)), ms); }),
  ]);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const pageErrors = new Map();
const tmp = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
// The re-run test's two servers keep their data in memory where the machine has /dev/shm:
// its set-up (10,000 uploads from node, not a measured figure) is otherwise bound by the
// servers' fsyncs and ran out of time beside the memory test; the re-run itself measures
// the clients, which need the servers' answers, not their disks.
const memoryTmp = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/ferry-bench-') : tmp;
let browser;
async function cleanup() {
  await browser?.close().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
  rmSync(memoryTmp, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, async () => { await cleanup(); process.exit(130); });

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** A fresh context (own IndexedDB and localStorage) with one page at `url`. */
async function newPage(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = new Set();
  page.on('pageerror', (e) => {
    pageErrors.set(e.message, (pageErrors.get(e.message) ?? 0) + 1);
    if (!seen.has(e.message)) { seen.add(e.message); log(`pageerror: ${e.message}`); }
  });
  await page.goto(url);
  return { context, page };
}

/** Picks `paths` through a real file input (a new one each time). */
async function pick(page, paths) {
  await page.evaluate(() => {
    document.querySelector('#pick')?.remove();
    document.body.append(Object.assign(document.createElement('input'), { type: 'file', multiple: true, id: 'pick' }));
  });
  await page.setInputFiles('#pick', paths);
}

// ---------------------------------------------------------------------------------------
// In-page helpers (installed with page.evaluate).

/** Opens ferry's engine in the page and installs `window.benchAdd`. */
async function openEngine(page, options) {
  await page.evaluate(async (options) => {
    const { default: init, Backup } = await import('/pkg/ferry.js');
    await init();
    window.backup = await Backup.open({ hashWorkerUrl: '/hash-worker.js', ...options });
    window.benchState = new Map();
    window.benchErrors = [];
    window.benchSeen = {};
    window.backup.onChange((a) => {
      window.benchSeen[a.status] = (window.benchSeen[a.status] ?? 0) + 1;
      window.benchState.set(a.id, a.status);
      if (a.status === 'failed') window.benchErrors.push(`${a.name}: ${a.lastError}`);
      window.benchCheck?.('event', a.id);
    });
    // Adds the picked files; resolves with the page's elapsed ms once every new asset is in `statuses`.
    window.benchAdd = async (statuses) => {
      const longTasks = [];
      const observer = new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push(e.duration); });
      observer.observe({ type: 'longtask' });
      window.benchSeen = {};
      const t0 = performance.now();
      let ids = null;
      let resolve;
      const done = new Promise((r) => { resolve = r; });
      // The ids not yet in `statuses`; checked per change, so a 10,000-file run costs the
      // page O(changes), not O(changes × files).
      let open = null;
      window.benchCheck = (via = 'event', id = null) => {
        if (!open) return;
        const ready = (i) => statuses.includes(window.benchState.get(i));
        if (id === null) { for (const i of [...open]) if (ready(i)) open.delete(i); } else if (ready(id)) open.delete(id);
        if (open.size === 0) { window.benchVia = via; resolve(); }
      };
      ids = await window.backup.add(document.querySelector('#pick').files);
      open = new Set(ids);
      const tAdd = performance.now();
      window.benchCheck();
      const poll = setInterval(async () => {
        for (const a of await window.backup.assets(1e6)) window.benchState.set(a.id, a.status);
        window.benchCheck('poll');
      }, 5000);
      await done;
      const ms = performance.now() - t0;
      clearInterval(poll);
      observer.disconnect();
      return { ms, seen: window.benchSeen, addMs: tAdd - t0, via: window.benchVia, count: ids.length, longTasks: longTasks.length, longestTask: Math.max(0, ...longTasks) };
    };
  }, options);
}

async function installTus(page) {
  await page.addScriptTag({ url: '/vendor/tus-js-client/dist/tus.min.js' });
  await page.evaluate(() => {
    const pool = async (items, n, fn) => {
      let i = 0;
      await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await fn(items[i++]); }));
    };
    const options = (file, endpoint, resolve, reject) => ({
      endpoint, metadata: { filename: file.name, filetype: file.type }, onError: reject, onSuccess: resolve,
    });
    // Fresh upload of every picked file, `n` at a time, tus-js-client's defaults otherwise.
    window.tusUploadAll = async (endpoint, n) => {
      const longTasks = [];
      const observer = new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push(e.duration); });
      observer.observe({ type: 'longtask' });
      const files = [...document.querySelector('#pick').files];
      const t0 = performance.now();
      await pool(files, n, (file) => new Promise((resolve, reject) => {
        new tus.Upload(file, options(file, endpoint, resolve, reject)).start();
      }));
      observer.disconnect();
      return { ms: performance.now() - t0, count: files.length, longTasks: longTasks.length, longestTask: Math.max(0, ...longTasks) };
    };
    // The documented resume pattern: findPreviousUploads, resumeFromPreviousUpload, start.
    window.tusResumeAll = async (endpoint, n) => {
      const files = [...document.querySelector('#pick').files];
      let resumed = 0;
      const t0 = performance.now();
      await pool(files, n, (file) => new Promise((resolve, reject) => {
        const upload = new tus.Upload(file, options(file, endpoint, resolve, reject));
        upload.findPreviousUploads().then((previous) => {
          if (previous.length) { resumed += 1; upload.resumeFromPreviousUpload(previous[0]); }
          upload.start();
        }, reject);
      }));
      return { ms: performance.now() - t0, count: files.length, resumed };
    };
  });
}

// ---------------------------------------------------------------------------------------
// 1. Hashing.

async function benchHashing(host, files, results) {
  const { context, page } = await newPage(`${host.url}/bench/blank.html`);
  try {
    await pick(page, files.map((f) => f.path));
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    results.cores = cores;
    const systems = [
      ['ferry, 1 worker', '/bench/ferry-hash-worker.js', 1],
      [`ferry, pool of ${cores}`, '/bench/ferry-hash-worker.js', cores],
      ['hash-wasm, 1 worker', '/bench/hashwasm-worker.js', 1],
      ['WebCrypto digest, 1 worker', '/bench/webcrypto-worker.js', 1],
    ];
    for (let run = 0; run < CFG.runs; run++) {
      // Rotate the order, so no system always gets the coldest or warmest page cache.
      for (let k = 0; k < systems.length; k++) {
        const [name, url, n] = systems[(k + run) % systems.length];
        const out = await withTimeout(page.evaluate(async ({ url, n }) => {
          const files = [...document.querySelector('#pick').files];
          const workers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
            const w = new Worker(url, { type: 'module' });
            w.onerror = (e) => reject(new Error(`worker ${url}: ${e.message}`));
            w.onmessage = ({ data }) => { if (data.ready) resolve(w); };
          })));
          const ask = (w, file) => new Promise((resolve, reject) => {
            w.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data));
            w.postMessage({ file });
          });
          // Warm up each worker (wasm compile, JIT) on 4 MiB first.
          for (const w of workers) await ask(w, files[0].slice(0, 4 * 1024 * 1024));
          const hexes = new Array(files.length);
          let next = 0;
          const t0 = performance.now();
          await Promise.all(workers.map(async (w) => {
            while (next < files.length) {
              const i = next++;
              hexes[i] = (await ask(w, files[i])).hex;
            }
          }));
          const ms = performance.now() - t0;
          for (const w of workers) w.terminate();
          return { ms, hexes, bytes: files.reduce((s, f) => s + f.size, 0) };
        }, { url, n }), 240_000, `hashing ${name}`);
        const wrong = out.hexes.findIndex((h, i) => h !== files[i].sha256);
        if (wrong >= 0) throw new Error(`${name} hashed ${files[wrong].name} to ${out.hexes[wrong]}, expected ${files[wrong].sha256}`);
        const mbps = out.bytes / MIB / (out.ms / 1000);
        (results.hashing[name] ??= []).push(mbps);
        log(`hashing run ${run + 1}: ${name.padEnd(28)} ${mbps.toFixed(0)} MiB/s`);
      }
    }
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------------------------------
// 2 + 5. Fresh backup wall time, with memory sampled over time.

function sampler(page, serverPid) {
  const samples = [];
  let stop = false;
  let pids = rendererPids();
  const t0 = Date.now();
  const loop = (async () => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    while (!stop) {
      let heap = 0;
      try {
        const { metrics } = await cdp.send('Performance.getMetrics');
        heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
      } catch { /* page navigating */ }
      if (samples.length % 20 === 0) pids = rendererPids();
      const renderer = pids.reduce((s, p) => s + procMemory(p).rss, 0);
      samples.push({ t: (Date.now() - t0) / 1000, renderer, heap, server: procMemory(serverPid).rss });
      await sleep(250);
    }
    await cdp.detach().catch(() => {});
  })();
  return { samples, stop: async () => { stop = true; await loop; } };
}

const FRESH_SYSTEMS = ['ferry → ferry-server', 'ferry → @tus/server', 'tus-js-client → @tus/server', 'Uppy + @uppy/tus → @tus/server'];

/**
 * One backup of `paths` by `system` into a fresh server and browser context: its wall
 * time, long tasks, memory and CPU go into `results.fresh` (section 2), or into `into`.
 */
async function freshRun(system, paths, totalBytes, run, results, into = results.fresh) {
  const onFerry = system === 'ferry → ferry-server';
  const server = onFerry ? await startFerryServer(tmp) : await startTusHost(tmp);
  const { context, page } = await newPage(onFerry ? `${server.url}/healthz` : `${server.url}/bench/blank.html`);
  try {
    if (system.startsWith('ferry')) {
      await openEngine(page, onFerry
        ? { apiKey: server.apiKey, catalogName: `bench-fresh-${run}` }
        : { apiKey: 'bench', catalogName: `bench-fresh-${run}`, tusEndpoint: server.tusEndpoint, dedup: false });
    } else if (system.startsWith('tus-js-client')) {
      await installTus(page);
    } else {
      await page.addScriptTag({ url: '/vendor/uppy/dist/uppy.min.js' });
    }
    await pick(page, paths);
    await sleep(500);
    const mem = sampler(page, server.pid);
    await sleep(750); // idle baseline
    let out;
    const cpuBefore = cpuSnapshot();
    try {
      const timeout = Math.max(30_000, Math.min(300_000, left() - 60_000));
      if (system.startsWith('ferry')) {
        out = await withTimeout(page.evaluate(() => window.benchAdd(['uploaded'])), timeout, system);
        const errors = await page.evaluate(() => window.benchErrors);
        if (errors.length) throw new Error(`${system}: ${errors.slice(0, 3).join('; ')}`);
      } else if (system.startsWith('tus-js-client')) {
        out = await withTimeout(page.evaluate((e) => window.tusUploadAll(e, 3), server.tusEndpoint), timeout, system);
      } else {
        out = await withTimeout(page.evaluate(async (endpoint) => {
          const longTasks = [];
          const observer = new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push(e.duration); });
          observer.observe({ type: 'longtask' });
          const uppy = new Uppy.Uppy({ autoProceed: false });
          uppy.use(Uppy.Tus, { endpoint });
          const files = [...document.querySelector('#pick').files];
          const t0 = performance.now();
          uppy.addFiles(files.map((f) => ({ name: f.name, type: f.type, data: f, source: 'Local', isRemote: false })));
          const result = await uppy.upload();
          observer.disconnect();
          if (result.failed.length) throw new Error(`Uppy: ${result.failed.length} failed: ${result.failed[0].error}`);
          return { ms: performance.now() - t0, count: result.successful.length, longTasks: longTasks.length, longestTask: Math.max(0, ...longTasks), version: Uppy.Uppy.VERSION };
        }, server.tusEndpoint), timeout, system);
        results.uppyVersion = out.version;
      }
    } finally {
      await mem.stop();
    }
    const cpu = cpuSpent(cpuBefore, cpuSnapshot());
    if (out.count !== paths.length) throw new Error(`${system}: ${out.count} of ${paths.length} files`);
    if (onFerry) {
      const res = await fetch(`${server.url}/api/assets?limit=1000`, { headers: { 'x-api-key': server.apiKey } });
      const n = (await res.json()).items.length;
      if (n !== paths.length) throw new Error(`ferry-server holds ${n} assets, expected ${paths.length}`);
    }
    const r = (into[system] ??= { wall: [], mbps: [], longTasks: [], longestTask: [], rendererPeak: [], rendererIdle: [], heapPeak: [], serverPeak: [], cpu: [] });
    const idle = mem.samples.slice(0, 3);
    r.wall.push(out.ms / 1000);
    r.mbps.push(totalBytes / MIB / (out.ms / 1000));
    r.longTasks.push(out.longTasks);
    r.longestTask.push(out.longestTask);
    r.rendererIdle.push(Math.min(...idle.map((s) => s.renderer)));
    r.rendererPeak.push(Math.max(...mem.samples.map((s) => s.renderer)));
    r.heapPeak.push(Math.max(...mem.samples.map((s) => s.heap)));
    r.serverPeak.push(procMemory(server.pid).hwm);
    r.cpu.push(cpu);
    if (run === 0 && into === results.fresh) results.memory[system] = mem.samples;
    log(`${into === results.fresh ? 'fresh' : `${paths.length} files`} run ${run + 1}: ${system.padEnd(32)} ${(out.ms / 1000).toFixed(1)} s${out.via ? ` (${out.via})` : ''}, ${(totalBytes / MIB / (out.ms / 1000)).toFixed(0)} MiB/s, renderer peak ${(r.rendererPeak.at(-1) / MIB).toFixed(0)} MiB, server peak ${(r.serverPeak.at(-1) / MIB).toFixed(0)} MiB, CPU s ${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
  } finally {
    await context.close();
    await server.close();
  }
}

// ---------------------------------------------------------------------------------------
// 3. Re-run over files already backed up.
//
// Backing up 10,000 files through a browser once per system, before the timed re-runs,
// took longer than the whole command may (both set-ups timed out inside the budget). So
// the server side of the set-up is done from node: tus-js-client uploads every file to the
// system's server, 16 at a time. What each browser remembers is then made by the system
// itself: ferry backs the files up in a fresh catalog (all duplicates by checksum: the
// "new device" path, timed as its own figure), and tus-js-client's resume records are
// written with its own fingerprint function and URL storage, exactly as a finished
// `tus.Upload` leaves them. The timed re-runs then run alone, one after the other.

/** Uploads each of `paths` from node with tus-js-client, 16 at a time; returns the upload URLs by file name. */
async function nodeUploadAll(endpoint, headers, paths) {
  const urls = new Map();
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < paths.length) {
      const path = paths[next++];
      const name = path.split('/').at(-1);
      const body = readFileSync(path);
      await new Promise((resolve, reject) => {
        const upload = new NodeTusUpload(body, {
          endpoint, headers, retryDelays: [500, 2000], uploadDataDuringCreation: true,
          metadata: { filename: name, filetype: 'image/jpeg' },
          onSuccess: () => { urls.set(name, upload.url); resolve(); },
          onError: reject,
        });
        upload.start();
      });
    }
  }));
  return urls;
}

async function benchRerunFerry(paths, results, gate) {
  const server = await startFerryServer(memoryTmp);
  let context;
  const counts = { checks: 0, patches: 0, creations: 0 };
  const r = (results.rerun.ferry = { rerun: [] });
  try {
    const t0 = Date.now();
    await withTimeout(nodeUploadAll(`${server.url}/api/uploads`, { 'x-api-key': server.apiKey }, paths), Math.max(180_000, left() - 200_000), 'uploading the small files to ferry-server from node');
    r.seed = (Date.now() - t0) / 1000;
    log(`re-run: ${paths.length} files uploaded to ferry-server from node in ${r.seed.toFixed(1)} s (set-up)`);
    // The new-device pass and the re-run run alone: beside the memory and resume tests the
    // new-device pass took 136 s, not 30, and its tasks were long by the clock (16 over
    // 50 ms, none alone), waiting for a core those tests held.
    await gate;
    const opened = await newPage(`${server.url}/healthz`);
    context = opened.context;
    const { page } = opened;
    page.on('request', (q) => {
      if (q.url().endsWith('/bulk-upload-check')) counts.checks += 1;
      if (q.method() === 'PATCH') counts.patches += 1;
      if (q.method() === 'POST' && q.url().endsWith('/api/uploads')) counts.creations += 1;
    });
    const options = { apiKey: server.apiKey, catalogName: 'bench-rerun' };
    await openEngine(page, options);
    await pick(page, paths);
    let before = { ...counts };
    const first = await withTimeout(page.evaluate(() => window.benchAdd(['duplicate', 'uploaded'])), Math.max(120_000, left() - 150_000), 'ferry on a new device');
    r.first = first.ms / 1000;
    r.firstSeen = first.seen;
    r.firstLongTasks = first.longTasks;
    r.firstLongestTask = first.longestTask;
    r.firstRequests = { checks: counts.checks - before.checks, patches: counts.patches - before.patches, creations: counts.creations - before.creations };
    log(`re-run: ferry on a new device, ${paths.length} files already on the server: ${r.first.toFixed(1)} s (${JSON.stringify(r.firstRequests)}; changes ${JSON.stringify(first.seen)})`);
    for (let run = 0; run < CFG.rerunRuns; run++) {
      await page.reload();
      await openEngine(page, options);
      await pick(page, paths);
      before = { ...counts };
      const out = await withTimeout(page.evaluate(() => window.benchAdd(['duplicate', 'uploaded'])), Math.max(30_000, Math.min(300_000, left() / 2)), 'ferry re-run');
      r.rerun.push(out.ms / 1000);
      r.addMs = out.addMs;
      r.seen = out.seen;
      r.requests = { checks: counts.checks - before.checks, patches: counts.patches - before.patches, creations: counts.creations - before.creations };
      log(`re-run ${run + 1}: ferry ${(out.ms / 1000).toFixed(2)} s, add() resolved after ${(out.addMs / 1000).toFixed(2)} s (${JSON.stringify(r.requests)}; changes ${JSON.stringify(out.seen)})`);
    }
  } finally {
    await context?.close();
    await server.close();
  }
}

async function benchRerunTus(paths, results, browserGate, gate, setUpDone) {
  const host = await startTusHost(memoryTmp);
  let context;
  const heads = { n: 0 };
  const r = (results.rerun.tus = { rerun: [] });
  try {
    const t0 = Date.now();
    const urls = await withTimeout(nodeUploadAll(host.tusEndpoint, {}, paths), Math.max(180_000, left() - 200_000), 'uploading the small files to @tus/server from node');
    r.seed = (Date.now() - t0) / 1000;
    log(`re-run: ${paths.length} files uploaded to @tus/server from node in ${r.seed.toFixed(1)} s (set-up)`);
    await browserGate;
    const opened = await newPage(`${host.url}/bench/blank.html`);
    context = opened.context;
    const { page } = opened;
    page.on('request', (q) => { if (q.method() === 'HEAD') heads.n += 1; });
    await installTus(page);
    await pick(page, paths);
    // What a finished tus.Upload stores (upload.js, _saveUploadInUrlStorage), through
    // tus-js-client's own fingerprint and URL storage.
    const stored = await page.evaluate(async ({ endpoint, urls }) => {
      const { fingerprint, urlStorage } = tus.defaultOptions;
      let n = 0;
      for (const file of document.querySelector('#pick').files) {
        const fp = await fingerprint(file, { endpoint });
        await urlStorage.addUpload(fp, { size: file.size, metadata: { filename: file.name, filetype: file.type }, creationTime: new Date().toString(), uploadUrl: urls[file.name] });
        n += 1;
      }
      return n;
    }, { endpoint: host.tusEndpoint, urls: Object.fromEntries(urls) });
    if (stored !== paths.length) throw new Error(`stored ${stored} of ${paths.length} tus resume records`);
    setUpDone();
    await gate;
    for (let run = 0; run < CFG.rerunRuns; run++) {
      await page.reload();
      await installTus(page);
      await pick(page, paths);
      const before = heads.n;
      const limit = Math.max(20_000, Math.min(300_000, left() - 20_000));
      const t1 = Date.now();
      try {
        const out = await withTimeout(page.evaluate((e) => window.tusResumeAll(e, 3), host.tusEndpoint), limit, 'tus-js-client re-run');
        if (out.resumed !== paths.length) throw new Error(`tus-js-client found ${out.resumed} of ${paths.length} previous uploads`);
        r.rerun.push(out.ms / 1000);
        r.heads = heads.n - before;
        log(`re-run ${run + 1}: tus-js-client ${(out.ms / 1000).toFixed(2)} s (${r.heads} HEADs)`);
      } catch (e) {
        if (!/timed out/.test(e.message)) throw e;
        r.timedOut = (Date.now() - t1) / 1000;
        log(`re-run ${run + 1}: tus-js-client still running after ${r.timedOut.toFixed(0)} s; stopped`);
        break;
      }
    }
  } finally {
    await context?.close();
    await host.close();
  }
}

// ---------------------------------------------------------------------------------------
// 4. Resume waste: reload at 50 % of a large upload.

async function resumeRun(system, file, results) {
  const onFerry = system === 'ferry → ferry-server';
  const server = onFerry ? await startFerryServer(tmp) : await startTusHost(tmp);
  const proxy = await countingProxy(server.url);
  const { context, page } = await newPage(onFerry ? `${proxy.url}/healthz` : `${proxy.url}/bench/blank.html`);
  const patches = [];
  const acked = [];
  page.on('request', (r) => { if (r.method() === 'PATCH') patches.push(Number(r.headers()['upload-offset'])); });
  page.on('response', (r) => {
    const offset = r.headers()['upload-offset'];
    if (r.request().method() === 'PATCH' && r.status() === 204 && offset) acked.push(Number(offset));
  });
  const endpoint = `${proxy.url}/files`;
  const options = { apiKey: server.apiKey ?? 'bench', catalogName: 'bench-resume' };
  try {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const throttle = (bps) => cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bps });
    if (onFerry) await openEngine(page, options); else await installTus(page);
    await pick(page, [file.path]);
    // Throttled so that the reload lands close to the half.
    await throttle(QUICK ? 48 * MIB : 96 * MIB);
    if (onFerry) {
      await page.evaluate(() => { window.benchAdd(['uploaded']); });
    } else {
      await page.evaluate((endpoint) => {
        const file = document.querySelector('#pick').files[0];
        new tus.Upload(file, { endpoint, metadata: { filename: file.name, filetype: file.type } }).start();
      }, endpoint);
    }
    const deadline = Date.now() + 120_000;
    while (proxy.counter.uploadBody < file.size / 2) {
      if (Date.now() > deadline) throw new Error(`${system}: the upload did not reach half in 120 s (${proxy.counter.uploadBody} bytes)`);
      await sleep(10);
    }
    const atReload = proxy.counter.uploadBody;
    const ackedBefore = Math.max(0, ...acked);
    const sentBefore = patches.length;
    await page.reload();
    await throttle(-1);
    let resumed;
    if (onFerry) {
      await openEngine(page, options);
      await openEngine(page, options);
      // The engine resumes by itself when the browser kept the File in IndexedDB; when it
      // did not, the asset says "Add it again to continue where its backup stopped", so the
      // file is picked again, as tus-js-client's is.
      await sleep(1000);
      const before = await page.evaluate(() => window.backup.assets(10));
      resumed = { repicked: before[0]?.status === 'skipped' };
      if (resumed.repicked) {
        await pick(page, [file.path]);
        await withTimeout(page.evaluate(() => window.benchAdd(['uploaded', 'duplicate'])), 180_000, `${system} after reload`);
      } else {
        await withTimeout((async () => {
          for (;;) {
            const all = await page.evaluate(() => window.backup.assets(10));
            if (all.every((a) => a.status === 'uploaded')) return;
            if (all[0]?.status === 'failed') throw new Error(`ferry: ${all[0].lastError}`);
            await sleep(100);
          }
        })(), 180_000, `${system} after reload`);
      }
      const statuses = (await page.evaluate(() => window.backup.assets(10))).map((a) => a.status);
      if (!statuses.includes('uploaded')) throw new Error(`ferry after reload: ${statuses}`);
    } else {
      await installTus(page);
      await pick(page, [file.path]);
      resumed = await withTimeout(page.evaluate((e) => window.tusResumeAll(e, 1), endpoint), 180_000, `${system} after reload`);
      if (resumed.resumed !== 1) throw new Error('tus-js-client did not find its previous upload');
    }
    const resumeOffset = patches[sentBefore];
    // ferry's chunks adapt (8 MiB first, up to 64 MiB): the chunk in flight at the reload is
    // about the size of the one before it.
    const chunk = onFerry && sentBefore >= 2 ? patches[sentBefore - 1] - patches[sentBefore - 2] : null;
    const wire = proxy.counter.uploadBody;
    const r = (results.resume[system] ??= []);
    r.push({ atReload, ackedBefore: onFerry ? ackedBefore : null, resumeOffset, wire, twice: wire - file.size, size: file.size, chunk, repicked: resumed?.repicked ?? true });
    log(`resume: ${system.padEnd(30)} reload at ${(atReload / MIB).toFixed(0)} MiB sent; resumed at ${(resumeOffset / MIB).toFixed(1)} MiB; bytes sent twice ${((wire - file.size) / MIB).toFixed(2)} MiB`);
  } finally {
    await context.close();
    await proxy.close();
    await server.close();
  }
}

// ---------------------------------------------------------------------------------------

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    cores: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    ram: Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0) * 1024,
    load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    node: process.version,
    commit: (() => {
      try {
        const root = new URL('..', import.meta.url).pathname;
        const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
        const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'server', 'www', 'Cargo.toml', 'Cargo.lock'], { cwd: root, encoding: 'utf8' }).trimEnd();
        return dirty ? `${head} with uncommitted changes to ${[...new Set(dirty.split('\n').map((l) => l.slice(3).split('/')[0]))].join(', ')}` : head;
      } catch { return 'unknown'; }
    })(),
  };
}

// What a site that embeds ferry downloads: the npm package's files, as published.
function sizes() {
  const nm = new URL('./node_modules/', import.meta.url).pathname;
  const gz = (paths) => paths.reduce((s, p) => s + gzipSync(readFileSync(p), { level: 9 }).length, 0);
  const raw = (paths) => paths.reduce((s, p) => s + statSync(p).size, 0);
  const engine = ['index.js', 'ferry.js', 'ferry_bg.wasm', 'hash-worker.js'].map((p) => join(NPM, p));
  const element = [...engine, join(NPM, 'element.js')];
  const tus = [join(nm, 'tus-js-client/dist/tus.min.js')];
  const uppy = [join(nm, 'uppy/dist/uppy.min.js')];
  return {
    'ferry engine (index.js + ferry.js + ferry_bg.wasm + hash-worker.js)': { raw: raw(engine), gzip: gz(engine) },
    'ferry engine + <ferry-uploader> (element.js)': { raw: raw(element), gzip: gz(element) },
    'tus-js-client (tus.min.js)': { raw: raw(tus), gzip: gz(tus) },
    'Uppy, all plugins (uppy.min.js)': { raw: raw(uppy), gzip: gz(uppy) },
  };
}

// Cold start: from the first byte of script requested to an uploader ready to take files,
// in a fresh context each time (nothing cached: the host sends no-store). ferry's figure
// includes compiling the wasm and opening its IndexedDB catalog; the peers have neither.
// ---------------------------------------------------------------------------------------
// One large new file: is hashing it overlapped with sending it?

/**
 * ferry sends a large file whose size the server does not know while hashing it. A file of
 * a size the server does know is hashed first and sent after: that is the sequential path,
 * so the same run measures both on the same server. Each run backs up two new files of
 * one size: the first goes the overlapped way, the second (its size now known) the
 * sequential way. The hash alone is timed too, in a worker, as the engine hashes.
 */
async function benchLargeFile(files, results, { key = 'single', uplink } = {}) {
  const r = (results[key] = { mib: CFG.single, uplink, overlapped: [], sequential: [], hash: [], cpuOverlapped: [], cpuSequential: [] });
  for (let run = 0; run < CFG.runs; run++) {
    const [first, second] = [0, 1].map((k) => seededFile(join(files, 'single'), `CLIP_${run}_${k}.mp4`, CFG.single * MIB, 300 + 2 * run + k));
    const server = await startFerryServer(tmp);
    try {
      for (const [k, file] of [first, second].entries()) {
        const { context, page } = await newPage(`${server.url}/healthz`);
        try {
          await openEngine(page, { apiKey: server.apiKey, catalogName: `bench-${key}-${run}-${k}` });
          if (uplink) {
            const cdp = await context.newCDPSession(page);
            await cdp.send('Network.enable');
            await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: uplink });
          }
          await pick(page, [file.path]);
          const cpuBefore = cpuSnapshot();
          const out = await withTimeout(page.evaluate(() => window.benchAdd(['uploaded'])), 300_000, 'one large file');
          (k === 0 ? r.overlapped : r.sequential).push(out.ms / 1000);
          (k === 0 ? r.cpuOverlapped : r.cpuSequential).push(cpuSpent(cpuBefore, cpuSnapshot()));
          if (k === 0) {
            r.hash.push(await page.evaluate(async () => {
              const worker = new Worker('/hash-worker.js', { type: 'module' });
              // Its first message is the page's compiled module, or none: then it loads the wasm itself.
              worker.postMessage({});
              await new Promise((res) => { worker.onmessage = (e) => e.data?.ready && res(); });
              const t0 = performance.now();
              await new Promise((res, rej) => {
                worker.onmessage = (e) => { if (e.data?.digest) res(); else if (e.data?.error) rej(new Error(e.data.error)); };
                worker.postMessage({ id: 1, blob: document.querySelector('#pick').files[0] });
              });
              worker.terminate();
              return (performance.now() - t0) / 1000;
            }));
          }
        } finally {
          await context.close();
        }
      }
    } finally {
      await server.close();
    }
    rmSync(join(files, 'single'), { recursive: true, force: true });
    const cpu = (c) => Object.entries(c).map(([kind, sec]) => `${kind} ${sec.toFixed(1)}`).join(', ');
    log(`one ${CFG.single} MiB file${uplink ? ` over ${uplink * 8 / 1e9} Gbit/s` : ''}, run ${run + 1}: overlapped ${r.overlapped.at(-1).toFixed(1)} s (CPU s: ${cpu(r.cpuOverlapped.at(-1))}), hashed first ${r.sequential.at(-1).toFixed(1)} s (${cpu(r.cpuSequential.at(-1))}), hash alone ${r.hash.at(-1).toFixed(1)} s`);
  }
}

/**
 * What it costs Chromium to send bytes a worker has already read, against sending a `Blob`
 * slice of the file (which the browser process reads from disk again). One new file of
 * `CFG.single` MiB goes to a node sink in `PATCH`es of 16 MiB (ferry's checksummed chunk),
 * three ways, once each: the worker reads and digests each chunk (as ferry's does for
 * its `Upload-Checksum`), then the page sends (a) a `Blob` slice of the file, (b) the
 * worker's `ArrayBuffer`, transferred to the page, (c) a `new Blob([buffer])` of it.
 * It tells whether reading each byte once for both the hash and the upload would pay.
 */
async function benchUploadBodies(files, results) {
  const file = seededFile(join(files, 'bodies'), 'BODY_TEST.mp4', CFG.single * MIB, 500);
  const chunk = 16 * MIB;
  const page = `<!doctype html><input type=file id=pick><script>
const worker = new Worker(URL.createObjectURL(new Blob([\`onmessage = async (e) => {
  const { file, start, end, transfer } = e.data;
  const buffer = await file.slice(start, end).arrayBuffer();
  await crypto.subtle.digest('SHA-256', buffer);
  if (transfer) postMessage({ buffer }, [buffer]); else postMessage({});
};\`])));
const ask = (m) => new Promise((r) => { worker.onmessage = (e) => r(e.data); worker.postMessage(m); });
window.sendAll = async (body, chunk) => {
  const file = document.getElementById('pick').files[0];
  const t0 = performance.now();
  for (let start = 0; start < file.size; start += chunk) {
    const end = Math.min(file.size, start + chunk);
    const { buffer } = await ask({ file, start, end, transfer: body !== 'slice' });
    const sent = body === 'slice' ? file.slice(start, end) : body === 'buffer' ? buffer : new Blob([buffer]);
    const r = await fetch('/sink', { method: 'PATCH', body: sent });
    if (!r.ok) throw new Error('sink answered ' + r.status);
  }
  return performance.now() - t0;
};
</script>`;
  let received = 0;
  const sink = http.createServer((req, res) => {
    if (req.method === 'GET') { res.setHeader('content-type', 'text/html'); res.end(page); return; }
    req.on('data', (d) => { received += d.length; });
    req.on('end', () => { res.statusCode = 204; res.end(); });
  });
  await new Promise((r) => sink.listen(0, '127.0.0.1', r));
  const r = (results.uploadBodies = { mib: CFG.single, chunkMib: chunk / MIB, bodies: {} });
  try {
    for (const body of ['slice', 'buffer', 'blob-of-buffer']) {
      const { context, page: tab } = await newPage(`http://127.0.0.1:${sink.address().port}/`);
      try {
        await tab.setInputFiles('#pick', file.path);
        received = 0;
        const before = cpuSnapshot();
        const ms = await withTimeout(tab.evaluate(([b, c]) => window.sendAll(b, c), [body, chunk]), 120_000, `upload bodies: ${body}`);
        const cpu = cpuSpent(before, cpuSnapshot());
        delete cpu.server; // the sink is this node process's own, not a child
        if (received !== CFG.single * MIB) throw new Error(`upload bodies: ${body}: the sink got ${received} bytes`);
        r.bodies[body] = { wall: ms / 1000, cpu };
        log(`upload bodies: ${body} ${(ms / 1000).toFixed(1)} s (CPU s: ${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')})`);
      } finally {
        await context.close();
      }
    }
  } finally {
    sink.close();
    rmSync(join(files, 'bodies'), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// 5. Memory while backing up one very large file.

/**
 * One new file of `CFG.memory` MiB, backed up once by ferry to ferry-server and once by
 * tus-js-client to @tus/server, each in a fresh context, with the renderer's RSS (page
 * and workers) sampled throughout. ferry sends a file this large while hashing it.
 */
async function benchLargeMemory(files, results) {
  const file = seededFile(join(files, 'memory'), 'HUGE_VIDEO.mp4', CFG.memory * MIB, 400);
  const r = (results.largeMemory = { mib: CFG.memory });
  try {
    for (const system of ['ferry → ferry-server', 'tus-js-client → @tus/server']) {
      const onFerry = system.startsWith('ferry');
      const server = onFerry ? await startFerryServer(tmp) : await startTusHost(tmp);
      const { context, page } = await newPage(onFerry ? `${server.url}/healthz` : `${server.url}/bench/blank.html`);
      try {
        if (onFerry) await openEngine(page, { apiKey: server.apiKey, catalogName: 'bench-memory' });
        else await installTus(page);
        await pick(page, [file.path]);
        await sleep(500);
        const mem = sampler(page, server.pid);
        await sleep(750); // idle baseline
        const cdp = await browser.newBrowserCDPSession();
        const parts = { idle: await rendererMemoryParts(cdp) };
        let out;
        try {
          const timeout = Math.max(60_000, Math.min(400_000, left() - 120_000));
          const upload = onFerry
            ? withTimeout(page.evaluate(() => window.benchAdd(['uploaded'])), timeout, `${system}, ${CFG.memory} MiB`)
            : withTimeout(page.evaluate((e) => window.tusUploadAll(e, 3), server.tusEndpoint), timeout, `${system}, ${CFG.memory} MiB`);
          // Where the memory is, every 5 s while the file is backed up: the dump taken
          // when the sampled RSS was highest is kept.
          let over = false;
          upload.finally(() => { over = true; }).catch(() => {});
          let highest = -Infinity;
          while (!over) {
            await Promise.race([upload.catch(() => {}), sleep(5000)]);
            if (over) break;
            const rss = mem.samples.at(-1)?.renderer ?? 0;
            const now = await rendererMemoryParts(cdp).catch(() => null);
            if (now && rss > highest) { highest = rss; parts.busy = { ...now, rss, t: mem.samples.at(-1).t }; }
          }
          out = await upload;
        } finally {
          await mem.stop();
          await cdp.detach().catch(() => {});
        }
        if (onFerry) {
          const errors = await page.evaluate(() => window.benchErrors);
          if (errors.length) throw new Error(`${system}: ${errors.join('; ')}`);
        }
        const idle = Math.min(...mem.samples.slice(0, 3).map((x) => x.renderer));
        const peak = Math.max(...mem.samples.map((x) => x.renderer));
        r[system] = { wall: out.ms / 1000, idle, peak, heapPeak: Math.max(...mem.samples.map((x) => x.heap)), serverPeak: procMemory(server.pid).hwm, samples: mem.samples, parts };
        log(`memory, ${CFG.memory} MiB: ${system.padEnd(30)} ${(out.ms / 1000).toFixed(1)} s, renderer ${(idle / MIB).toFixed(0)} → peak ${(peak / MIB).toFixed(0)} MiB (+${((peak - idle) / MIB).toFixed(0)})`);
      } finally {
        await context.close();
        await server.close();
      }
    }
  } finally {
    rmSync(join(files, 'memory'), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// 8. Server ingest: many tus clients at once, in node, no browser.

/**
 * `CFG.ingest[0]` tus-js-client uploads at once, from this node process, of distinct
 * seeded buffers of `CFG.ingest[1]` MiB each, tus-js-client's defaults otherwise (one
 * PATCH per upload), to a fresh ferry-server and a fresh @tus/server (with
 * @tus/file-store) per run. Figures: MiB/s over the whole batch and each server
 * process's peak RSS (VmHWM).
 */
async function benchServerIngest(results) {
  const [clients, mib] = CFG.ingest;
  const bodies = Array.from({ length: clients }, (_, i) => seededBytes(mib * MIB, 500 + i));
  const r = (results.ingest = { clients, mib });
  const systems = ['ferry-server', '@tus/server'];
  for (let run = 0; run < CFG.runs; run++) {
    for (const name of run % 2 ? [...systems].reverse() : systems) {
      const onFerry = name === 'ferry-server';
      const server = onFerry ? await startFerryServer(tmp) : await startTusHost(tmp);
      try {
        const endpoint = onFerry ? `${server.url}/api/uploads` : server.tusEndpoint;
        const headers = onFerry ? { 'x-api-key': server.apiKey } : {};
        const t0 = performance.now();
        await withTimeout(Promise.all(bodies.map((body, i) => new Promise((resolve, reject) => {
          new NodeTusUpload(body, {
            endpoint, headers, retryDelays: null,
            metadata: { filename: `INGEST_${run}_${i}.mp4`, filetype: 'video/mp4' },
            onSuccess: resolve, onError: reject,
          }).start();
        }))), 300_000, `ingest into ${name}`);
        const s = (performance.now() - t0) / 1000;
        const x = (r[name] ??= { mbps: [], peak: [] });
        x.mbps.push((clients * mib) / s);
        x.peak.push(procMemory(server.pid).hwm);
        log(`ingest run ${run + 1}: ${clients} × ${mib} MiB into ${name.padEnd(12)} ${((clients * mib) / s).toFixed(0)} MiB/s, peak RSS ${(x.peak.at(-1) / MIB).toFixed(0)} MiB`);
      } finally {
        await server.close();
      }
    }
  }
}

async function benchColdStart(host, results) {
  const systems = {
    'ferry (import, Uploader.create)': async () => {
      const { Uploader } = await import('/npm/index.js');
      await Uploader.create({ tusEndpoint: `${location.origin}/files`, protocol: 'tus', catalog: `cold-${Math.random()}` });
    },
    'tus-js-client (script tag, new tus.Upload)': async () => {
      await new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = '/vendor/tus-js-client/dist/tus.min.js'; s.onload = resolve; s.onerror = reject;
        document.head.append(s);
      });
      new window.tus.Upload(new Blob(['x']), { endpoint: `${location.origin}/files` });
    },
    'Uppy (script tag, new Uppy().use(Tus))': async () => {
      await new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.src = '/vendor/uppy/dist/uppy.min.js'; s.onload = resolve; s.onerror = reject;
        document.head.append(s);
      });
      new window.Uppy.Uppy().use(window.Uppy.Tus, { endpoint: `${location.origin}/files` });
    },
  };
  const runs = Math.max(5, CFG.runs);
  for (const [name, start] of Object.entries(systems)) {
    const ms = [];
    for (let i = 0; i < runs; i++) {
      const { context, page } = await newPage(`${host.url}/bench/blank.html`);
      try {
        ms.push(await page.evaluate(`(async () => { const t0 = performance.now(); await (${start.toString()})(); return performance.now() - t0; })()`));
      } finally {
        await context.close();
      }
    }
    results.coldStart[name] = ms;
    log(`cold start: ${name.padEnd(44)} median ${median(ms).toFixed(0)} ms`);
  }
}

async function main() {
  const results = {
    quick: QUICK, runs: CFG.runs, cfg: CFG, machine: machine(), date: new Date().toISOString(),
    hashing: {}, fresh: {}, mainThread: {}, memory: {}, rerun: {}, resume: {}, coldStart: {}, errors: {}, sizes: sizes(),
  };
  const only = process.env.BENCH_ONLY?.split(',');
  const section = async (name, fn) => {
    if (only && !only.some((o) => name.startsWith(o))) return;
    try { await fn(); } catch (e) { results.errors[name] = e.message.split('\n').slice(0, 6).join(' '); log(`${name} FAILED: ${e.message}`); }
  };
  browser = await launch();
  results.machine.chromium = browser.version();
  const versions = JSON.parse(readFileSync(new URL('./package-lock.json', import.meta.url), 'utf8')).packages;
  results.versions = Object.fromEntries(['tus-js-client', 'uppy', '@uppy/core', '@uppy/tus', '@tus/server', '@tus/file-store', 'hash-wasm', 'playwright-core']
    .map((p) => [p, versions[`node_modules/${p}`]?.version]));
  log(`${QUICK ? 'quick' : 'full'} run, ${CFG.runs} run(s) per figure, temp dir ${tmp}`);

  // Inputs, generated from the fixed seed.
  const files = join(tmp, 'files');
  const hashFiles = CFG.hash.map((mib, i) => seededFile(join(files, 'hash'), `VID_${i}.mp4`, mib * MIB, 100 + i, { hash: true }));
  const small = seededFiles(join(files, 'fresh'), 'IMG_', CFG.small[0], CFG.small[1] * MIB, CFG.small[1] * MIB, 1000);
  const large = CFG.large.map((mib, i) => seededFile(join(files, 'fresh'), `MOV_${i}.mp4`, mib * MIB, 200 + i));
  const freshPaths = [...small.map((f) => f.path), ...large.map((f) => f.path)];
  const freshBytes = CFG.small[0] * CFG.small[1] * MIB + CFG.large.reduce((s, m) => s + m * MIB, 0);
  log(`generated the hashing and fresh-backup files (${((CFG.hash.reduce((a, b) => a + b, 0) + freshBytes / MIB) / 1024).toFixed(2)} GiB)`);

  const host = await startTusHost(tmp);
  await section('cold start', () => benchColdStart(host, results));
  await section('hashing', () => benchHashing(host, hashFiles, results));
  await host.close();

  await section('fresh', async () => {
    for (let run = 0; run < CFG.runs; run++) {
      for (let k = 0; k < FRESH_SYSTEMS.length; k++) {
        const system = FRESH_SYSTEMS[(k + run) % FRESH_SYSTEMS.length];
        if (run > 0 && left() < 300_000) { log(`fresh: skipping ${system} run ${run + 1}, over time budget`); continue; }
        try {
          await freshRun(system, freshPaths, freshBytes, run, results);
        } catch (e) {
          (results.fresh[system] ??= { wall: [], mbps: [], longTasks: [], longestTask: [], rendererPeak: [], rendererIdle: [], heapPeak: [], serverPeak: [], cpu: [] }).error = e.message.split('\n')[0];
          log(`fresh: ${system} FAILED: ${e.message}`);
        }
      }
    }
  });
  rmSync(join(files, 'fresh'), { recursive: true, force: true });
  // 6. Main-thread health: long tasks while many photo-sized files are backed up, one run
  // per system (the figure is a count, and the command's time is bounded).
  await section('main-thread', async () => {
    const [count, mib] = CFG.many;
    const many = seededFiles(join(files, 'many'), 'PHOTO_', count, mib * MIB, mib * MIB, 3000);
    for (const system of ['ferry → ferry-server', 'tus-js-client → @tus/server', 'Uppy + @uppy/tus → @tus/server']) {
      try {
        await freshRun(system, many.map((f) => f.path), count * mib * MIB, 0, results, results.mainThread);
      } catch (e) {
        (results.mainThread[system] ??= {}).error = e.message.split('\n')[0];
        log(`main thread: ${system} FAILED: ${e.message}`);
      }
    }
    rmSync(join(files, 'many'), { recursive: true, force: true });
  });
  await section('single', () => benchLargeFile(files, results));
  // The same with uploads throttled to 1 Gbit/s (Chromium's own throttling, as in section
  // 4; about 540 Mbit/s comes through): a fast home or office connection, where sending a
  // file takes longer than hashing it and the server's work no longer takes the browser's
  // CPU as it does on loopback.
  await section('single-link', () => benchLargeFile(files, results, { key: 'singleLink', uplink: 125_000_000 }));
  await section('upload-bodies', () => benchUploadBodies(files, results));
  // A throughput figure: alone.
  await section('server', () => benchServerIngest(results));

  // The re-run test's set-up runs alongside the memory and resume tests, whose figures are
  // bytes, not times: first the uploads from node (no browser page, so the memory test's
  // sum of renderer RSS is its own), then, after the memory test, tus-js-client's resume
  // records. ferry's new-device pass and the timed re-runs then run alone, one after the
  // other.
  const rerunFiles = seededFiles(join(files, 'rerun'), 'P', CFG.rerun, 2048, 8192, 20000);
  const rerunPaths = rerunFiles.map((f) => f.path);
  const resumeFile = seededFile(join(files, 'resume'), 'LONG_VIDEO.mp4', CFG.resume * MIB, 7);
  log(`generated ${CFG.rerun} small files and the ${CFG.resume} MiB file`);
  let bytesDone;
  let memoryDone;
  let tusSetUpDone;
  const afterBytes = new Promise((r) => { bytesDone = r; });
  const afterMemory = new Promise((r) => { memoryDone = r; });
  const afterTusSetUp = new Promise((r) => { tusSetUpDone = r; });
  const rerunFerry = section('rerun-ferry', () => benchRerunFerry(rerunPaths, results, Promise.all([afterBytes, afterTusSetUp])));
  const rerunTus = section('rerun-tus', () => benchRerunTus(rerunPaths, results, afterMemory, Promise.all([afterBytes, rerunFerry]), tusSetUpDone))
    .finally(tusSetUpDone);
  await section('memory', () => benchLargeMemory(files, results));
  memoryDone();
  await section('resume', async () => {
    for (let run = 0; run < CFG.runs; run++) {
      for (const system of run % 2 ? ['tus-js-client → @tus/server', 'ferry → ferry-server'] : ['ferry → ferry-server', 'tus-js-client → @tus/server']) {
        if (run > 0 && left() < 240_000) { log(`resume: skipping run ${run + 1}, over time budget`); continue; }
        await resumeRun(system, resumeFile, results);
      }
    }
  });
  bytesDone();
  rmSync(join(files, 'resume'), { recursive: true, force: true });
  rmSync(join(files, 'hash'), { recursive: true, force: true });
  await rerunFerry;
  await rerunTus;

  results.pageErrors = Object.fromEntries(pageErrors);
  results.elapsed = (Date.now() - STARTED) / 1000;
  writeFileSync(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 1)}\n`);
  const table = writeReport(results, new URL('..', import.meta.url).pathname);
  console.log(table);
  log(`done in ${results.elapsed.toFixed(0)} s`);
  return Object.keys(results.errors).length === 0;
}

let ok = false;
try {
  ok = await main();
} catch (e) {
  log(`FAILED: ${e.stack}`);
} finally {
  await cleanup();
}
process.exit(ok ? 0 : 1);
