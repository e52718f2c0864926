// Builds this example with Vite 7 and checks that the package's worker and wasm survived
// bundling: `cargo xtask package`, then `node check.mjs` (installs with `npm install` if needed).
// The e2e suite (e2e/package.test.mjs) also runs the built app in Chromium and uploads.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
if (!existsSync(join(here, '../../../target/npm/ferry/index.js'))) {
  console.error('target/npm/ferry is missing: run `cargo xtask package` first');
  process.exit(1);
}
if (!existsSync(join(here, 'node_modules/.bin/vite'))) {
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' });
}
const started = Date.now();
execFileSync(join(here, 'node_modules/.bin/vite'), ['build'], { cwd: here, stdio: 'inherit' });
const assets = readdirSync(join(here, 'dist/assets'));
const js = assets.filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(here, 'dist/assets', f), 'utf8')).join('\n');
const wasm = assets.find((f) => f.endsWith('.wasm'));
const problems = [];
if (!wasm) problems.push('no .wasm was emitted');
else if (!js.includes(wasm)) problems.push(`${wasm} is not referenced by the bundle`);
const worker = assets.find((f) => f.startsWith('hash-worker'));
if (!worker && !js.includes('data:text/javascript;base64')) problems.push('the hashing worker was neither emitted nor inlined');
if (problems.length) {
  console.error(`vite build: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`vite build ok in ${Date.now() - started} ms: ${assets.join(', ')}${worker ? '' : ' (hash-worker.js inlined as a data: URL)'}`);
