// Durability: SIGKILL ferry-server while PATCH bodies are streaming in, restart it on the
// same data directory, and finish every upload from the offset HEAD reports. Every asset's
// bytes must be right, and no asset may exist for an upload that had not finished.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { api, endProcess, tempDir } from './support.mjs';

const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? new URL('../target/debug/ferry-server', import.meta.url).pathname;
const WWW = process.env.FERRY_WWW ?? new URL('../www', import.meta.url).pathname;
const MiB = 1024 * 1024;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts ferry-server on an existing data directory; resolves to `{ url, proc }`. Each
 * process goes into `running`, whose hook (added by the test before the data directory's)
 * kills those still alive.
 */
async function startOn(running, data) {
  const listen = `127.0.0.1:${await freePort()}`;
  const proc = spawn(SERVER_BIN, ['serve', '--listen', listen, '--data', data, '--www', WWW], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const url = `http://${listen}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`ferry-server exited early:\n${log}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`ferry-server did not become ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, proc, exited, log: () => log };
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const b64 = (s) => Buffer.from(s).toString('base64');

function tusHeaders(apiKey, extra = {}) {
  return { 'x-api-key': apiKey, 'tus-resumable': '1.0.0', ...extra };
}

async function create(server, apiKey, name, length) {
  const res = await fetch(`${server.url}/api/uploads`, {
    method: 'POST',
    headers: tusHeaders(apiKey, {
      'upload-length': String(length),
      'upload-metadata': `filename ${b64(name)},filetype ${b64('application/octet-stream')}`,
    }),
  });
  assert.equal(res.status, 201, await res.text());
  return new URL(res.headers.get('location'), server.url).pathname;
}

async function patch(server, apiKey, path, offset, bytes) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'PATCH',
    headers: tusHeaders(apiKey, {
      'upload-offset': String(offset),
      'content-type': 'application/offset+octet-stream',
    }),
    body: bytes,
  });
  assert.equal(res.status, 204, `${path} at ${offset}: ${await res.text()}`);
  return res;
}

async function head(server, apiKey, path) {
  const res = await fetch(`${server.url}${path}`, { method: 'HEAD', headers: tusHeaders(apiKey) });
  assert.equal(res.status, 200, `HEAD ${path}`);
  return { offset: Number(res.headers.get('upload-offset')), assetId: res.headers.get('ferry-asset-id') };
}

/**
 * A PATCH whose body streams `bytes` from `offset` in 64 KiB pieces. Resolves `midway` once
 * `after` bytes have been handed to fetch; from then on it trickles, so the server is
 * killed while the body is still in flight. `done` settles with the fetch.
 */
function streamingPatch(server, apiKey, path, offset, bytes, after) {
  let sent = 0;
  let stopped = false;
  let signalMidway;
  const midway = new Promise((resolve) => { signalMidway = resolve; });
  const body = new ReadableStream({
    async pull(controller) {
      if (stopped || sent >= bytes.length) return controller.close();
      if (sent >= after) {
        signalMidway();
        await new Promise((r) => setTimeout(r, 50));
      }
      const piece = bytes.subarray(sent, sent + 64 * 1024);
      sent += piece.length;
      controller.enqueue(piece);
    },
  });
  const done = fetch(`${server.url}${path}`, {
    method: 'PATCH',
    headers: tusHeaders(apiKey, {
      'upload-offset': String(offset),
      'content-type': 'application/offset+octet-stream',
    }),
    body,
    duplex: 'half',
  }).then((res) => res.status, (e) => e);
  // Stops feeding the body (fetch does not cancel it when the connection dies).
  const stop = () => { stopped = true; };
  return { midway, done, stop, sent: () => sent };
}

test('SIGKILL mid-PATCH: every upload resumes from HEAD and finishes with the right bytes', async (t) => {
  // Added before the data directory's removal, so every server is gone before it goes,
  // including one that never became ready.
  const running = new Set();
  t.after(() => Promise.all([...running].map((proc) => endProcess(proc))));
  const data = tempDir(t, 'ferry-crash-');
  const out = execFileSync(SERVER_BIN, ['user', 'add', 'crash', '--data', data], { encoding: 'utf8' });
  const apiKey = out.trim().split('\n').at(-1).trim();

  let server = await startOn(running, data);
  const files = {
    done: randomBytes(1 * MiB + 17), // finished before the crash
    half: randomBytes(4 * MiB), // one chunk acknowledged before the crash
    streamA: randomBytes(48 * MiB), // body in flight at the crash
    streamB: randomBytes(24 * MiB + 5), // acknowledged chunk, then a body in flight
    empty: randomBytes(2 * MiB), // created, no bytes yet
  };
  const paths = {};
  for (const [name, bytes] of Object.entries(files)) {
    paths[name] = await create(server, apiKey, `${name}.bin`, bytes.length);
  }

  await patch(server, apiKey, paths.done, 0, files.done.subarray(0, MiB));
  const finished = await patch(server, apiKey, paths.done, MiB, files.done.subarray(MiB));
  const doneAsset = finished.headers.get('ferry-asset-id');
  assert.ok(doneAsset);
  await patch(server, apiKey, paths.half, 0, files.half.subarray(0, MiB));
  await patch(server, apiKey, paths.streamB, 0, files.streamB.subarray(0, 3 * MiB));

  const inFlight = [
    streamingPatch(server, apiKey, paths.streamA, 0, files.streamA, 8 * MiB),
    streamingPatch(server, apiKey, paths.streamB, 3 * MiB, files.streamB.subarray(3 * MiB), 6 * MiB),
  ];
  await Promise.all(inFlight.map((p) => p.midway));
  server.proc.kill('SIGKILL');
  await server.exited;
  for (const p of inFlight) {
    p.stop();
    const outcome = await p.done;
    assert.ok(outcome instanceof Error, `the in-flight PATCH must not have been answered: ${outcome}`);
  }

  server = await startOn(running, data);
  const as = { url: server.url, apiKey };

  // Only the upload that finished before the crash is an asset.
  const { items } = await api(as, '/api/assets');
  assert.deepEqual(items.map((a) => a.id), [doneAsset]);

  const expectedAfterCrash = {
    done: files.done.length,
    half: MiB,
    streamA: [0, inFlight[0].sent()],
    streamB: [3 * MiB, 3 * MiB + inFlight[1].sent()],
    empty: 0,
  };
  for (const [name, bytes] of Object.entries(files)) {
    const { offset, assetId } = await head(as, apiKey, paths[name]);
    const expected = expectedAfterCrash[name];
    if (Array.isArray(expected)) {
      assert.ok(offset >= expected[0] && offset <= expected[1], `${name}: offset ${offset} in ${expected}`);
    } else {
      assert.equal(offset, expected, name);
    }
    assert.equal(assetId !== null, name === 'done', `${name}: Ferry-Asset-Id ${assetId}`);
    // Finish from where the server says, in 4 MiB chunks.
    let at = offset;
    let last;
    while (at < bytes.length) {
      const end = Math.min(at + 4 * MiB, bytes.length);
      last = await patch(as, apiKey, paths[name], at, bytes.subarray(at, end));
      at = end;
    }
    if (last) assert.ok(last.headers.get('ferry-asset-id'), `${name}: completed`);
  }

  const { items: assets } = await api(as, '/api/assets?limit=100');
  assert.equal(assets.length, Object.keys(files).length);
  for (const [name, bytes] of Object.entries(files)) {
    const asset = assets.find((a) => a.originalFileName === `${name}.bin`);
    assert.ok(asset, name);
    assert.equal(asset.checksum, sha256(bytes), name);
    assert.equal(asset.fileSize, bytes.length, name);
    const res = await fetch(`${as.url}/api/assets/${asset.id}/original`, { headers: { 'x-api-key': apiKey } });
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), `${name}: stored bytes`);
  }
  // Every partial file became a blob; nothing is left half-written.
  assert.deepEqual(readdirSync(join(data, 'uploads')), []);
});
