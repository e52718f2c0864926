// BENCHMARKS.md, the SVG charts (hand-written templates, no chart library) and the stdout table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PARTS } from './memory-dump.mjs';

const MIB = 1024 * 1024;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export const median = (xs) => {
  if (!xs?.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const stat = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs?.length ?? 0 });
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
/** "median (min–max)", or just the value for one run. */
const spread = (xs, d = 1, scale = 1) => {
  if (!xs?.length) return '—';
  const s = stat(xs.map((x) => x / scale));
  return s.n === 1 ? fmt(s.median, d) : `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})`;
};
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const verdict = (met) => (met === null ? 'not measured' : met ? '**met**' : '**not met**');

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

function barChart(title, unit, rows) {
  const W = 760; const rowH = 34; const left = 250; const right = 90; const top = 46;
  const H = top + rows.length * rowH + 40;
  const max = niceMax(Math.max(...rows.map((r) => r.max ?? r.median)));
  const x = (v) => left + (v / max) * (W - left - right);
  const ticks = Array.from({ length: 6 }, (_, i) => (max * i) / 5);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>
${ticks.map((t) => `<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${H - 34}" stroke="#ddd"/><text x="${x(t)}" y="${H - 18}" text-anchor="middle" fill="#555">${fmt(t, t < 10 ? 1 : 0)}</text>`).join('\n')}
<text x="${(left + W - right) / 2}" y="${H - 3}" text-anchor="middle" fill="#555">${esc(unit)} (bar: median; whisker: min–max)</text>
${rows.map((r, i) => {
    const y = top + i * rowH;
    const whisker = r.n > 1 ? `<line x1="${x(r.min)}" y1="${y + 13}" x2="${x(r.max)}" y2="${y + 13}" stroke="#000"/><line x1="${x(r.min)}" y1="${y + 7}" x2="${x(r.min)}" y2="${y + 19}" stroke="#000"/><line x1="${x(r.max)}" y1="${y + 7}" x2="${x(r.max)}" y2="${y + 19}" stroke="#000"/>` : '';
    return `<text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(r.label)}</text>
<rect x="${left}" y="${y + 3}" width="${Math.max(0, x(r.median) - left)}" height="20" fill="${COLORS[i % COLORS.length]}"/>${whisker}
<text x="${x(Math.max(r.median, r.max ?? 0)) + 6}" y="${y + 18}">${fmt(r.median, r.median < 10 ? 2 : 0)}</text>`;
  }).join('\n')}
</svg>
`;
}

function lineChart(title, yUnit, series) {
  const W = 760; const H = 400; const left = 64; const right = 20; const top = 40; const bottom = 90;
  const xmax = niceMax(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[0]))));
  const ymax = niceMax(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const x = (v) => left + (v / xmax) * (W - left - right);
  const y = (v) => H - bottom - (v / ymax) * (H - top - bottom);
  const xt = Array.from({ length: 6 }, (_, i) => (xmax * i) / 5);
  const yt = Array.from({ length: 6 }, (_, i) => (ymax * i) / 5);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>
${yt.map((t) => `<line x1="${left}" y1="${y(t)}" x2="${W - right}" y2="${y(t)}" stroke="#ddd"/><text x="${left - 6}" y="${y(t) + 4}" text-anchor="end" fill="#555">${fmt(t, 0)}</text>`).join('\n')}
${xt.map((t) => `<text x="${x(t)}" y="${H - bottom + 18}" text-anchor="middle" fill="#555">${fmt(t, 0)}</text>`).join('\n')}
<text x="${(left + W - right) / 2}" y="${H - bottom + 36}" text-anchor="middle" fill="#555">seconds since the backup started</text>
<text transform="translate(16 ${(top + H - bottom) / 2}) rotate(-90)" text-anchor="middle" fill="#555">${esc(yUnit)}</text>
<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="#000"/>
${series.map((s, i) => `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`).join('\n')}
${series.map((s, i) => `<line x1="${left + (i % 2) * 340}" y1="${H - bottom + 58 + Math.floor(i / 2) * 16}" x2="${left + (i % 2) * 340 + 24}" y2="${H - bottom + 58 + Math.floor(i / 2) * 16}" stroke="${COLORS[i % COLORS.length]}" stroke-width="3"/><text x="${left + (i % 2) * 340 + 30}" y="${H - bottom + 62 + Math.floor(i / 2) * 16}">${esc(s.label)}</text>`).join('\n')}
</svg>
`;
}

