// The virtualised timeline against a library of 100,000+ assets on a real ferry-server.
//
// The library: 240 small JPEGs uploaded through the API (`POST /api/assets`, multipart,
// as another device would), the newest, so the first screens have real thumbnails; and
// 100,000 older HEIC photos written into the server's own SQLite database in one
// transaction with Debian's `sqlite3` (uploading 100,000 files through the API takes
// about half an hour on the debug server). The server serves them exactly as any other
// assets: by cursor pages from its timeline index. They have no stored bytes, which the
// timeline never asks for: the server makes no thumbnails of HEIC. Without `sqlite3`
// (or a server keeping its catalog elsewhere) the test uploads 10,000 instead, through
// the API.
//
// It checks, as a person scrolling would notice: days with headings, thumbnails first,
// the number of DOM nodes staying bounded however far one scrolls, more pages loading by
// cursor as the end nears until the whole library is there, a deep position showing the
// right assets, no main-thread task over 100 ms while scrolling (by CPU time always, and
// by the clock when the machine is neither oversubscribed nor robbed by its hypervisor),
// and a tap opening the full resolution with a download progress bar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  clockTimeHolds, describeMachine, launchBrowser, pageProblems, startServer, watchMachine,
} from './support.mjs';
import { mainThreadTasks } from './trace.mjs';

const REAL = 240;
const BULK = 100_000;
const HOUR = 3_600_000;

/** Draws `n` small JPEGs of different colours in the browser; resolves to Buffers. */
async function paintJpegs(browser, n) {
  const page = await browser.newPage();
  const images = await page.evaluate(async (count) => {
    const out = [];
    for (let i = 0; i < count; i += 1) {
      const canvas = new OffscreenCanvas(96, 96);
      const g = canvas.getContext('2d');
      g.fillStyle = `hsl(${(i * 37) % 360} 65% 55%)`;
      g.fillRect(0, 0, 96, 96);
      g.fillStyle = `hsl(${(i * 37 + 180) % 360} 70% 85%)`;
      g.beginPath();
      g.arc(30 + (i % 4) * 12, 40, 18, 0, Math.PI * 2);
      g.fill();
      const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.8 })).arrayBuffer());
      out.push(btoa(String.fromCharCode(...bytes)));
    }
    return out;
  }, n);
  await page.close();
  return images.map((b) => Buffer.from(b, 'base64'));
}

