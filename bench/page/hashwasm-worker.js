// Module worker: hash-wasm's streaming SHA-256 over the same 1 MiB File slices ferry reads.
import { createSHA256 } from '/vendor/hash-wasm/dist/index.esm.min.js';
const SLICE = 1024 * 1024;
const hasher = await createSHA256();
self.onmessage = async ({ data: { file } }) => {
  const t0 = performance.now();
  try {
    hasher.init();
    for (let off = 0; off < file.size; off += SLICE) {
      hasher.update(new Uint8Array(await file.slice(off, off + SLICE).arrayBuffer()));
    }
    self.postMessage({ hex: hasher.digest('hex'), ms: performance.now() - t0 });
  } catch (e) { self.postMessage({ error: String(e) }); }
};
self.postMessage({ ready: true });
