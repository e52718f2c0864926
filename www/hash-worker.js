// The hashing worker: runs ferry's wasm off the page's main thread and answers the hash
// requests the engine posts (see src/web/hash_worker.rs for the message format).
// The first message is the page's compiled wasm module: instantiating it skips fetching
// and compiling the wasm again. It is listened for before the first `await`, or it would
// arrive with no listener.
const compiled = new Promise((resolve) => {
  addEventListener('message', (event) => resolve(event.data?.module), { once: true });
});
const { default: init, serveHashRequests } = await import('./pkg/ferry.js');

const module = await compiled;
await init(module ? { module_or_path: module } : undefined);
serveHashRequests();
