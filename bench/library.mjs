// `cargo xtask bench-library [--assets N]`: metadata query times of ferry-server for one
// user's library of N assets (default 1,000,000), on SQLite and on PostgreSQL, release
// build, over loopback HTTP. The rows are generated in the database by SQL (sqlite3 and
// psql), shaped as the server writes them; no bytes are stored, since these queries
// read only the catalog.
//
// Env (set by xtask): FERRY_SERVER_BIN, FERRY_BENCH_PG_URL (a throwaway cluster's URL).
// Prints a table and writes bench/library-results.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = process.env.FERRY_SERVER_BIN;
const PG = process.env.FERRY_BENCH_PG_URL;
const argAt = process.argv.indexOf('--assets');
const N = argAt > 0 ? Number(process.argv[argAt + 1]) : 1_000_000;
const RUNS = 20;
const log = (...a) => console.error('[bench-library]', ...a);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const p95 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)]; };

function run(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// The same row shape on both: the checksum is the row number in hex, so a check can ask
// for rows it knows exist; capture times are 97 s apart, newest last.
const SQLITE_ROWS = (n) => `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${n})
INSERT INTO assets (id, user_id, checksum, original_file_name, mime_type, file_size,
    file_created_at, file_modified_at, created_at, updated_at)
SELECT printf('bench-%08d', i), (SELECT id FROM users WHERE name = 'bench'), printf('%064x', i),
    printf('IMG_%08d.jpg', i), 'image/jpeg', 1000000 + i,
    strftime('%Y-%m-%dT%H:%M:%S.000Z', 1500000000 + i * 97, 'unixepoch'),
    strftime('%Y-%m-%dT%H:%M:%S.000Z', 1500000000 + i * 97, 'unixepoch'),
    strftime('%Y-%m-%dT%H:%M:%S.000Z', 1700000000 + i, 'unixepoch'),
    strftime('%Y-%m-%dT%H:%M:%S.000Z', 1700000000 + i, 'unixepoch')
FROM n;
ANALYZE;`;

const PG_ROWS = (n) => `
INSERT INTO assets (id, user_id, checksum, original_file_name, mime_type, file_size,
    file_created_at, file_modified_at, created_at, updated_at)
SELECT 'bench-' || lpad(i::text, 8, '0'), (SELECT id FROM users WHERE name = 'bench'),
    lpad(to_hex(i), 64, '0'), 'IMG_' || lpad(i::text, 8, '0') || '.jpg', 'image/jpeg', 1000000 + i,
    to_char(to_timestamp(1500000000 + i * 97) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"'),
    to_char(to_timestamp(1500000000 + i * 97) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"'),
    to_char(to_timestamp(1700000000 + i) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"'),
    to_char(to_timestamp(1700000000 + i) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"')
FROM generate_series(1, ${n}) AS i;
ANALYZE;`;

async function time(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function measure(backend, database) {
  const data = mkdtempSync(join(tmpdir(), 'ferry-bench-library-'));
  const db = database ? ['--database', database] : [];
  try {
    const key = run(BIN, ['user', 'add', 'bench', '--data', data, ...db]).trim().split('\n').at(-1).trim();
    const t0 = Date.now();
    if (database) run('psql', ['-q', '-v', 'ON_ERROR_STOP=1', database], PG_ROWS(N));
    else run('sqlite3', [join(data, 'ferry.sqlite')], SQLITE_ROWS(N));
    const generated = (Date.now() - t0) / 1000;
    log(`${backend}: ${N.toLocaleString('en')} assets generated in ${generated.toFixed(0)} s`);

    const port = await freePort();
    const server = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', data, ...db], { stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}`;
    try {
      for (let i = 0; ; i++) {
        try { if ((await fetch(`${url}/healthz`)).ok) break; } catch { /* not yet */ }
        if (i > 300) throw new Error(`${backend}: the server did not start`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const headers = { 'x-api-key': key, 'content-type': 'application/json' };
      const page = async (cursor) => {
        const res = await fetch(`${url}/api/assets?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers });
        if (!res.ok) throw new Error(`${backend}: GET /api/assets ${res.status}`);
        return res.json();
      };
      // Half of the checksums are the user's, spread over the library; half are not.
      const check = () => {
        const assets = Array.from({ length: 1000 }, (_, k) => {
          const i = k % 2 ? 1 + Math.floor(Math.random() * N) : N + 1 + Math.floor(Math.random() * N);
          return { id: String(k), checksum: i.toString(16).padStart(64, '0') };
        });
        return fetch(`${url}/api/assets/bulk-upload-check`, { method: 'POST', headers, body: JSON.stringify({ assets }) })
          .then(async (res) => {
            if (!res.ok) throw new Error(`${backend}: bulk-upload-check ${res.status}`);
            const found = (await res.json()).results.filter((r) => r.action === 'reject').length;
            if (found !== 500) throw new Error(`${backend}: the check found ${found} of 500`);
          });
      };
      const first = await page(); // warms the cache
      if (first.items.length !== 1000) throw new Error(`${backend}: the first page has ${first.items.length} items`);
      await check();
      const firstPage = [];
      const nextPages = [];
      const checks = [];
      for (let r = 0; r < RUNS; r++) {
        firstPage.push(await time(() => page()));
        checks.push(await time(check));
      }
      // Scrolling on: the next pages by cursor, from the first.
      let cursor = first.nextCursor;
      for (let r = 0; r < RUNS && cursor; r++) {
        let next;
        nextPages.push(await time(async () => { next = await page(cursor); }));
        cursor = next.nextCursor;
      }
      const stat = (xs) => ({ median: median(xs), p95: p95(xs) });
      return { backend, assets: N, generatedSeconds: generated, firstPage: stat(firstPage), nextPage: stat(nextPages), check: stat(checks) };
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}

const results = [await measure('SQLite', null)];
if (PG) results.push(await measure('PostgreSQL', PG));
else log('FERRY_BENCH_PG_URL is not set: PostgreSQL skipped');
const ms = (x) => `${x.median.toFixed(1)} (p95 ${x.p95.toFixed(1)})`;
console.log(`\nferry-server, one user with ${N.toLocaleString('en')} assets, ms over loopback HTTP, ${RUNS} runs each (median, p95):\n`);
console.log(['backend', 'GET /api/assets first page (1,000)', 'next page by cursor', 'bulk-upload-check (1,000 checksums)'].join(' | '));
for (const r of results) console.log([r.backend, ms(r.firstPage), ms(r.nextPage), ms(r.check)].join(' | '));
writeFileSync(new URL('./library-results.json', import.meta.url), `${JSON.stringify({ date: new Date().toISOString(), results }, null, 1)}\n`);
