// Shared e2e plumbing: a real ferry-server on a free loopback port with its own data
// directory, and Debian's Chromium launched by playwright-core (never a downloaded browser).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { chromium } from 'playwright-core';

const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? new URL('../target/debug/ferry-server', import.meta.url).pathname;
const WWW = process.env.FERRY_WWW ?? new URL('../www', import.meta.url).pathname;

/**
 * A fresh temporary directory under `base`, removed when the test `t` ends. `t.after`
 * hooks run in the order they were added, and one that throws skips those after it: a
 * process still writing into the directory must be stopped by a hook added before this.
 */
export function tempDir(t, prefix = 'ferry-e2e-', base = tmpdir()) {
  const dir = mkdtempSync(join(base, prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 3 }));
  return dir;
}

/**
 * Sends `signal` to the child process `proc` (if it has started and not yet ended) and
 * resolves once it has exited.
 */
export function endProcess(proc, signal = 'SIGKILL') {
  return new Promise((resolve) => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', resolve);
    proc.kill(signal);
  });
}

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
 * Starts ferry-server with a new user; resolves to `{ url, apiKey, data, stop, restart }`.
 * `stop(signal)` kills it; `restart()` starts it again on the same address and data.
 * The server is killed when the test `t` ends.
 */
/**
 * ferry-server on a fresh data dir with one user; `serve` adds arguments to `serve`.
 * `inMemory` puts the data dir on /dev/shm (tmpfs) when it has `inMemory` bytes free: a
 * test that stores gigabytes then measures ferry, not how fast the machine's disk syncs
 * (CI's disk, after the build, once took over 10 minutes to take a 4 GiB upload).
 */
export async function startServer(t, { serve = [], inMemory = 0 } = {}) {
  const shm = inMemory > 0 && existsSync('/dev/shm') && statfsSync('/dev/shm').bavail * statfsSync('/dev/shm').bsize > inMemory;
  // The server is killed before its data directory is removed: removing it first raced
  // the server's own writes (ENOTEMPTY), and the failed hook then left the server running,
  // which kept the test file's process, and CI, waiting until CI's time ran out.
  let proc;
  t.after(() => endProcess(proc));
  const data = tempDir(t, 'ferry-data-', shm ? '/dev/shm' : tmpdir());
  const out = execFileSync(SERVER_BIN, ['user', 'add', 'e2e', '--data', data], { encoding: 'utf8' });
  const apiKey = out.trim().split('\n').at(-1).trim();
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const url = `http://${listen}`;
  let log = '';
  const start = async () => {
    proc = spawn(SERVER_BIN, ['serve', '--listen', listen, '--data', data, '--www', WWW, ...serve], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.on('data', (d) => { log += d; });
    proc.stderr.on('data', (d) => { log += d; });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`ferry-server exited early:\n${log}`);
      try {
        if ((await fetch(`${url}/healthz`)).ok) return;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`ferry-server did not become ready:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stop = (signal) => endProcess(proc, signal);
  await start();
  return { url, apiKey, data, log: () => log, stop, restart: start };
}

/** Adds another user to `server` (`ferry-server user add`); resolves to its API key. */
export function addUser(server, name, { quota } = {}) {
  const args = ['user', 'add', name, '--data', server.data, ...(quota === undefined ? [] : ['--quota', String(quota)])];
  return execFileSync(SERVER_BIN, args, { encoding: 'utf8' }).trim().split('\n').at(-1).trim();
}

/** Calls the server's API as the test user and parses the JSON answer. */
export async function api(server, path, init = {}) {
  const res = await fetch(`${server.url}${path}`, {
    ...init,
    headers: { 'x-api-key': server.apiKey, ...(init.headers ?? {}) },
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** Chromium's command line for the tests. */
export const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Launches Debian's Chromium headless; closed when the test `t` ends. */
export async function launchBrowser(t) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ARGS,
  });
  t.after(() => browser.close());
  return browser;
}

/** Writes a file of `size` random bytes; returns its path and SHA-256 hex. */
export function randomFile(dir, name, size) {
  const bytes = randomBytes(size);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, name, size, sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
}

/** Collects the page's console errors and uncaught exceptions, for failure messages. */
export function pageProblems(page) {
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
  return problems;
}

/**
 * A persistent profile, as a person has; the context outlives its pages, so the service
 * worker lives on after the app's page closes. Closed before its directory is removed.
 * Resolves to `{context, cdp, registrationId}`: a CDP session on a tab of another
 * origin (no client of ferry), and a function resolving to the worker's registration id.
 * With `sync: 'denied'` the page cannot register a sync, so only a sync fired through
 * CDP wakes the worker. `permissions` are more to set, such as
 * `{'periodic-background-sync': 'granted'}`.
 */
export async function launchProfile(t, origin, { sync, permissions = {} }) {
  let context;
  t.after(() => context?.close());
  context = await chromium.launchPersistentContext(tempDir(t, 'ferry-profile-'), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS,
  });
  const keeper = context.pages()[0] ?? await context.newPage();
  const cdp = await context.newCDPSession(keeper);
  await cdp.send('Browser.setPermission', { permission: { name: 'background-sync' }, setting: sync, origin });
  await cdp.send('Browser.setPermission', { permission: { name: 'notifications' }, setting: 'granted', origin });
  for (const [name, setting] of Object.entries(permissions)) {
    await cdp.send('Browser.setPermission', { permission: { name }, setting, origin });
  }
  const registrations = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: list }) => {
    for (const r of list) if (!r.isDeleted) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send('ServiceWorker.enable');
  const registrationId = async () => (await until('the service worker registration', async () => ({
    ok: registrations.has(`${origin}/`), id: registrations.get(`${origin}/`), seen: [...registrations.keys()],
  }), 10_000)).id;
  return { context, cdp, registrationId };
}

/** Polls `check` until it resolves to `{ok: true, ...}`; rejects with the last answer after `timeout` ms. */
export async function until(what, check, timeout = 90_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await check();
    if (last.ok) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Watches how busy the machine is while a test measures time: `stop()` gives `{load,
 * stealMs, cores}`, the 1-minute load average (the higher of the two ends) and the CPU time
 * the hypervisor gave to other machines in between ("steal" in /proc/stat, all cores; 0
 * where there is none). A task's time by the clock counts both, whatever the page did.
 */
export function watchMachine() {
  const load = loadavg()[0];
  const steal = stealMs();
  return {
    stop: () => ({ load: Math.max(load, loadavg()[0]), stealMs: stealMs() - steal, cores: availableParallelism() }),
  };
}

/**
 * Whether tasks' times by the clock may be held to `boundMs` on a machine `watchMachine`
 * saw: it was not oversubscribed (load at most its cores) and the hypervisor took less
 * than half the bound. Otherwise a test reports those times instead of failing on them.
 */
export function clockTimeHolds(machine, boundMs) {
  return machine.load <= machine.cores && machine.stealMs < boundMs / 2;
}

/** A machine `watchMachine` saw, in words, for a test's output. */
export function describeMachine(machine) {
  return `load average ${machine.load} on ${machine.cores} cores, ${machine.stealMs} ms stolen by the hypervisor`;
}

function stealMs() {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    return Number(cpu[8] ?? 0) * 10; // in USER_HZ, 100 a second on Linux
  } catch {
    return 0;
  }
}
