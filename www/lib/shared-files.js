// Files shared into the app (the manifest's share target), held until the person says to
// back them up. The service worker receives them; the page asks, then adds them.
//
// Why ask: the share target is a POST to ./share, and any web site can make the browser
// send one (a form filled by script, submitted across sites), and the service worker cannot
// tell it from the system's share sheet. Backing such files up at once would let a site
// put files in someone's backup. Held files wait in Cache Storage (on disk, whatever their
// size, and through a restart of the worker), one share at a time.

const CACHE = 'ferry-shared';
const scope = () => new URL((self.registration?.scope ?? document.baseURI));

/** Replaces the held share with `files`. */
export async function holdShared(files) {
  await caches.delete(CACHE);
  const cache = await caches.open(CACHE);
  await Promise.all(files.map((file, i) => cache.put(new URL(`shared/${i}`, scope()).href, new Response(file, {
    headers: {
      'content-type': file.type || 'application/octet-stream',
      'x-name': encodeURIComponent(file.name),
      'x-last-modified': String(file.lastModified),
    },
  }))));
}

/** The held files, in the order they were shared; [] when none are held. */
export async function heldShared() {
  if (!(await caches.has(CACHE))) return [];
  const cache = await caches.open(CACHE);
  const requests = (await cache.keys())
    .sort((a, b) => Number(a.url.split('/').pop()) - Number(b.url.split('/').pop()));
  const files = [];
  for (const request of requests) {
    const response = await cache.match(request);
    if (!response) continue;
    const blob = await response.blob();
    files.push(new File([blob], decodeURIComponent(response.headers.get('x-name') ?? 'shared'), {
      type: blob.type,
      lastModified: Number(response.headers.get('x-last-modified')) || Date.now(),
    }));
  }
  return files;
}

/** Lets go of the held files (added to the backup, or declined). */
export async function dropShared() {
  await caches.delete(CACHE);
}
