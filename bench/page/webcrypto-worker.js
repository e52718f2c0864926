// Module worker: WebCrypto's one-shot digest over the whole file read into memory.
self.onmessage = async ({ data: { file } }) => {
  const t0 = performance.now();
  try {
    const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
    self.postMessage({ hex, ms: performance.now() - t0 });
  } catch (e) { self.postMessage({ error: String(e) }); }
};
self.postMessage({ ready: true });
