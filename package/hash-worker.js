// ferry's hashing worker: runs the engine's wasm off the page's main thread and answers
// the hash requests the engine posts to it. The Uploader starts it from the package's own
// URL, so an embedding site never copies it.
//
// By default it loads `./ferry.js` and `./ferry_bg.wasm` beside it. A bundler may have
// renamed them (Vite emits `new URL(…, import.meta.url)` assets with hashed names); the
// Uploader then passes their real URLs as `?engine=…&wasm=…`.
const params = new URL(import.meta.url).searchParams;
const engine = params.get('engine') ?? './ferry.js';
const wasm = params.get('wasm');

const { default: init, serveHashRequests } = await import(/* @vite-ignore */ engine);
await init(wasm ? { module_or_path: wasm } : undefined);
serveHashRequests();
