// ferry's hashing worker: runs the engine's wasm off the page's main thread and answers
// the hash requests the engine posts to it. The Uploader starts it from the package's own
// URL, so an embedding site never copies it.
//
// The engine's first message is its own compiled `WebAssembly.Module`: instantiating it
// skips fetching and compiling the wasm a second time. It must be listened for before the
// first `await`, or it would arrive with no listener.
//
// By default it loads `./ferry.js` beside it (and `./ferry_bg.wasm`, should no module
// come). A bundler may have renamed them (Vite emits `new URL(…, import.meta.url)` assets
// with hashed names); the Uploader then passes their real URLs as `?engine=…&wasm=…`.
const compiled = new Promise((resolve) => {
  addEventListener('message', (event) => resolve(event.data?.module), { once: true });
});
const params = new URL(import.meta.url).searchParams;
const engine = params.get('engine') ?? './ferry.js';
const wasm = params.get('wasm');

const { default: init, serveHashRequests } = await import(/* @vite-ignore */ engine);
const module = await compiled;
await init(module ? { module_or_path: module } : wasm ? { module_or_path: wasm } : undefined);
serveHashRequests();
