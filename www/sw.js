// ferry's service worker: an offline app shell.
//
// The shell is precached at install. Requests for it are served network-first, revalidated
// with the server (`cache: 'no-cache'`), so a fresh build is picked up whenever the server
// is reachable; the cached copy answers when it is not, or when the network takes longer
// than NETWORK_TIMEOUT_MS (flaky mobile data). `/api/` is never cached or intercepted:
// it goes to the network as if there were no service worker.

const CACHE = 'ferry-shell-v2';
const NETWORK_TIMEOUT_MS = 4000;
const SHELL = [
  './',
  'index.html',
  'app.js',
  'style.css',
  'manifest.webmanifest',
  'icon.svg',
  'icons/icon-192.png',
  'icons/icon-512.png',
  'icons/maskable-512.png',
  'icons/apple-touch-icon-180.png',
  'hash-worker.js',
  'lib/api.js',
  'lib/format.js',
  'lib/settings.js',
  'views/backup.js',
  'views/settings.js',
  'views/timeline.js',
  'pkg/ferry.js',
  'pkg/ferry_bg.wasm',
];

const scope = new URL(self.registration.scope);
const isApi = (url) => url.pathname.startsWith(`${scope.pathname}api/`) || url.pathname === `${scope.pathname}healthz`;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((path) => new Request(new URL(path, scope), { cache: 'no-cache' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('ferry-shell-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== scope.origin || isApi(url) || request.headers.has('range')) return;
  event.respondWith(networkFirst(event, request, url));
});

async function networkFirst(event, request, url) {
  const cache = await caches.open(CACHE);
  // Every navigation inside the app is the one page; its hash never reaches here.
  const key = request.mode === 'navigate' ? new URL('./', scope).href : url.href;
  let stored = Promise.resolve();
  const fresh = fetch(request.mode === 'navigate'
    ? new Request(url, { cache: 'no-cache', credentials: 'same-origin' })
    : new Request(request, { cache: 'no-cache' }))
    .then((response) => {
      if (response.ok && response.type === 'basic') stored = cache.put(key, response.clone());
      return response;
    });
  // Keeps the worker alive until the fresh copy is stored, even when the cache answered.
  event.waitUntil(fresh.then(() => stored).catch(() => {}));
  const cached = await cache.match(key, { ignoreSearch: request.mode === 'navigate' });
  if (!cached) return fresh;
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(cached), NETWORK_TIMEOUT_MS); });
  return Promise.race([
    fresh.then((response) => (response.ok ? response : cached), () => cached),
    late,
  ]).finally(() => clearTimeout(timer));
}
