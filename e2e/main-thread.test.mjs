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
//
// CPU time is not proof against everything: on a virtual machine the hypervisor can take
// the core away mid-task (the "steal" in /proc/stat), and CI once saw one task of 66.9 ms
// in a run whose other 20,000 tasks stayed under 25, as they do in every run here. What
// this test guards against is work that grows with the folder, which comes back in every
// run. So a backup with a task over the bound is done again, on a fresh server, with
// fresh files and a fresh browser profile, and the test fails only if the second one has
// a task over the bound as well. Both runs print what their long tasks did (the traced
// script, style, layout, paint and GC inside them) and the steal time they saw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  api, clockTimeHolds, describeMachine, launchBrowser, pageProblems, randomFile, startServer, tempDir, watchMachine,
} from './support.mjs';
import { mainThreadTasks } from './trace.mjs';

const FILES = 300;
const BOUND_MS = Number(process.env.FERRY_MAX_LONG_TASK_MS ?? 50);

test(`no main-thread task over ${BOUND_MS} ms while the app backs up ${FILES} files`, async (t) => {
  const browser = await launchBrowser(t);
  let run = await backUpTraced(t, browser, 1);
  if (run.tasks.over.length > 0) {
    console.log(`a task took over ${BOUND_MS} ms of CPU (${run.tasks.over}); backing up again to see whether it comes back`);
    run = await backUpTraced(t, browser, 2);
  }
  const { tasks, handlerMs, wall, machine } = run;
  assert.deepEqual(tasks.over, [], `no main-thread task over ${BOUND_MS} ms of CPU (longest ${tasks.maxCpu} ms), in two backups`);
  if (clockTimeHolds(machine, BOUND_MS)) {
    assert.ok(handlerMs <= BOUND_MS, `the app's change handler took ${handlerMs} ms`);
    assert.deepEqual(wall.filter((ms) => ms > BOUND_MS), [], `no long task over ${BOUND_MS} ms by the clock but the pick's (${describeMachine(machine)})`);
  } else {
    console.log(`${describeMachine(machine)}: long tasks by the clock (${wall.slice(0, 10)}) are not held to ${BOUND_MS} ms`);
  }
});

/** Backs up a fresh folder of `FILES` photos to a fresh server with the page traced. */
async function backUpTraced(t, browser, attempt) {
  const server = await startServer(t);
  const folder = join(tempDir(t), 'Camera');
  mkdirSync(folder);
  for (let i = 0; i < FILES; i += 1) randomFile(folder, `IMG_${String(i).padStart(4, '0')}.jpg`, 4 * 1024);
  const context = await browser.newContext({ serviceWorkers: 'block', viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
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
  await browser.startTracing(page, { categories: ['toplevel', 'blink.user_timing', 'devtools.timeline', 'v8'] });
  const watch = watchMachine();
  const started = Date.now();
  await page.setInputFiles('#folder', folder);
  await page.waitForFunction((n) => document.getElementById('status-card').dataset.state === 'done'
    && document.getElementById('status-count').textContent.startsWith(`${n} of ${n}`), FILES, { timeout: 240_000 });
  const seconds = (Date.now() - started) / 1000;
  const machine = watch.stop();
  const tasks = mainThreadTasks(await browser.stopTracing(), BOUND_MS, 'pick-start');
  const handlerMs = await page.evaluate(() => performance.measure('pick', 'pick-start', 'pick-end').duration);
  // The PerformanceObserver's long tasks after the pick's (the one the handler ran in;
  // those before it are Playwright's, setting the files).
  const wall = await page.evaluate(() => {
    const at = performance.getEntriesByName('pick-start')[0].startTime;
    return window.longTasks.filter((e) => e.start > at).map((e) => e.ms).sort((a, b) => b - a);
  });
  console.log(JSON.stringify({
    attempt, files: FILES, seconds, tasks: tasks.count, maxTaskCpuMs: tasks.maxCpu, maxTaskWallMs: tasks.maxWall,
    cpuOver: tasks.over, overParts: tasks.overParts, pickTask: tasks.marked, handlerMs: Math.round(handlerMs * 10) / 10,
    longTasks: wall.length, longest: wall.slice(0, 5), machine,
  }));

  assert.equal((await api(server, '/api/assets?limit=1000')).items.length, FILES, 'every file is on the server');
  assert.ok(await page.$$eval('#assets li', (rows) => rows.length) <= 100, 'the list keeps at most 100 rows');
  assert.ok(tasks.count > 1000, `the trace saw the backup's tasks: ${tasks.count}`);
  assert.ok(tasks.marked, 'the trace has the task that delivered the picked folder');
  assert.deepEqual(problems, []);
  await context.close();
  return { tasks, handlerMs, wall, machine };
}
