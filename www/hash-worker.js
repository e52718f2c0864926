// The hashing worker: runs ferry's wasm off the page's main thread and answers the hash
// requests the engine posts (see src/web/hash_worker.rs for the message format).
import init, { serveHashRequests } from './pkg/ferry.js';

await init();
serveHashRequests();
