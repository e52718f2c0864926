// Figures for the web app, measured against a real ferry-server in Debian's Chromium:
//   node --test e2e/pwa-bench.mjs   (after `cargo xtask build` or a test run)
// - time to interactive on a cold load: a new browser profile (no HTTP cache, no service
//   worker) with a saved key, from navigation until the Backup screen is ready; five runs;
// - main-thread long tasks (over 50 ms) while the app backs up a folder of 1,000 files:
//   by the clock (PerformanceObserver), and by CPU time from a trace of the main thread
//   (which the machine's load does not stretch), with the load average;
// - the app shell plus the wasm engine as the service worker precaches it, gzipped.
// Not a test of behaviour (the e2e suites are *.test.mjs); it prints one JSON line.
import { test } from 'node:test';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadavg } from 'node:os';
import { launchBrowser, randomFile, startServer, tempDir } from './support.mjs';
import { mainThreadTasks } from './trace.mjs';

const WWW = process.env.FERRY_WWW ?? new URL('../www', import.meta.url).pathname;
const FILES = Number(process.env.FERRY_BENCH_FILES ?? 1000);

/** The files sw.js precaches, and their size raw and gzipped (level 9). */
function shellSize() {
  const sw = readFileSync(join(WWW, 'sw.js'), 'utf8');
  const list = /const SHELL = \[([^\]]*)\]/.exec(sw)[1].match(/'([^']+)'/g).map((q) => q.slice(1, -1))
    .map((p) => (p === './' ? 'index.html' : p));
  const files = [...new Set([...list, 'sw.js'])];
  let raw = 0;
  let gzip = 0;
  let wasm = 0;
  for (const f of files) {
    const bytes = readFileSync(join(WWW, f));
    const z = gzipSync(bytes, { level: 9 }).length;
    raw += bytes.length;
    gzip += z;
    if (f.endsWith('.wasm')) wasm = z;
  }
  return { files: files.length, rawBytes: raw, gzipBytes: gzip, wasmGzipBytes: wasm };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

test('web app figures', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);

  const tti = [];
  for (let i = 0; i < 5; i += 1) {
    const context = await browser.newContext();
    await context.addInitScript((key) => {
      if (!localStorage.getItem('ferry.apiKey')) localStorage.setItem('ferry.apiKey', key);
    }, server.apiKey);
    const page = await context.newPage();
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]');
    tti.push(Math.round(await page.evaluate(() => performance.now())));
    await context.close();
  }

  const folder = join(tempDir(t), 'Bench');
  mkdirSync(folder);
  for (let i = 0; i < FILES; i += 1) randomFile(folder, `IMG_${i}.jpg`, 8 * 1024);
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const page = await context.newPage();
  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.longTasks.push(Math.round(e.duration));
    }).observe({ type: 'longtask' });
  });
  await browser.startTracing(page, { categories: ['toplevel'] });
  const loadBefore = loadavg()[0];
  const started = Date.now();
  await page.setInputFiles('#folder', folder);
  await page.waitForFunction((n) => document.getElementById('status-card').dataset.state === 'done'
    && document.getElementById('status-count').textContent.startsWith(`${n.toLocaleString()} of`), FILES, { timeout: 1_200_000 });
  const backupMs = Date.now() - started;
  const load = [loadBefore, loadavg()[0]];
  const cpu = mainThreadTasks(await browser.stopTracing(), 50);
  const tasks = (await page.evaluate(() => window.longTasks)).sort((a, b) => b - a);
  console.log(JSON.stringify({
    ttiColdMs: { runs: tti, median: median(tti) },
    backup: {
      files: FILES, seconds: Math.round(backupMs / 100) / 10, longTasks: tasks.length,
      longTaskMs: tasks.reduce((a, b) => a + b, 0), longest: tasks.slice(0, 5),
      // The picked folder's own delivery (Chromium's work before the change event, about
      // 90 ms of CPU for 1,000 files on an empty page) is one of these.
      tasksOver50MsCpu: cpu.over.length, longestCpu: cpu.over.slice(0, 5), maxTaskCpuMs: cpu.maxCpu,
      loadAverage: load,
    },
    shell: shellSize(),
  }));
});
