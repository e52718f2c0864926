// Reading a Chrome trace of category `toplevel` (Playwright's `browser.startTracing`):
// the page's main-thread tasks and the CPU time each took.

/**
 * The tasks of the busiest renderer main thread in `trace` (a Buffer), as `{count,
 * maxCpu, maxWall, over, marked}` in ms, `over` being the CPU times above `boundMs`,
 * longest first. With `except` (the name of a `performance.mark`, traced with category
 * `blink.user_timing`), the task that made that mark is left out of the others and
 * given as `marked: {cpu, wall}`, and the tasks before it are left out. CPU time (`tdur`) is what the page's own work cost, which another process on the
 * machine cannot stretch; wall time (`dur`) also counts waiting for a core. Read line by
 * line (Chromium writes one event a line): the trace of a whole backup is hundreds of
 * MB, more than one string may hold, and nearly all of it is other threads.
 */
export function mainThreadTasks(trace, boundMs = 50, except = null) {
  const main = new Set();
  let markTs = null;
  const tasks = new Map();
  for (let start = 0; start < trace.length;) {
    let end = trace.indexOf(10, start);
    if (end === -1) end = trace.length;
    const line = trace.toString('utf8', start, end);
    start = end + 1;
    const isTask = line.includes('"ThreadControllerImpl::RunTask"');
    const isMark = except !== null && line.includes(`"${except}"`);
    if (!isTask && !isMark && !line.includes('"CrRendererMain"')) continue;
    const e = JSON.parse(line.trim().replace(/,$/, '').replace(/\]\}$/, ''));
    if (isMark && e.name === except) markTs ??= e.ts;
    const key = `${e.pid}:${e.tid}`;
    if (e.ph === 'M' && e.name === 'thread_name') main.add(key);
    else if (isTask && e.ph === 'X') {
      if (!tasks.has(key)) tasks.set(key, []);
      tasks.get(key).push(e);
    }
  }
  const all = [...tasks].filter(([k]) => main.has(k)).map(([, v]) => v).sort((a, b) => b.length - a.length)[0] ?? [];
  const ms = (us) => Math.round((us ?? 0) / 100) / 10;
  const mark = markTs === null ? null : all.find((e) => e.ts <= markTs && markTs <= e.ts + e.dur);
  // Tasks before the marked one are the test driver's (Playwright resolving the selector
  // and marking the input it sets files on: up to 45 ms of CPU), not the page's.
  const list = all.filter((e) => e !== mark && (!mark || e.ts > mark.ts));
  const cpu = list.map((e) => ms(e.tdur ?? e.dur));
  return {
    count: list.length,
    maxCpu: Math.max(0, ...cpu),
    maxWall: ms(Math.max(0, ...list.map((e) => e.dur))),
    over: cpu.filter((c) => c > boundMs).sort((a, b) => b - a),
    marked: mark ? { cpu: ms(mark.tdur ?? mark.dur), wall: ms(mark.dur) } : null,
  };
}