function mdTable(head, rows) {
  return [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function textTable(head, rows) {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function writeReport(R, root) {
  const charts = join(root, 'bench', 'charts');
  mkdirSync(charts, { recursive: true });
  const m = R.machine;
  const runs = R.runs === 1 ? '1 run (quick mode: a smoke run, not a result)' : `${R.runs} runs`;
  const out = [];
  const key = []; // the stdout table: [figure, ferry, peer, ratio, goal, verdict]

  out.push(`# Benchmarks

Generated by \`cargo xtask bench${R.quick ? ' --quick' : ''}\` on ${R.date.slice(0, 10)} (${R.date}). Every figure is the
median over ${runs}, with the spread (min–max) in brackets. All systems ran in the same
run, on the same files, in the same browser, on loopback. The command regenerates this file.

| machine | |
|---|---|
| CPU | ${esc(m.cpu)}, ${m.cores} cores |
| RAM | ${(m.ram / 1024 ** 3).toFixed(1)} GiB |
| browser | Debian Chromium ${m.chromium} (headless, driven by playwright-core ${R.versions['playwright-core']}) |
| node | ${m.node} |
| ferry | commit ${esc(m.commit)}, wasm and ferry-server built in release |
| load average at start | ${m.load} |
| peers | tus-js-client ${R.versions['tus-js-client']}, uppy ${R.versions.uppy} (browser bundle; its @uppy/core ${R.versions['@uppy/core']}, @uppy/tus ${R.versions['@uppy/tus']}), @tus/server ${R.versions['@tus/server']} with @tus/file-store ${R.versions['@tus/file-store']}, hash-wasm ${R.versions['hash-wasm']} |
| wall time of the whole command | ${fmt(R.elapsed, 0)} s |

**Noise.** This machine is shared: other jobs used the CPU during the run, so absolute
figures move between runs. The ratios within one run are the figures to read. Input
files are generated on disk from a fixed seed (xoshiro128**), so every run uses the same
bytes; the page cache holds them, so reads come from memory, not disk.
`);

  // 1. Hashing.
  const H = R.hashing;
  const names = Object.keys(H);
  const ferry1 = H['ferry, 1 worker'];
  const poolName = names.find((n) => n.startsWith('ferry, pool'));
  const hw = H['hash-wasm, 1 worker'];
  const hashBytes = R.cfg.hash.reduce((a, b) => a + b, 0);
  const perWorker = median(ferry1) / median(hw);
  const scaling = poolName ? median(H[poolName]) / (median(ferry1) * R.cores) : NaN;
  out.push(`## 1. Hashing (SHA-256, MiB/s)

${R.cfg.hash.length} files of ${R.cfg.hash[0]} MiB (${hashBytes} MiB in all), picked from disk through a file input, hashed in
dedicated module workers created by the page. ferry: the engine's exported \`hashFile\`
(its wasm, 2 MiB slices). hash-wasm: \`createSHA256\` streaming over 4 MiB
\`File\` slices (its faster setting here: 155 MiB/s against 115 MiB/s with 1 MiB slices in one run). WebCrypto: \`crypto.subtle.digest('SHA-256', await file.arrayBuffer())\`,
one shot per file. Each worker first hashes 4 MiB to warm up. Every digest is checked
against node's SHA-256 of the file. The pool has \`navigator.hardwareConcurrency\` = ${R.cores}
workers taking files from one queue (the engine itself starts
\`min(cores − 1, 4)\` hashing workers, that is ${Math.min(Math.max(R.cores - 1, 1), 4)} here).

${R.errors.hashing ? `**Failed:** ${esc(R.errors.hashing)}\n\n` : ''}${mdTable(['system', 'MiB/s', 'vs hash-wasm'], names.map((n) => [n, spread(H[n], 0), `${fmt(median(H[n]) / median(hw), 2)}×`]))}

Pool scaling is the pool's median over (${R.cores} × the single worker's median): ${fmt(scaling, 2)}×. Against the fastest
single-worker run (${fmt(Math.max(...(ferry1 ?? [])), 0)} MiB/s) it would be ${fmt(poolName ? median(H[poolName]) / (Math.max(...ferry1) * R.cores) : NaN, 2)}×; on this shared machine the run-to-run
noise is larger than the margin to the goal, so read that verdict with care.

![hashing throughput](bench/charts/hashing.svg)
`);
  writeFileSync(join(charts, 'hashing.svg'), barChart(`SHA-256 throughput, ${hashBytes} MiB of files`, 'MiB/s', names.map((n) => ({ label: n, ...stat(H[n]) }))));
  key.push(['hashing MiB/s per worker', fmt(median(ferry1), 0), `hash-wasm ${fmt(median(hw), 0)}`, `${fmt(perWorker, 2)}×`, '≥ 1.1×', verdict(Number.isFinite(perWorker) ? perWorker >= 1.1 : null)]);
  key.push([`hash pool scaling (${R.cores} workers)`, poolName ? fmt(median(H[poolName]), 0) : '—', `linear ${fmt(median(ferry1) * R.cores, 0)}`, `${fmt(scaling, 2)}×`, '≥ 0.85×', verdict(Number.isFinite(scaling) ? scaling >= 0.85 : null)]);

  // 2. Fresh backup.
  const F = R.fresh;
  const sys = Object.keys(F);
  const small = `${R.cfg.small[0]} × ${R.cfg.small[1]} MiB + ${R.cfg.large.map((l) => `${l} MiB`).join(' + ')}`;
  const wall = (s) => median(F[s]?.wall);
  const goal2 = wall('ferry → @tus/server') / wall('tus-js-client → @tus/server');
  const goal2b = wall('ferry → ferry-server') / wall('tus-js-client → @tus/server');
  out.push(`## 2. Fresh backup (wall time)

${small} (${fmt(R.cfg.small[0] * R.cfg.small[1] + R.cfg.large.reduce((a, b) => a + b, 0), 0)} MiB), from a file input, on loopback, each run against a
fresh server (ferry-server release build with a new data directory; \`@tus/server\` with
\`@tus/file-store\` in its own node process with a new store) and a fresh browser context.
Timed in the page from handing the files over to the last upload finishing.

- **ferry → ferry-server**: \`Backup.open\` with a new \`catalogName\`, \`backup.add(input.files)\`,
  until every asset is \`uploaded\`. Includes hashing, the batched dedup check, per-chunk
  fsync on the server and the server's whole-file SHA-256 check.
- **ferry → @tus/server**: the same engine with \`tusEndpoint\` and \`dedup: false\`; it still hashes
  every file and sends the checksum as metadata.
- **tus-js-client → @tus/server**: one \`tus.Upload\` per file, 3 at a time, default options
  (\`chunkSize: Infinity\`, fingerprints stored for resuming), \`metadata\` with filename and type.
- **Uppy + @uppy/tus → @tus/server**: \`new Uppy.Uppy()\`, \`.use(Uppy.Tus, {endpoint})\`,
  \`addFiles\`, \`upload()\`; Uppy's defaults, which upload 20 files at a time (\`limit: 20\`).
  Uppy runs from its official browser bundle \`uppy/dist/uppy.min.js\`.

Long tasks are PerformanceObserver \`longtask\` entries (> 50 ms) on the page's main thread
during the backup.

${R.errors.fresh ? `**Failed:** ${esc(R.errors.fresh)}\n\n` : ''}${mdTable(['system', 'wall time, s', 'MiB/s', 'vs tus-js-client', 'long tasks', 'longest task, ms'], sys.map((s) => [
    s + (F[s].error ? ` (failed: ${esc(F[s].error)})` : ''), spread(F[s].wall, 1), spread(F[s].mbps, 0),
    `${fmt(wall(s) / wall('tus-js-client → @tus/server'), 2)}×`, spread(F[s].longTasks, 0), spread(F[s].longestTask, 0)]))}

**CPU time** of each part, in seconds (user + system, from \`/proc/PID/stat\`, summed over
the processes of each kind, from handing the files over to the last upload). *Page and
workers* is the renderer (the page, the hashing worker, wasm); *browser* is Chromium's main
process, which serves every read of a \`File\` and runs IndexedDB; *network* is its network
service; *server* is the server's process. *Cores busy* is the total over the wall time.

${mdTable(['system', 'page and workers', 'browser', 'network', 'server', 'total', 'cores busy'], sys.filter((s) => F[s].cpu?.length).map((s) => {
    const part = (k) => F[s].cpu.map((c) => c[k] ?? 0);
    const total = F[s].cpu.map((c) => Object.values(c).reduce((a, b) => a + b, 0));
    return [s, spread(part('renderer'), 1), spread(part('browser'), 1), spread(part('network'), 1), spread(part('server'), 1), spread(total, 1),
      fmt(median(total) / wall(s), 2)];
  }))}

${(() => {
    const ferry = F['ferry → @tus/server'];
    const tus = F['tus-js-client → @tus/server'];
    if (!(goal2 > 1) || !ferry?.cpu?.length || !tus?.cpu?.length) return '';
    const cpu = (x, k) => median(x.cpu.map((c) => (k ? c[k] ?? 0 : Object.values(c).reduce((a, b) => a + b, 0))));
    const bigMiB = R.cfg.large.reduce((a, b) => a + b, 0);
    return `**Profile.** ferry → @tus/server takes ${fmt(wall('ferry → @tus/server'), 1)} s where tus-js-client takes ${fmt(wall('tus-js-client → @tus/server'), 1)} s, on the same server.
The table says why: this machine has ${R.cores} cores, and tus-js-client alone keeps ${fmt(cpu(tus) / wall('tus-js-client → @tus/server'), 2)} of them busy
(${fmt(cpu(tus), 1)} CPU s), so whatever ferry does on top of sending the bytes adds to the wall time. ferry spends
${fmt(cpu(ferry), 1)} CPU s: ${fmt(cpu(ferry, 'renderer') - cpu(tus, 'renderer'), 1)} s more in the page and workers, where it hashes every byte (files up to 16 MiB
with WebCrypto's \`digest\`, the ${bigMiB} MiB of large files with \`sha2\` in the hashing worker, about ${fmt(bigMiB / median(ferry1), 1)} s alone at the
${fmt(median(ferry1), 0)} MiB/s above) and runs the catalog; and ${fmt(cpu(ferry, 'browser') - cpu(tus, 'browser'), 1)} s more in the browser process, which serves each
file twice (once to the hashing worker, once to the upload) and writes the kept copies of the files up to 64 MiB to IndexedDB
(${fmt(R.cfg.small[0] * R.cfg.small[1] / 1024, 1)} GiB here, so a background sync can finish after the tab closes; measured apart on
2026-12-04 with \`keepFilesUpTo: 0\`, 3 runs each, they cost the browser process about 1.2 CPU s and the backup about 1 s).
A large file the server cannot have is sent while it is hashed, each chunk read once in the worker for the file's
SHA-256 and, against ferry-server, for the chunk's \`Upload-Checksum\` (one native digest); @tus/server verifies no chunk.
Most of the gap is the hashing itself, the price of dedup and integrity on 2 cores. Sending the bytes the worker read,
rather than a slice the browser process reads again, would not narrow it: in this Chromium an \`ArrayBuffer\` body is far
slower than a \`Blob\` slice (measured in section "One large new file" below). Keeping copies only of the files still
waiting when the page hides would take about the 1 s above off. On machines with more cores the hashing runs beside the
upload instead of competing with it.
`;
  })()}
![fresh backup throughput](bench/charts/fresh-backup.svg)
`);
  writeFileSync(join(charts, 'fresh-backup.svg'), barChart(`Fresh backup throughput, ${small}`, 'MiB/s', sys.filter((s) => F[s].mbps.length).map((s) => ({ label: s, ...stat(F[s].mbps) }))));
  key.push(['fresh backup wall s, same server', fmt(wall('ferry → @tus/server'), 1), `tus-js-client ${fmt(wall('tus-js-client → @tus/server'), 1)}`, `${fmt(goal2, 2)}×`, '≤ 1×', verdict(Number.isFinite(goal2) ? goal2 <= 1 : null)]);
  key.push(['fresh backup wall s, ferry-server', fmt(wall('ferry → ferry-server'), 1), `tus-js-client ${fmt(wall('tus-js-client → @tus/server'), 1)}`, `${fmt(goal2b, 2)}×`, '(≤ 1×)', verdict(Number.isFinite(goal2b) ? goal2b <= 1 : null)]);
  key.push(['fresh backup wall s, Uppy', '', `Uppy ${fmt(wall('Uppy + @uppy/tus → @tus/server'), 1)}`, `${fmt(wall('ferry → @tus/server') / wall('Uppy + @uppy/tus → @tus/server'), 2)}×`, '', '']);

  // 3. Re-run.
  const RR = R.rerun;
  const fr = median(RR.ferry?.rerun);
  const tr = median(RR.tus?.rerun);
  const ratio3 = tr / fr;
  const tusTimeout = RR.tus?.timedOut;
  out.push(`## 3. Re-run over ${R.cfg.rerun.toLocaleString('en')} files already backed up

${R.cfg.rerun.toLocaleString('en')} files of 2–8 KiB. Set-up, not a figure: tus-js-client in node uploads every file
to each system's server, 16 at a time (backing them up through each browser first took longer
than this whole command may). Then each browser is given what the system itself keeps: ferry
backs the files up in a fresh catalog, where all are already on the server (the **new device**
row below: hashing every file, batched checksum checks, no upload); tus-js-client's resume
records are written with its own \`fingerprint\` and \`urlStorage\`, as a finished \`tus.Upload\`
leaves them. Then the page is reloaded, the same files are picked again, and the time to
"nothing to do" is measured. ferry: \`backup.add\` in the same catalog until every new asset is
\`duplicate\` (its hash cache skips hashing; batched dedup checks). tus-js-client: for each file,
\`findPreviousUploads()\`, \`resumeFromPreviousUpload()\`, \`start()\`, 3 at a time, until each
reports success (a \`HEAD\` per file). Both servers of this test keep their data in memory
(\`/dev/shm\`), so the set-up is not bound by their disk syncs. The uploads from node and
tus-js-client's records run alongside the memory and resume tests; ferry's new-device pass and the
timed re-runs run alone, one after the other.

${R.rerunNote ? `**Note.** ${R.rerunNote}\n\n` : ''}${[R.errors['rerun-ferry'], R.errors['rerun-tus']].filter(Boolean).map((e) => `**Failed:** ${esc(e)}\n\n`).join('')}${mdTable(['system', 'set-up upload from node, s', 're-run, s', 'requests in a re-run'], [
    ['ferry → ferry-server', fmt(RR.ferry?.seed, 1), spread(RR.ferry?.rerun, 2), RR.ferry?.requests ? `${RR.ferry.requests.checks} dedup check(s), ${RR.ferry.requests.creations} creations, ${RR.ferry.requests.patches} PATCH` : '—'],
    ['tus-js-client → @tus/server', fmt(RR.tus?.seed, 1), tusTimeout ? `> ${fmt(tusTimeout, 0)} (stopped)` : spread(RR.tus?.rerun, 2), RR.tus?.heads !== undefined ? `${RR.tus.heads} HEAD` : '—'],
  ])}

**New device.** ferry in a fresh catalog over the ${R.cfg.rerun.toLocaleString('en')} files the server already holds: ${fmt(RR.ferry?.first, 1)} s, with
${RR.ferry?.firstRequests ? `${RR.ferry.firstRequests.checks} dedup check(s), ${RR.ferry.firstRequests.creations} upload creations and ${RR.ferry.firstRequests.patches} PATCH` : '—'}. Main-thread long tasks
during it: ${RR.ferry?.firstLongTasks ?? '—'} (longest ${fmt(RR.ferry?.firstLongestTask, 0)} ms).

Ratio: tus-js-client's re-run takes **${tusTimeout ? `> ${fmt(tusTimeout / fr, 1)}` : fmt(ratio3, 1)}×** ferry's.
`);
  // Without ferry's figure there is no ratio, whatever tus-js-client did.
  if (!RR.ferry?.rerun?.length) key.push([`re-run ${R.cfg.rerun} files, s`, 'set-up did not finish', `tus-js-client ${tusTimeout ? `> ${fmt(tusTimeout, 0)}` : fmt(tr, 2)}`, '', '≥ 20×', `${verdict(null)} (see section 3)`]);
  else key.push([`re-run ${R.cfg.rerun} files, s`, fmt(fr, 2), `tus-js-client ${tusTimeout ? `> ${fmt(tusTimeout, 0)}` : fmt(tr, 2)}`, `${tusTimeout ? '>' : ''}${fmt(tusTimeout ? tusTimeout / fr : ratio3, 1)}× faster`, '≥ 20×', verdict(tusTimeout ? true : Number.isFinite(ratio3) ? ratio3 >= 20 : null)]);

  // 4. Resume waste.
  const RS = R.resume;
  const chunk = 8 * MIB;
  if (RR.ferry?.seen) {
    out.push(`**Profile of ferry's re-run.** \`backup.add()\` itself resolved after ${fmt(RR.ferry.addMs / 1000, 2)} s, and
every file was settled in it: ${Object.entries(RR.ferry.seen).map(([k, v]) => `${v.toLocaleString('en')} × \`${k}\``).join(', ')} changes,
${RR.ferry.requests?.checks} dedup request(s), no upload request and no hashing: each file keeps the record of the new-device
pass, announced again, and nothing is written. A CPU profile of the page during one re-run (CDP
\`Profiler\`, 2026-12-03, Chromium 148, 4.55 s under the profiler) puts 2.4 s in reading the
\`size\` of the 10,000 freshly picked \`File\`s (Chromium looks each file up on disk, on the main
thread, the first time), about 1.3 s in the three IndexedDB lookups of the pick (the record
waiting under each fingerprint, the hash cache, the checksum index) and 0.5 s in the change
events. Until this engine a
re-run recorded a new \`duplicate\` for every file: 16.2 s, 10 s of it writing those records.
`);
  }
  out.push(`## 4. Resume waste: a reload at 50 % of a ${R.cfg.resume} MiB upload

One file of ${R.cfg.resume} MiB. The page's upload is throttled with CDP
\`Network.emulateNetworkConditions\` (${R.quick ? 48 : 96} MiB/s) so that the reload lands near the half; the
throttle is lifted after the reload. The page talks to its server through a counting TCP
proxy that parses the HTTP/1.1 requests and adds up the body bytes of every upload request
(\`PATCH\`, and \`POST\` with a tus body). **Bytes sent twice = upload body bytes on the wire − file
size**: it includes what was in flight when the page went away. ferry resumes by itself when
\`Backup.open\` runs again; tus-js-client resumes with \`findPreviousUploads\` +
\`resumeFromPreviousUpload\` after the file is picked again.

${R.errors.resume ? `**Failed:** ${esc(R.errors.resume)}\n\n` : ''}${mdTable(['system', 'runs', 'sent at reload, MiB', 'acknowledged before reload, MiB', 'first PATCH offset after, MiB', 'bytes sent twice, MiB'], Object.entries(RS).map(([s, xs]) => [
    s, xs.length, spread(xs.map((x) => x.atReload), 0, MIB), xs[0].ackedBefore === null ? 'n/a (one streaming PATCH)' : spread(xs.map((x) => x.ackedBefore), 0, MIB),
    spread(xs.map((x) => x.resumeOffset), 1, MIB), spread(xs.map((x) => x.twice), 2, MIB)]))}

${Object.values(RS).flat().some((x) => x.repicked && x.ackedBefore !== null) ? `After the reload, ferry's catalog listed the asset as skipped with "The browser did not keep this
file after the page closed. Add it again to continue where its backup stopped", so the file
was picked and added again, as for tus-js-client; the engine then continued the same upload
from the acknowledged offset (its hash first reads the part sent before the reload once more).
${pageErrorsNote(R.pageErrors)}

` : ''}ferry's chunk is 8 MiB at the start, then adapted to the link (up to 64 MiB, and at most
16 MiB where chunks carry checksums, as on ferry-server); the goal is
checked against the chunk in flight when it is known (the size of the chunk before it), else
against 8 MiB. tus-js-client sends the whole
file in one \`PATCH\` (\`chunkSize: Infinity\`), and \`@tus/server\` keeps whatever part of it arrived.
`);
  for (const [s, xs] of Object.entries(RS)) {
    const w = median(xs.map((x) => x.twice));
    const c = median(xs.map((x) => x.chunk).filter((x) => x));
    const bar = Number.isFinite(c) ? c : chunk;
    key.push([`resume waste MiB, ${s.split(' ')[0]}`, fmt(w / MIB, 2), '', '', `≤ 1 chunk (${fmt(bar / MIB, 0)} MiB)`, verdict(w <= bar)]);
  }

  // 5. Memory.
  const mem = R.memory;
  out.push(`## 5. Memory during the fresh backup (${small})

Sampled every 250 ms during each system's first fresh-backup run: the resident memory (VmRSS)
of every Chromium renderer process (the page and its workers, including the hashing
workers and wasm memory), the page's JS heap (CDP \`Performance.getMetrics\`,
\`JSHeapUsedSize\`, main thread only), and the server's RSS. Server peak is \`VmHWM\` from
\`/proc/PID/status\` at the end of the run. "Above idle" subtracts the renderer's RSS
measured just before the files were handed over.

${mdTable(['system', 'renderer RSS peak, MiB', 'above idle, MiB', 'page JS heap peak, MiB', 'server peak RSS, MiB'], sys.filter((s) => F[s].rendererPeak.length).map((s) => [
    s, spread(F[s].rendererPeak, 0, MIB), spread(F[s].rendererPeak.map((p, i) => p - F[s].rendererIdle[i]), 0, MIB),
    spread(F[s].heapPeak, 1, MIB), `${spread(F[s].serverPeak, 0, MIB)} (${s.endsWith('ferry-server') ? 'ferry-server' : '@tus/server + static files, node'})`]))}

${(() => {
    const f = F['ferry → ferry-server'];
    if (!f?.rendererPeak.length) return '';
    const above = median(f.rendererPeak.map((p, i) => p - f.rendererIdle[i]));
    if (above <= 64 * MIB) return '';
    return `**Profile.** ferry's page JS heap stays at ${fmt(median(f.heapPeak) / MIB, 0)} MiB, so the ${fmt(above / MIB, 0)} MiB above idle is outside the
main thread's heap: in the renderer's native memory. ${READ_MEMORY}
`;
  })()}
![renderer memory over time](bench/charts/memory-renderer.svg)

![server memory over time](bench/charts/memory-server.svg)
`);
  writeFileSync(join(charts, 'memory-renderer.svg'), lineChart(`Renderer RSS (page + workers) during the fresh backup`, 'MiB', Object.entries(mem).map(([s, xs]) => ({ label: s, points: xs.map((p) => [p.t, p.renderer / MIB]) }))));
  writeFileSync(join(charts, 'memory-server.svg'), lineChart(`Server RSS during the fresh backup`, 'MiB', Object.entries(mem).map(([s, xs]) => ({ label: s, points: xs.map((p) => [p.t, p.server / MIB]) }))));
  const fm = F['ferry → ferry-server'];
  const aboveIdle = (x) => (x ? median(x.rendererPeak.map((p, i) => p - x.rendererIdle[i])) : NaN);
  if (fm?.rendererPeak.length) {
    key.push(['memory above idle MiB, fresh backup', fmt(aboveIdle(fm) / MIB, 0), `tus-js-client ${fmt(aboveIdle(F['tus-js-client → @tus/server']) / MIB, 0)}`, '', '', '']);
    key.push(['server peak RSS MiB, fresh backup', fmt(median(fm.serverPeak) / MIB, 0), `@tus/server ${fmt(median(F['tus-js-client → @tus/server']?.serverPeak) / MIB, 0)}`, '', '', '']);
  }

  // 5b. Memory while backing up one very large file.
  const LM = R.largeMemory;
  const lmSystems = Object.keys(LM ?? {}).filter((k) => k !== 'mib');
  if (LM) {
    const lf = LM['ferry → ferry-server'];
    const lt = LM['tus-js-client → @tus/server'];
    const above = lf ? lf.peak - lf.idle : NaN;
    out.push(`### Memory while backing up one ${LM.mib >= 1024 ? `${fmt(LM.mib / 1024, 0)} GiB` : `${LM.mib} MiB`} file

One new file, backed up once by ferry to ferry-server (which sends a file this large while
hashing it) and once by tus-js-client to \`@tus/server\` (one streaming \`PATCH\`), each in a
fresh browser context, sampled every 250 ms as above. One run each: the file takes minutes.
This test runs alongside the re-run test's set-up uploads from node (section 3; no browser
page), so its wall times are not figures; the memory is.

${R.errors.memory ? `**Failed:** ${esc(R.errors.memory)}\n\n` : ''}${mdTable(['system', 'wall time, s', 'renderer RSS idle, MiB', 'peak, MiB', 'above idle, MiB', 'page JS heap peak, MiB', 'server peak RSS, MiB'], lmSystems.map((k) => [
    k, fmt(LM[k].wall, 1), fmt(LM[k].idle / MIB, 0), fmt(LM[k].peak / MIB, 0), fmt((LM[k].peak - LM[k].idle) / MIB, 0), fmt(LM[k].heapPeak / MIB, 1), fmt(LM[k].serverPeak / MIB, 0)]))}
${memoryParts(LM, lmSystems)}${above > 64 * MIB ? `
**Profile.** ${R.largeMemoryProfile ?? `ferry's page JS heap peaks at ${fmt(lf.heapPeak / MIB, 0)} MiB, so the ${fmt(above / MIB, 0)} MiB above idle is outside the
page's heap. ${READ_MEMORY}`}
` : ''}
![renderer memory during the large upload](bench/charts/memory-large.svg)
`);
    writeFileSync(join(charts, 'memory-large.svg'), lineChart(`Renderer RSS (page + workers), one ${LM.mib} MiB file`, 'MiB', lmSystems.map((k) => ({ label: k, points: LM[k].samples.map((p) => [p.t, p.renderer / MIB]) }))));
    key.push([`memory above idle MiB, one ${LM.mib} MiB file`, fmt(above / MIB, 0), `tus-js-client ${fmt(lt ? (lt.peak - lt.idle) / MIB : NaN, 0)}`, '', '≤ 64 MiB', verdict(Number.isFinite(above) ? above <= 64 * MIB : null)]);
  }
  if (RR.ferry?.firstLongTasks !== undefined) key.push([`long tasks > 50 ms, new device over ${R.cfg.rerun} files`, RR.ferry.firstLongTasks, '', '', 'none', verdict(RR.ferry.firstLongTasks === 0)]);
  if (fm?.longTasks.length) key.push(['long tasks > 50 ms, fresh backup', fmt(median(fm.longTasks), 0), `tus-js-client ${fmt(median(F['tus-js-client → @tus/server']?.longTasks), 0)}`, '', 'none', verdict(median(fm.longTasks) === 0)]);

  // 6. Main-thread health.
  const MT = R.mainThread ?? {};
  const mtSystems = Object.keys(MT);
  if (mtSystems.length) {
    const [count, mib] = R.cfg.many;
    out.push(`## 6. Main-thread health: a backup of ${count.toLocaleString('en')} files

${count.toLocaleString('en')} files of ${mib} MiB (photo-sized), picked through a file input and backed up as in section 2,
each system into a fresh server (ferry-server for ferry, \`@tus/server\` for the peers) and a fresh
browser context, one run each. Long tasks are PerformanceObserver \`longtask\` entries (> 50 ms)
on the page's main thread, from handing the files over to the last upload; a task that long
delays a click or a frame.

${R.errors['main-thread'] ? `**Failed:** ${esc(R.errors['main-thread'])}\n\n` : ''}${mdTable(['system', 'wall time, s', 'files/s', 'long tasks', 'longest task, ms'], mtSystems.map((s) => [
    s + (MT[s].error ? ` (failed: ${esc(MT[s].error)})` : ''), spread(MT[s].wall ?? [], 1), fmt(count / median(MT[s].wall ?? []), 0),
    spread(MT[s].longTasks ?? [], 0), spread(MT[s].longestTask ?? [], 0)]))}
`);
    const ferryMt = MT['ferry → ferry-server'];
    if (ferryMt?.longTasks?.length) key.push([`long tasks > 50 ms, ${count.toLocaleString('en')}-file backup`, fmt(median(ferryMt.longTasks), 0), `tus-js-client ${fmt(median(MT['tus-js-client → @tus/server']?.longTasks ?? []), 0)}`, '', 'none', verdict(median(ferryMt.longTasks) === 0)]);
  }

  // 7. Size.
  out.push(`## Size of what the page loads
${R.sizesDate && R.sizesDate !== R.date ? `
Measured on ${R.sizesDate.slice(0, 16).replace('T', ' ')} UTC, from the package built then.
` : ''}
${mdTable(['package', 'bytes', 'gzip -9, bytes'], Object.entries(R.sizes).map(([k, v]) => [k, v.raw.toLocaleString('en'), v.gzip.toLocaleString('en')]))}
`);
  const sizeOf = (prefix) => Object.entries(R.sizes).find(([k]) => k.startsWith(prefix))?.[1]?.gzip;
  const engineGz = sizeOf('ferry engine (');
  const elementGz = sizeOf('ferry engine + ');
  const uppyGz = sizeOf('Uppy');
  if (engineGz) key.push(['engine gzipped KiB', fmt(engineGz / 1024, 0), `tus-js-client ${fmt(sizeOf('tus-js-client') / 1024, 0)}`, '', '< 100 KiB', verdict(engineGz < 100 * 1024)]);
  if (elementGz && uppyGz) key.push(['engine + element gzipped KiB', fmt(elementGz / 1024, 0), `uppy.min.js ${fmt(uppyGz / 1024, 0)}`, fmt(elementGz / uppyGz, 2), '< uppy.min.js', verdict(elementGz < uppyGz)]);

  // Cold start.
  if (Object.keys(R.coldStart ?? {}).length) {
    out.push(`## Cold start

From requesting the first script to an uploader ready to take files, in a fresh browser
context each run (the host sends \`Cache-Control: no-store\`, so nothing is cached). ferry's
figure includes fetching and compiling the wasm, opening its IndexedDB catalog, and starting
its hashing workers (each loads the engine too, and \`create\` waits for them so a bad
worker URL fails there, with a clear error, rather than at the first file).

${mdTable(['system', 'ms'], Object.entries(R.coldStart).map(([k, v]) => [k, spread(v, 0)]))}
`);
  }

  // One large file.
  const S = R.single;
  if (S?.overlapped?.length) {
    const upload = S.sequential.map((t, i) => t - S.hash[i]);
    const ratio = median(S.overlapped) / Math.max(median(S.hash), median(upload));
    out.push(`## One large new file: hashing overlapped with sending

One new ${S.mib} MiB file, backed up by ferry to ferry-server. A large file whose size the
server does not know cannot be a duplicate, so ferry sends it while a worker hashes it and
checks the server's asset against the hash at the end. A file of a size the server knows is
hashed first, then sent: each run backs up a second new file of the same size that way, so
both paths are measured on the same server. "hash alone" is the engine's hash worker on the
file; "send alone" is the hashed-first time less the hash.${S.date && S.date !== R.date ? `
Measured on ${S.date.slice(0, 16).replace('T', ' ')} UTC (load average ${S.load}), apart
from the rest of this report.` : ''}

${mdTable(['path', 's'], [
    ['sent while hashed', spread(S.overlapped)],
    ['hashed first, then sent', spread(S.sequential)],
    ['hash alone', spread(S.hash)],
    ['send alone (hashed first − hash)', spread(upload)],
  ])}
${singleCpu(S, R.machine.cores)}${overLink(R.singleLink, R.machine.cores)}${uploadBodies(R.uploadBodies)}`);
    key.push([`one ${S.mib} MiB file: time ÷ max(hash, send)`, fmt(median(S.overlapped), 1), `hashed first ${fmt(median(S.sequential), 1)} s`, fmt(ratio, 2), '≈ 1 (not the sum)', verdict(ratio <= 1.15)]);
    const L = R.singleLink;
    if (L?.overlapped?.length) {
      const linkSend = median(L.sequential.map((t, i) => t - L.hash[i]));
      const linkRatio = median(L.overlapped) / Math.max(median(L.hash), linkSend);
      key.push([`one ${L.mib} MiB file, ${fmt(L.mib * MIB * 8 / linkSend / 1e6, 0)} Mbit/s uplink: time ÷ max(hash, send)`, fmt(median(L.overlapped), 1), `hashed first ${fmt(median(L.sequential), 1)} s`, fmt(linkRatio, 2), '≈ 1 (not the sum)', verdict(linkRatio <= 1.15)]);
    }
  }

  // 8. Server ingest.
  const I = R.ingest;
  if (I) {
    const names = Object.keys(I).filter((k) => !['clients', 'mib'].includes(k));
    const ratio = median(I['ferry-server']?.mbps) / median(I['@tus/server']?.mbps);
    out.push(`## 8. Server ingest: ${I.clients} tus clients at once

${I.clients} uploads at once of distinct ${I.mib} MiB buffers (${fmt((I.clients * I.mib) / 1024, 1)} GiB in all) by tus-js-client ${R.versions['tus-js-client']}
in node, on loopback, with its defaults (one \`PATCH\` per upload), into a fresh server each run:
ferry-server (release; SQLite and local disk, fsync per chunk, the whole file's SHA-256
checked at the end) and \`@tus/server\` with \`@tus/file-store\` (its node process also serves
the benchmark's static files, idle here). The client runs in the benchmark's own node process,
on the same ${R.machine.cores} cores. Peak RSS is the server process's \`VmHWM\`.

${R.errors.server ? `**Failed:** ${esc(R.errors.server)}\n\n` : ''}${mdTable(['server', 'MiB/s', 'peak RSS, MiB'], names.map((k) => [k, spread(I[k].mbps, 0), spread(I[k].peak, 0, MIB)]))}

ferry-server ingests ${fmt(ratio, 2)}× what \`@tus/server\` does.
`);
    key.push([`server ingest MiB/s, ${I.clients} clients`, fmt(median(I['ferry-server']?.mbps), 0), `@tus/server ${fmt(median(I['@tus/server']?.mbps), 0)}`, `${fmt(ratio, 2)}×`, '', '']);
    key.push([`server peak RSS MiB, ${I.clients} clients`, fmt(median(I['ferry-server']?.peak) / MIB, 0), `@tus/server ${fmt(median(I['@tus/server']?.peak) / MIB, 0)}`, '', '', '']);
  }

  // Goals.
  out.push(`## Goals (issue 7)

${mdTable(['figure', 'ferry', 'peer', 'ratio', 'goal', 'verdict'], key.filter((k) => k[4]))}
${['memory', 'server'].filter((k) => !({ memory: R.largeMemory, server: R.ingest })[k]).map((k) => `
Not measured in this run: ${k === 'memory' ? 'memory while backing up one 4 GiB file' : 'the server ingest with 16 tus clients'}.`).join('')}
`);
  if (Object.keys(R.errors).length) {
    out.push(`## Errors in this run\n\n${Object.entries(R.errors).map(([k, v]) => `- ${k}: ${esc(v)}`).join('\n')}\n`);
  }
  writeFileSync(join(root, 'BENCHMARKS.md'), out.join('\n'));
  return `\n${textTable(['figure', 'ferry', 'peer', 'ratio', 'goal', 'verdict'], key.map((k) => k.map((c) => String(c).replace(/\*/g, ''))))}\n`;
}

