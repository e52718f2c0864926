// Shared e2e plumbing: a real ferry-server on a free loopback port with its own data
// directory, and Debian's Chromium launched by playwright-core (never a downloaded browser).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { chromium } from 'playwright-core';

const SERVER_BIN = process.env.FERRY_SERVER_BIN ?? new URL('../target/debug/ferry-server', import.meta.url).pathname;
const WWW = process.env.FERRY_WWW ?? new URL('../www', import.meta.url).pathname;

/** A fresh temporary directory, removed when the test `t` ends. */
export function tempDir(t, prefix = 'ferry-e2e-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
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
export async function startServer(t) {
  const data = tempDir(t, 'ferry-data-');
  const out = execFileSync(SERVER_BIN, ['user', 'add', 'e2e', '--data', data], { encoding: 'utf8' });
  const apiKey = out.trim().split('\n').at(-1).trim();
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const url = `http://${listen}`;
  let proc;
  let log = '';
  const start = async () => {
    proc = spawn(SERVER_BIN, ['serve', '--listen', listen, '--data', data, '--www', WWW], {
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
  const stop = (signal = 'SIGKILL') => new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', resolve);
    proc.kill(signal);
  });
  t.after(() => stop());
  await start();
  return { url, apiKey, data, log: () => log, stop, restart: start };
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

/** Launches Debian's Chromium headless; closed when the test `t` ends. */
export async function launchBrowser(t) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
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
