// The page stays responsive while the app backs up a folder of many files (issue 5: "no
// long tasks (> 50 ms) on the page during a 1,000-file backup").
//
// A folder of 300 small photos is picked through the app's real folder input and backed
// up to a real ferry-server, with the page's main thread traced (Chrome's `toplevel`
// category: every task, with the CPU time it took). 300 is enough to exercise what used to
// scale with the folder: the picked files' details read all at once, one catalog count per
// recorded file, the records written in one go and a hundred list rows redrawn per frame;
// each of those took a task of 50–350 ms at 1,000 files. (`node --test e2e/pwa-bench.mjs`
// measures the 1,000.)
//
// One task is the browser's, not the app's: the one in which Chromium hands the page the
// picked folder (it builds a File for each file before the change event; about 90 ms of
// CPU for 1,000 files on an empty page, 25 for 300). It is left out of the bound, which
// holds instead for the app's change handler in it (marks around the event).
//
// What the page costs is the CPU time of each task, which another process on the machine
// cannot stretch: no task may take over 50 ms of it. The clock time (what a
// PerformanceObserver reports as long tasks) also counts the time the thread waited for a
// core, so it is held to the same bound only when the load average is at most the number
// of cores, as in the timeline test; otherwise it is reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism, loadavg } from 'node:os';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { api, launchBrowser, pageProblems, randomFile, startServer, tempDir } from './support.mjs';
import { mainThreadTasks } from './trace.mjs';

const FILES = 300;
const BOUND_MS = Number(process.env.FERRY_MAX_LONG_TASK_MS ?? 50);

test(`no main-thread task over ${BOUND_MS} ms while the app backs up ${FILES} files`, async (t) => {
  const server = await startServer(t);
  const browser = await launchBrowser(t);
  const folder = join(tempDir(t), 'Camera');
  mkdirSync(folder);
  for (let i = 0; i < FILES; i += 1) randomFile(folder, `IMG_${String(i).padStart(4, '0')}.jpg`, 4 * 1024);
  const context = await browser.newContext({ serviceWorkers: 'block', viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(server.url);
  await page.fill('#api-key', server.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.longTasks.push({ start: e.startTime, ms: Math.round(e.duration) });
    }).observe({ type: 'longtask' });
  });

  await page.evaluate(() => {
    // The capturing listener runs before the app's, the bubbling one after it.
    addEventListener('change', () => performance.mark('pick-start'), true);
    addEventListener('change', () => performance.mark('pick-end'));
  });
  await browser.startTracing(page, { categories: ['toplevel', 'blink.user_timing'] });
  const loadBefore = loadavg()[0];
  const started = Date.now();
  await page.setInputFiles('#folder', folder);
  await page.waitForFunction((n) => document.getElementById('status-card').dataset.state === 'done'
    && document.getElementById('status-count').textContent.startsWith(`${n} of ${n}`), FILES, { timeout: 240_000 });
  const seconds = (Date.now() - started) / 1000;
  const load = Math.max(loadBefore, loadavg()[0]);
  const tasks = mainThreadTasks(await browser.stopTracing(), BOUND_MS, 'pick-start');
  const handlerMs = await page.evaluate(() => performance.measure('pick', 'pick-start', 'pick-end').duration);
  // The PerformanceObserver's long tasks after the pick's (the one the handler ran in;
  // those before it are Playwright's, setting the files).
  const wall = await page.evaluate(() => {
    const at = performance.getEntriesByName('pick-start')[0].startTime;
    return window.longTasks.filter((e) => e.start > at).map((e) => e.ms).sort((a, b) => b - a);
  });
  console.log(JSON.stringify({
    files: FILES, seconds, tasks: tasks.count, maxTaskCpuMs: tasks.maxCpu, maxTaskWallMs: tasks.maxWall,
    cpuOver: tasks.over, pickTask: tasks.marked, handlerMs: Math.round(handlerMs * 10) / 10,
    longTasks: wall.length, longest: wall.slice(0, 5), loadAverage: load, cores: availableParallelism(),
  }));

  assert.equal((await api(server, '/api/assets?limit=1000')).items.length, FILES, 'every file is on the server');
  assert.ok(await page.$$eval('#assets li', (rows) => rows.length) <= 100, 'the list keeps at most 100 rows');
  assert.ok(tasks.count > 1000, `the trace saw the backup's tasks: ${tasks.count}`);
  assert.ok(tasks.marked, 'the trace has the task that delivered the picked folder');
  assert.deepEqual(tasks.over, [], `no main-thread task over ${BOUND_MS} ms of CPU (longest ${tasks.maxCpu} ms)`);
  if (load <= availableParallelism()) {
    assert.ok(handlerMs <= BOUND_MS, `the app's change handler took ${handlerMs} ms`);
    assert.deepEqual(wall.filter((ms) => ms > BOUND_MS), [], `no long task over ${BOUND_MS} ms by the clock but the pick's (load ${load})`);
  } else {
    console.log(`load average ${load} on ${availableParallelism()} cores: long tasks by the clock (${wall.slice(0, 10)}) are not held to ${BOUND_MS} ms`);
  }
  assert.deepEqual(problems, []);
});