/**
 * Where each system's renderer memory was, by allocator (Chromium's memory-infra dumps;
 * `lib/memory-dump.mjs`): at idle, and in the dump taken while the sampled RSS was highest.
 */
function memoryParts(LM, systems) {
  const shown = systems.filter((k) => LM[k].parts?.busy);
  if (!shown.length) return '';
  const growth = (k, name) => LM[k].parts.busy[name] - LM[k].parts.idle[name];
  const rssGrowth = (k) => (LM[k].parts.busy.rss - LM[k].idle) / MIB;
  const counted = (k) => PARTS.reduce((s, [name]) => s + growth(k, name), 0);
  const rows = PARTS.map(([name, words]) => [`${words} (\`${name}\`)`, ...shown.flatMap((k) => [fmt(LM[k].parts.idle[name], 1), fmt(growth(k, name), 1)])]);
  rows.push(['not in these allocators (wasm memory, code, stacks, page cache of mapped files)', ...shown.flatMap((k) => ['', fmt(rssGrowth(k) - counted(k), 1)])]);
  rows.push(['**renderer RSS above idle, when dumped**', ...shown.flatMap((k) => ['', `**${fmt(rssGrowth(k), 1)}**`])]);
  return `
**Where it is.** Chromium's own accounting of the renderer processes' memory (memory-infra
dumps over DevTools, every 5 s during the upload; the one taken when the sampled RSS was
highest, ${shown.map((k) => `${fmt(LM[k].parts.busy.t, 0)} s in for ${k.split(' ')[0]}`).join(', ')}), in MiB, against one taken at idle:

${mdTable(['part', ...shown.flatMap((k) => [`${k.split(' ')[0]} idle`, `${k.split(' ')[0]} growth`])], rows)}
`;
}