/** Uploads `count` assets with `POST /api/assets`, newest `newest`, one hour apart. */
async function uploadAssets(server, { count, newest, first = 0, make, concurrency = 4 }) {
  let next = 0;
  const one = async () => {
    while (next < count) {
      const i = next++;
      const { name, type, bytes } = make(i);
      const form = new FormData();
      form.set('fileCreatedAt', new Date(newest - (first + i) * HOUR).toISOString());
      form.set('assetData', new Blob([bytes], { type }), name);
      const res = await fetch(`${server.url}/api/assets`, { method: 'POST', headers: { 'x-api-key': server.apiKey }, body: form });
      if (res.status !== 201) throw new Error(`seeding ${name}: HTTP ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, one));
}

/**
 * Writes `count` HEIC assets, one hour apart from `newest` on, straight into the server's
 * database, as rows like the ones uploads make. Returns false without `sqlite3`.
 */
function insertAssets(server, { count, newest, first }) {
  const db = join(server.data, 'ferry.sqlite');
  if (spawnSync('sqlite3', ['-version']).status !== 0 || !existsSync(db)) return false;
  const epoch = (newest - first * HOUR) / 1000;
  const sql = `
    PRAGMA busy_timeout = 10000;
    BEGIN;
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${count - 1})
    INSERT INTO assets (id, user_id, checksum, original_file_name, mime_type, file_size,
                        file_created_at, file_modified_at, created_at, updated_at)
    SELECT printf('bulk-%06d', i), (SELECT id FROM users WHERE name = 'e2e'),
           lower(hex(randomblob(32))), printf('IMG_%06d.HEIC', i), 'image/heic', 1800000 + i,
           strftime('%Y-%m-%dT%H:%M:%fZ', ${epoch} - i * 3600, 'unixepoch'),
           strftime('%Y-%m-%dT%H:%M:%fZ', ${epoch} - i * 3600, 'unixepoch'),
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM n;
    COMMIT;`;
  execFileSync('sqlite3', [db], { input: sql });
  return true;
}

test('the timeline scrolls 100,000 assets with a bounded DOM, loading by cursor', async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  // The assets are an hour apart, so the first day shown holds at least three of them:
  // in the first hours after midnight, the library starts at 23:30 the day before.
  const midnight = new Date().setHours(0, 0, 0, 0);
  const newest = Date.now() - midnight > 3 * HOUR ? Date.now() - 60_000 : midnight - HOUR / 2;
  const jpegs = await paintJpegs(browser, 12);
  let started = Date.now();
  await uploadAssets(server, {
    count: REAL, newest,
    // Trailing bytes after the JPEG's end make each file new to the server.
    make: (i) => ({ name: `PXL_${String(i).padStart(4, '0')}.jpg`, type: 'image/jpeg', bytes: Buffer.concat([jpegs[i % jpegs.length], randomBytes(16)]) }),
  });
  let bulk = BULK;
  if (!insertAssets(server, { count: BULK, newest, first: REAL })) {
    bulk = 10_000;
    console.log('sqlite3 is missing: uploading 10,000 assets through the API instead');
    await uploadAssets(server, {
      count: bulk, newest, first: REAL, concurrency: 8,
      make: (i) => ({ name: `IMG_${String(i).padStart(6, '0')}.HEIC`, type: 'image/heic', bytes: randomBytes(64) }),
    });
  }
  const total = REAL + bulk;
  console.log(`seeded ${total} assets in ${Date.now() - started} ms`);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems = pageProblems(page);
  const pages = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname === '/api/assets' && r.method() === 'GET') pages.push(url.searchParams);
  });
  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#tabs a[href="#/timeline"]');

  // The first screen: newest day first under its heading, with server thumbnails.
  await page.waitForFunction(() => document.querySelectorAll('#timeline-days .tile[data-thumb="shown"]').length >= 12, null, { timeout: 30_000 });
  const first = await page.$eval('#timeline-days section.day', (s) => ({
    heading: s.querySelector('h2').textContent,
    names: [...s.querySelectorAll('.tile-name')].slice(0, 3).map((n) => n.textContent),
  }));
  assert.ok(['Today', 'Yesterday'].includes(first.heading), first.heading);
  assert.deepEqual(first.names, ['PXL_0000.jpg', 'PXL_0001.jpg', 'PXL_0002.jpg']);
  assert.equal(pages[0].get('cursor'), null, 'the first page has no cursor');

  // Long tasks and DOM size while scrolling with the wheel, as a person does. Only tasks
  // that start once scrolling does count (not buffered ones: signing in and loading the
  // engine are long tasks of their own, which is what this bound once measured by mistake).
  await page.evaluate(() => {
    window.longTasks = [];
    window.scrollStart = performance.now();
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.startTime >= window.scrollStart) window.longTasks.push(Math.round(e.duration));
      }
    }).observe({ type: 'longtask' });
  });
  const nodes = () => page.evaluate(() => ({
    timeline: document.getElementById('timeline-days').getElementsByTagName('*').length,
    tiles: document.querySelectorAll('#timeline-days .tile').length,
    page: document.getElementsByTagName('*').length,
    loaded: document.getElementById('timeline-count').textContent,
    scrollY: Math.round(scrollY),
  }));
  const samples = [];
  /**
   * Scrolls `steps` wheel turns of `dy` px with the pointer at `x, y`, tracing the page's
   * main thread (the same tasks, with the CPU time spent in each): resolves to
   * `{ms, wall, cpu, load}`, `wall` being the PerformanceObserver's long tasks.
   */
  const wheelScroll = async ({ steps, dy, x, y }) => {
    await page.evaluate(() => { window.longTasks = []; window.scrollStart = performance.now(); });
    await browser.startTracing(page, { categories: ['toplevel'] });
    const watch = watchMachine();
    const at = Date.now();
    await page.mouse.move(x, y);
    for (let i = 0; i < steps; i += 1) {
      await page.mouse.wheel(0, dy);
      await page.waitForTimeout(16);
      if (i % 10 === 0) samples.push(await nodes());
    }
    const ms = Date.now() - at;
    const wall = await page.evaluate(() => window.longTasks.splice(0));
    const cpu = mainThreadTasks(await browser.stopTracing());
    return { ms, wall, cpu, machine: watch.stop() };
  };
  const desktop = await wheelScroll({ steps: 120, dy: 600, x: 640, y: 400 });

  // Deep scroll: jump to the end of what is loaded until the whole library is there (as
  // dragging the scroll bar does), traced too.
  await browser.startTracing(page, { categories: ['toplevel'] });
  started = Date.now();
  const deadline = Date.now() + 240_000;
  for (;;) {
    const { loaded } = await nodes();
    if (!loaded.includes('+')) break;
    assert.ok(Date.now() < deadline, `still loading after 4 minutes: ${loaded}`);
    await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
    await page.waitForTimeout(50);
    samples.push(await nodes());
  }
  const deepMs = Date.now() - started;
  const jumpTasks = await page.evaluate(() => window.longTasks.splice(0));
  const jumpCpu = mainThreadTasks(await browser.stopTracing());
  await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
  await page.waitForTimeout(300);
  const end = await nodes();
  assert.equal(end.loaded, `${total.toLocaleString('en-US')} items`);
  const last = `IMG_${String(bulk - 1).padStart(6, '0')}.HEIC`;
  await page.waitForFunction((name) => [...document.querySelectorAll('#timeline-days .tile-name')].some((n) => n.textContent === name), last);

  // Every page after the first was asked for by cursor, each cursor once.
  const cursors = pages.slice(1).map((p) => p.get('cursor'));
  assert.ok(cursors.length >= Math.ceil((total - 200) / 1000), `pages: ${cursors.length}`);
  assert.ok(cursors.every(Boolean), 'later pages carry a cursor');
  assert.equal(new Set(cursors).size, cursors.length, 'no page asked for twice');

  // A jump to the middle shows the assets that belong there, from the layout alone.
  const middle = await page.evaluate(() => {
    scrollTo(0, document.documentElement.scrollHeight / 2);
    return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => {
      const names = [...document.querySelectorAll('#timeline-days .tile')]
        .filter((el) => { const b = el.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight; })
        .map((el) => el.querySelector('.tile-name').textContent);
      r(names);
    })));
  });
  assert.ok(middle.length >= 6, `tiles on screen mid-library: ${middle.length}`);
  const mid = Number(/IMG_(\d+)/.exec(middle[0])[1]);
  assert.ok(Math.abs(mid - bulk / 2) < bulk / 20, `mid-library shows ${middle[0]}`);
  samples.push(await nodes());

  // The same on a phone (390×844, three columns of about 130 px), from the middle of the
  // library: the layout is redone for the width, and scrolling stays as light.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForFunction(() => getComputedStyle(document.getElementById('timeline-days')).getPropertyValue('--cols') === '3');
  const phoneSamples = samples.length;
  const phone = await wheelScroll({ steps: 80, dy: 400, x: 195, y: 420 });
  const phoneTiles = Math.max(...samples.slice(phoneSamples).map((s) => s.tiles));
  assert.ok(phoneTiles >= 15, `tiles on the phone: ${phoneTiles}`);

  const maxNodes = Math.max(...samples.map((s) => s.timeline));
  const maxTiles = Math.max(...samples.map((s) => s.tiles));
  const figures = (pass) => ({
    ms: pass.ms, longTasks: pass.wall, tasks: pass.cpu.count, maxTaskWallMs: pass.cpu.maxWall,
    maxTaskCpuMs: pass.cpu.maxCpu, cpuMs: pass.cpu.cpu, machine: pass.machine,
  });
  console.log(JSON.stringify({
    total, deepMs, pages: pages.length, maxTimelineNodes: maxNodes, maxTiles, phoneTiles,
    maxPageNodes: Math.max(...samples.map((s) => s.page)),
    jumpLongTasks: jumpTasks.length, maxJumpLongTask: Math.max(0, ...jumpTasks), maxJumpTaskCpuMs: jumpCpu.maxCpu,
    desktop: figures(desktop), phone: figures(phone), cores: availableParallelism(),
  }));
  // At 1280×800 six columns of about 185 px: three screens of rows is about 84 tiles,
  // about 5 nodes each. However long the library, the DOM stays this size.
  assert.ok(maxTiles <= 150, `at most 150 tiles in the DOM, saw ${maxTiles}`);
  assert.ok(maxNodes <= 1000, `at most 1,000 timeline nodes, saw ${maxNodes}`);
  // The issue asks for no task over 100 ms while scrolling. What the page itself costs
  // is the CPU time of each task, which another process cannot stretch: that bound
  // always holds. The wall-clock time (what PerformanceObserver reports) also counts the
  // time the thread waited for a core, so it is held to the same bound only when the
  // machine is not oversubscribed and the hypervisor took little from it (on a machine
  // shared with builds, load 5 on 2 cores, tasks of 26 ms of CPU took up to 375 ms);
  // otherwise it is reported, not failed.
  const bound = Number(process.env.FERRY_MAX_LONG_TASK_MS ?? 100);
  for (const [size, pass] of [['desktop', desktop], ['phone', phone]]) {
    assert.ok(pass.cpu.count > 200, `the trace saw the scroll's tasks (${size}): ${pass.cpu.count}`);
    assert.ok(pass.cpu.maxCpu <= bound, `no task over ${bound} ms of CPU while scrolling (${size}): ${pass.cpu.maxCpu} ms`);
    if (clockTimeHolds(pass.machine, bound)) {
      assert.ok(Math.max(0, ...pass.wall) <= bound, `no long task over ${bound} ms while scrolling (${size}): ${pass.wall}`);
    } else {
      console.log(`${size}: ${describeMachine(pass.machine)}: long tasks by the clock (${pass.wall}) are not held to ${bound} ms`);
    }
  }
  // Jumping to the end as pages arrive (each appended to the layout) costs no more.
  assert.ok(jumpCpu.maxCpu <= bound, `no task over ${bound} ms of CPU while jumping to the end: ${jumpCpu.maxCpu} ms`);
  await page.setViewportSize({ width: 1280, height: 800 });

  // Back to the top: tap a photo, the original downloads with a progress bar, and shows.
  await page.evaluate(() => scrollTo(0, 0));
  await page.waitForSelector('.tile[aria-label^="PXL_0003.jpg"]');
  await page.click('.tile[aria-label^="PXL_0003.jpg"]');
  await page.waitForSelector('#viewer[open]');
  assert.equal(await page.$eval('#viewer-progress', (p) => p.getAttribute('aria-label')), 'Download progress');
  await page.waitForSelector('#viewer img.viewer-media');
  assert.equal(await page.$eval('#viewer img.viewer-media', (img) => img.naturalWidth), 96);
  await page.keyboard.press('Escape');
  assert.deepEqual(problems, []);
});
