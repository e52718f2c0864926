// Reading a Chrome trace of category `toplevel` (Playwright's `browser.startTracing`):
// the page's main-thread tasks and the CPU time each took.

/**
 * The tasks of the busiest renderer main thread in `trace` (a Buffer), as `{count, maxCpu,
 * maxWall, cpu, over, marked, overParts}` in ms: `cpu` is their sum, `over` the CPU times
 * above `boundMs`, longest first, and `overParts` what each of those tasks did.
 *
 * With `except` (the name of a `performance.mark`, traced with category
 * `blink.user_timing`), the task that made that mark is left out of the others and given
 * as `marked: {cpu, wall}`, and the tasks before it are left out.
 *
 * CPU time (`tdur`) is what the page's own work cost, which another process on the machine
 * cannot stretch (a hypervisor taking the core away can); wall time (`dur`) also counts
 * waiting for a core. Read line by line (Chromium writes one event a line): the trace of a
 * whole backup is hundreds of MB, more than one string may hold, and nearly all of it is
 * other threads.
 */
export function mainThreadTasks(trace, boundMs = 50, except = null) {
  const main = new Set();
  let markTs = null;
  const tasks = new Map();
  // Events of 5 ms or more inside tasks, to say what a long task did (with the categories
  // `devtools.timeline` and `v8` traced: script, style, layout, paint, GC).
  const parts = new Map();
  for (let start = 0; start < trace.length;) {
    let end = trace.indexOf(10, start);
    if (end === -1) end = trace.length;
    const line = trace.toString('utf8', start, end);
    start = end + 1;
    const isTask = line.includes('"ThreadControllerImpl::RunTask"');
    const isMark = except !== null && line.includes(`"${except}"`);
    const isPart = !isTask && line.includes('"ph":"X"') && Number(/"dur":(\d+)/.exec(line)?.[1] ?? 0) >= 5000;
    if (!isTask && !isMark && !isPart && !line.includes('"CrRendererMain"')) continue;
    const e = JSON.parse(line.trim().replace(/,$/, '').replace(/\]\}$/, ''));
    if (isMark && e.name === except) markTs ??= e.ts;
    const key = `${e.pid}:${e.tid}`;
    if (e.ph === 'M' && e.name === 'thread_name') main.add(key);
    else if (isPart) {
      if (!parts.has(key)) parts.set(key, []);
      parts.get(key).push(e);
    } else if (isTask && e.ph === 'X') {
      if (!tasks.has(key)) tasks.set(key, []);
      tasks.get(key).push(e);
    }
  }
  const [thread, all] = [...tasks].filter(([k]) => main.has(k)).sort((a, b) => b[1].length - a[1].length)[0] ?? [null, []];
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
    cpu: ms(list.reduce((sum, e) => sum + (e.tdur ?? e.dur), 0)),
    over: cpu.filter((c) => c > boundMs).sort((a, b) => b - a),
    marked: mark ? { cpu: ms(mark.tdur ?? mark.dur), wall: ms(mark.dur) } : null,
    // What each task over the bound did: its longest parts, as "name (where) ms".
    overParts: list.filter((e) => ms(e.tdur ?? e.dur) > boundMs).map((task) => ({
      cpu: ms(task.tdur ?? task.dur),
      wall: ms(task.dur),
      parts: (parts.get(thread) ?? [])
        .filter((p) => p.ts >= task.ts && p.ts + p.dur <= task.ts + task.dur)
        .sort((a, b) => b.dur - a.dur).slice(0, 8)
        .map((p) => `${p.name}${where(p)} ${ms(p.tdur ?? p.dur)}/${ms(p.dur)}`),
    })),
  };
}

/** Where a traced event ran, when the trace says: a script's function and URL. */
function where(event) {
  const data = event.args?.data ?? event.args?.beginData ?? {};
  const url = (data.url ?? data.scriptName ?? '').split('/').pop();
  const fn = data.functionName ?? data.type ?? '';
  return fn || url ? ` [${[fn, url].filter(Boolean).join(' ')}]` : '';
}