/**
 * Where the renderer's memory above idle goes while ferry reads a large file, measured
 * apart (2026-12-06, Chromium 148, a 3 GiB file read in a dedicated worker, renderer RSS
 * sampled every 100 ms).
 */
const READ_MEMORY = `It grows with how fast the worker reads the file, not with ferry's own
buffers: measured apart on a 3 GiB file, the renderer went 23 MiB above idle while ferry's worker
streamed the file's SHA-256 (2 MiB slices, about 300 MiB/s), and 86 MiB while a plain worker only
read it through the same \`blob.stream()\` BYOB reads as fast as it could (2 MiB reads, no hashing at
all); 107 MiB with 16 MiB reads and a WebCrypto digest each (ferry's chunk checksums read this way),
and 465 MiB with \`slice().arrayBuffer()\` per 16 MiB. Chromium's blob reads leave memory behind that
is freed lazily, and a faster upload reads faster. Reading a 16 MiB chunk in 2 MiB requests rather than one made no difference (107 MiB both).`;

/** What the benchmark's pages threw that nobody caught, in this run. */
function pageErrorsNote(errors = {}) {
  const entries = Object.entries(errors);
  if (!entries.length) return 'No page of this run threw an error nobody caught.';
  return `Uncaught errors in this run's pages: ${entries.map(([m, n]) => `\`${esc(m)}\` (${n}×)`).join(', ')}.`;
}

/**
 * The CPU seconds of each process kind while one large file was backed up each way, and
 * the time the machine's cores could not beat: all that CPU spread over every core.
 */
function singleCpu(S, cores) {
  if (!S.cpuOverlapped?.length) return '';
  const total = (c) => Object.values(c).reduce((a, b) => a + b, 0);
  const row = (name, cpu, wall) => {
    const part = (k) => median(cpu.map((c) => c[k] ?? 0));
    const floor = median(cpu.map(total)) / cores;
    return [name, ...['renderer', 'browser', 'network', 'server'].map((k) => fmt(part(k), 1)), fmt(median(cpu.map(total)), 1), fmt(floor, 1), fmt(median(wall) / floor, 2)];
  };
  return `
