// Module worker: ferry's own hashFile (the engine's wasm, 1 MiB slices, one reused buffer).
import init, { hashFile } from '/pkg/ferry.js';
await init();
self.onmessage = async ({ data: { file } }) => {
  const t0 = performance.now();
  try {
    const hex = await hashFile(file);
    self.postMessage({ hex, ms: performance.now() - t0 });
  } catch (e) { self.postMessage({ error: String(e) }); }
};
self.postMessage({ ready: true });
