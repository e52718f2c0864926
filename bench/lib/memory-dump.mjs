// Where a renderer's memory is: one Chromium memory-infra dump (the allocators' own
// accounting, as chrome://tracing shows it), taken through the browser's DevTools protocol.
// The RSS the benchmark samples says how much; this says whose.

const MIB = 1024 * 1024;

/**
 * The parts a renderer's memory is sorted into, each an allocator dump's name and what it
 * holds in words. Listed from the most specific: a part's size is taken out of the parts
 * after it that contain it (`array_buffer` is inside `partition_alloc`).
 */
export const PARTS = [
  ['partition_alloc/partitions/array_buffer', 'ArrayBuffer contents'],
  ['v8/workers', "workers' JS heaps"],
  ['blink_gc/workers', "workers' DOM and stream objects (Blink GC)"],
  ['v8', "page's JS heap and V8's shared space"],
  ['blink_gc', "page's DOM objects (Blink GC)"],
  ['partition_alloc', 'other PartitionAlloc (strings, buffers)'],
  ['malloc', 'malloc (native buffers)'],
  ['shared_memory', 'shared memory (IPC buffers)'],
];

/**
 * Takes one detailed memory dump of every process and returns, for the renderer processes
 * together, the MiB of each of `PARTS` (by its name). `cdp` is a browser-level CDP session
 * (`browser.newBrowserCDPSession()`).
 */
export async function rendererMemoryParts(cdp) {
  const events = [];
  const collect = (p) => events.push(...p.value);
  cdp.on('Tracing.dataCollected', collect);
  try {
    const complete = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
    await cdp.send('Tracing.start', {
      transferMode: 'ReportEvents',
      traceConfig: { includedCategories: ['disabled-by-default-memory-infra'], excludedCategories: ['*'], memoryDumpConfig: { triggers: [] } },
    });
    const { success } = await cdp.send('Tracing.requestMemoryDump', { deterministic: false, levelOfDetail: 'detailed' });
    await cdp.send('Tracing.end');
    await complete;
    if (!success) throw new Error('Chromium did not take the memory dump');
  } finally {
    cdp.off('Tracing.dataCollected', collect);
  }
  const names = {};
  for (const e of events) if (e.ph === 'M' && e.name === 'process_name') names[e.pid] = e.args.name;
  const parts = Object.fromEntries(PARTS.map(([name]) => [name, 0]));
  for (const dump of events.filter((e) => e.ph === 'v' && names[e.pid] === 'Renderer')) {
    const allocators = dump.args?.dumps?.allocators ?? {};
    const size = (name) => (allocators[name]?.attrs?.size ? parseInt(allocators[name].attrs.size.value, 16) : 0);
    const counted = {};
    for (const [name] of PARTS) {
      // What a more specific part already holds is not counted again in its parent.
      const inside = PARTS.map(([n]) => n).filter((n) => n !== name && n.startsWith(`${name}/`) && size(n));
      counted[name] = Math.max(0, size(name) - inside.reduce((s, n) => s + size(n), 0));
      parts[name] += counted[name] / MIB;
    }
  }
  return parts;
}