**CPU time** of each part (as in section 2), and the **CPU floor**: the total spread over all
${cores} cores, the least wall time this machine could give that work.

${mdTable(['path', 'page and workers', 'browser', 'network', 'server', 'total', 'CPU floor, s', 'wall ÷ floor'], [
    row('sent while hashed', S.cpuOverlapped, S.overlapped),
    row('hashed first, then sent', S.cpuSequential, S.sequential),
  ])}
`;
}

/** The same file over a throttled uplink: the times, and how they compare with the sum. */
function overLink(L, cores) {
  if (!L?.overlapped?.length) return '';
  const send = L.sequential.map((t, i) => t - L.hash[i]);
  const longer = Math.max(median(L.hash), median(send));
  const sum = median(L.hash) + median(send);
  return `
**Over a ${fmt(L.uplink * 8 / 1e9, 0)} Gbit/s uplink.** On loopback the browser, its network service and the
server share these ${cores} cores, so sending costs CPU the hash needs. The same runs with the page's uploads
throttled by Chromium to ${fmt(L.uplink * 8 / 1e9, 0)} Gbit/s (a fast home or office connection, as in section 4;
the throttle let through ${fmt(L.mib / median(send), 0)} MiB/s, about ${fmt(L.mib * MIB * 8 / median(send) / 1e6, 0)} Mbit/s)${L.date ? `, measured on
${L.date.slice(0, 16).replace('T', ' ')} UTC (load average ${L.load}) apart from the rest of this report` : ''}:

