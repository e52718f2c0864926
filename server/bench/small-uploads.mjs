// Small-file upload throughput of ferry-server against @tus/server, side by side in one run.
//
//   node server/bench/small-uploads.mjs [N=2000] [CONCURRENCY=16]
//
// What `cargo xtask bench`'s re-run set-up does (bench/run.mjs, nodeUploadAll): N seeded
// files of 2 to 8 KiB, each uploaded from node with tus-js-client in one creation-with-upload
// request, 16 at a time, to a fresh ferry-server (FERRY_SERVER_BIN, default
// target/release/ferry-server) and to @tus/server with @tus/file-store (bench/tus-host.mjs).
// Prints files/s for each. Both stores live in FERRY_BENCH_TMP (default: a directory under
// target/, on the same disk as a real data directory; /dev/shm would hide the fsyncs).
// @tus/server syncs nothing to disk; ferry-server fsyncs every acknowledged byte and every
// catalog commit, so the comparison is deliberately not like for like in its durability.
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const bench = new URL('../../bench/', import.meta.url);
const { Upload } = createRequire(new URL('package.json', bench))('tus-js-client');
const { startFerryServer, startTusHost } = await import(new URL('lib/servers.mjs', bench));
const { seededFiles } = await import(new URL('lib/files.mjs', bench));

const n = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 16);
const root = process.env.FERRY_BENCH_TMP ?? new URL('../../target/small-uploads', import.meta.url).pathname;
mkdirSync(root, { recursive: true });
const tmp = mkdtempSync(join(root, 'run-'));

function uploadAll(endpoint, headers, paths) {
  let next = 0;
  return Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < paths.length) {
      const path = paths[next++];
      const name = path.split('/').at(-1);
      const body = readFileSync(path);
      await new Promise((resolve, reject) => {
        const upload = new Upload(body, {
          endpoint, headers, retryDelays: [500, 2000], uploadDataDuringCreation: true,
          metadata: { filename: name, filetype: 'image/jpeg' },
          onSuccess: resolve,
          onError: reject,
        });
        upload.start();
      });
    }
  }));
}

async function measure(name, start, endpointOf, headersOf, paths) {
  const server = await start(tmp);
  try {
    // A few uploads first, so neither side pays its start-up (JIT, first files) in the figure.
    await uploadAll(endpointOf(server), headersOf(server), paths.slice(0, 20));
    const t0 = process.hrtime.bigint();
    await uploadAll(endpointOf(server), headersOf(server), paths.slice(20));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const files = paths.length - 20;
    console.log(`${name.padEnd(13)} ${files} files in ${s.toFixed(1)} s: ${(files / s).toFixed(0)} files/s`);
    return files / s;
  } finally {
    await server.close();
  }
}

try {
  const paths = seededFiles(join(tmp, 'files'), 'P', n + 20, 2048, 8192, 20000).map((f) => f.path);
  console.log(`${n} files of 2-8 KiB, ${concurrency} tus-js-client uploads at a time, creation-with-upload; stores in ${tmp}`);
  const ferry = await measure('ferry-server', startFerryServer, (s) => `${s.url}/api/uploads`, (s) => ({ 'x-api-key': s.apiKey }), paths);
  const tus = await measure('@tus/server', startTusHost, (s) => s.tusEndpoint, () => ({}), paths);
  console.log(`ferry-server / @tus/server: ${(ferry / tus).toFixed(2)}x`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
