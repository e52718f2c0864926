// A child process of the benchmark: @tus/server with @tus/file-store at /files, plus the
// static files the benchmark pages need (ferry's www/ and pkg/, the peers' browser builds
// from node_modules, bench/page/), all on one loopback origin so no system pays for CORS.
// Its own process so its RSS can be read from /proc. Prints `listening <port>` when ready.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { Server as TusServer } from '@tus/server';
import { FileStore } from '@tus/file-store';

const [store, www, npm] = process.argv.slice(2);
const here = new URL('.', import.meta.url).pathname;
const mounts = [
  ['/vendor/', join(here, 'node_modules')],
  // The npm package as `cargo xtask package` builds it, for its size and cold start.
  ['/npm/', npm],
  ['/bench/', join(here, 'page')],
  ['/', www],
];
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.css': 'text/css', '.json': 'application/json' };

let tus;
const http = createServer((req, res) => {
  if (req.url.startsWith('/files')) return tus.handle(req, res);
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const [prefix, dir] = mounts.find(([p]) => path.startsWith(p));
  const file = normalize(join(dir, path.slice(prefix.length)));
  if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
  let st;
  try { st = statSync(file); } catch { st = null; }
  if (!st?.isFile()) { res.writeHead(404).end(); return; }
  res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'content-length': st.size, 'cache-control': 'no-store' });
  createReadStream(file).pipe(res);
});
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address();
  tus = new TusServer({
    path: '/files',
    datastore: new FileStore({ directory: store }),
    allowedHeaders: ['x-api-key'],
    allowedOrigins: [`http://127.0.0.1:${port}`],
  });
  console.log(`listening ${port}`);
});