${mdTable(['path', 's'], [
    ['sent while hashed', spread(L.overlapped)],
    ['hashed first, then sent', spread(L.sequential)],
    ['hash alone', spread(L.hash)],
    ['send alone (hashed first − hash)', spread(send)],
  ])}

Sent while hashed, it takes ${fmt(median(L.overlapped) / longer, 2)}× the longer of hashing and sending, where their sum
is ${fmt(sum / longer, 2)}×.
`;
}

/**
 * Whether the upload could send the bytes the worker read for the hash instead of a `Blob`
 * slice the browser process reads from disk again: the three ways, timed and with CPU.
 */
function uploadBodies(B) {
  if (!B?.bodies?.slice) return '';
  const name = {
    slice: 'a `Blob` slice of the file (what ferry sends)',
    buffer: "the worker's `ArrayBuffer`, transferred to the page",
    'blob-of-buffer': '`new Blob([buffer])` of it',
  };
  const total = (c) => Object.values(c).reduce((a, b) => a + b, 0);
  const rows = Object.entries(B.bodies).map(([k, { wall, cpu }]) => [name[k] ?? k, fmt(wall, 1),
    ...['renderer', 'browser', 'network'].map((p) => fmt(cpu[p] ?? 0, 1)), fmt(total(cpu), 1)]);
  const slice = B.bodies.slice.wall;
  const buffer = B.bodies.buffer?.wall;
  return `
**Why the upload reads the file again.** Each chunk of a file sent while hashed is read in the
worker for the hashes, and the upload then sends a \`Blob\` slice of the file, which Chromium's browser
process reads from disk once more. Sending the bytes already read instead was measured apart, in the
same browser, with no ferry code: one ${B.mib} MiB file, \`PATCH\`es of ${B.chunkMib} MiB to a node sink
that drops the bytes, each chunk first read and digested in a worker; one run each.

${mdTable(['body of each PATCH', 'wall, s', 'page and workers, CPU s', 'browser, CPU s', 'network, CPU s', 'total CPU s'], rows)}

${buffer ? `An \`ArrayBuffer\` body takes ${fmt(buffer / slice, 1)}× as long as the \`Blob\` slice in this Chromium, and its
Blob wrapper saves no CPU: reading the file once for both is no gain here, so ferry sends slices.
` : ''}`;
}

// `node bench/lib/report.mjs`: regenerate BENCHMARKS.md and the charts from bench/results.json.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { readFileSync } = await import('node:fs');
  const R = JSON.parse(readFileSync(new URL('../results.json', import.meta.url), 'utf8'));
  console.log(writeReport(R, new URL('../..', import.meta.url).pathname));
}
