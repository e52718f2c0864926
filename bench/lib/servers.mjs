// The servers under test, each in its own process on loopback, and /proc readings.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';

export const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? new URL('../../target/release/ferry-server', import.meta.url).pathname;
export const WWW = process.env.FERRY_WWW ?? new URL('../../www', import.meta.url).pathname;
/** The npm package directory `cargo xtask package` writes. */
export const NPM = process.env.FERRY_NPM ?? new URL('../../target/npm/ferry', import.meta.url).pathname;

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

function stopper(proc) {
  return (signal = 'SIGKILL') => new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', resolve);
    proc.kill(signal);
  });
}

/** ferry-server (release) on a fresh data dir with one user. */
export async function startFerryServer(tmp) {
  const data = mkdtempSync(join(tmp, 'ferry-data-'));
  const out = execFileSync(SERVER_BIN, ['user', 'add', 'bench', '--data', data], { encoding: 'utf8' });
  const apiKey = out.trim().split('\n').at(-1).trim();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(SERVER_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', data, '--www', WWW], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`ferry-server exited early:\n${log}`);
    try { if ((await fetch(`${url}/healthz`)).ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`ferry-server did not become ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = stopper(proc);
  return {
    name: 'ferry-server', url, apiKey, pid: proc.pid, log: () => log,
    async close() { await stop(); rmSync(data, { recursive: true, force: true }); },
  };
}

/** @tus/server + static files (bench/tus-host.mjs) on a fresh store. */
export async function startTusHost(tmp) {
  const store = mkdtempSync(join(tmp, 'tus-store-'));
  const proc = spawn(process.execPath, [new URL('../tus-host.mjs', import.meta.url).pathname, store, WWW, NPM], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tus host did not start:\n${log}`)), 30_000);
    proc.stdout.on('data', (d) => {
      log += d;
      const m = /listening (\d+)/.exec(log);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.stderr.on('data', (d) => { log += d; });
    proc.once('exit', () => { clearTimeout(timer); reject(new Error(`tus host exited:\n${log}`)); });
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = stopper(proc);
  return {
    name: '@tus/server', url, tusEndpoint: `${url}/files`, store, pid: proc.pid, log: () => log,
    async close() { await stop(); rmSync(store, { recursive: true, force: true }); },
  };
}

/**
 * A TCP proxy in front of `target` that parses the browser's HTTP/1.1 requests and counts
 * the body bytes of upload requests (PATCH, and POST with a tus body), so "bytes sent
 * twice" is measured on the wire, the same way for every system.
 */
export async function countingProxy(target) {
  const { hostname, port } = new URL(target);
  const counter = { uploadBody: 0, requests: 0 };
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client); sockets.add(upstream);
    let head = Buffer.alloc(0);
    let bodyLeft = 0;
    let counting = false;
    client.on('data', (d) => {
      let buf = d;
      while (buf.length) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, buf.length);
          if (counting) counter.uploadBody += n;
          bodyLeft -= n;
          buf = buf.subarray(n);
          continue;
        }
        head = Buffer.concat([head, buf]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.subarray(0, end).toString('latin1');
        buf = head.subarray(end + 4);
        head = Buffer.alloc(0);
        const method = text.slice(0, text.indexOf(' '));
        const length = Number(/^content-length:\s*(\d+)/im.exec(text)?.[1] ?? 0);
        const tusBody = /^content-type:\s*application\/offset\+octet-stream/im.test(text);
        counting = method === 'PATCH' || (method === 'POST' && tusBody);
        counter.requests += 1;
        bodyLeft = length;
      }
    });
    client.pipe(upstream); upstream.pipe(client);
    const end = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', end); upstream.on('error', end); client.on('close', end); upstream.on('close', end);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url, counter,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  };
}

function status(pid) {
  try { return readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return ''; }
}
function kib(text, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}
/** `{rss, hwm}` in bytes from /proc/PID/status (VmRSS, VmHWM). */
export function procMemory(pid) {
  const s = status(pid);
  return { rss: kib(s, 'VmRSS'), hwm: kib(s, 'VmHWM') };
}

/** The PIDs of the process tree below this node process (not counting it). */
function descendants() {
  const parent = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const mine = (pid) => { for (let p = parent.get(pid), n = 0; p > 1 && n < 20; p = parent.get(p), n++) if (p === process.pid) return true; return false; };
  return [...parent.keys()].filter(mine);
}

/** Which part of the system a process below this node process is, by its command line. */
function processKind(cmdline) {
  if (!/chrom/i.test(cmdline.split('\0')[0])) return 'server';
  if (cmdline.includes('--type=renderer')) return 'renderer';
  if (cmdline.includes('NetworkService')) return 'network';
  if (cmdline.includes('--type=gpu-process')) return 'gpu';
  if (cmdline.includes('--type=')) return 'other';
  return 'browser';
}

/**
 * CPU time so far (user + system, seconds) of every process below this node process, by
 * pid, with its kind: `renderer` (pages and their workers), `browser` (Chromium's main
 * process, which also runs IndexedDB and reads files for uploads), `network` (the network
 * service), `gpu`, `other` Chromium utilities, and `server` (the servers this command started).
 */
export function cpuSnapshot() {
  const tick = 100; // USER_HZ: /proc gives process times in 1/100 s.
  const out = new Map();
  for (const pid of descendants()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / tick;
      out.set(pid, { kind: processKind(readFileSync(`/proc/${pid}/cmdline`, 'utf8')), seconds });
    } catch { /* gone */ }
  }
  return out;
}

/** CPU seconds by kind spent between two `cpuSnapshot`s (a process started between them counts from 0). */
export function cpuSpent(before, after) {
  const spent = {};
  for (const [pid, { kind, seconds }] of after) {
    spent[kind] = (spent[kind] ?? 0) + seconds - (before.get(pid)?.seconds ?? 0);
  }
  return spent;
}

/** PIDs of Chromium renderer processes below this node process. */
export function rendererPids() {
  return descendants().filter((pid) => {
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer'); } catch { return false; }
  });
}
