// Typed usage of the package, checked with `npm run typecheck` (tsc --noEmit) against the
// shipped .d.ts files.
import { Uploader, FerryError, type Asset, type Progress, type UploaderOptions } from 'ferry-uploader';
import type { FerryUploaderElement } from 'ferry-uploader/element';

const options: UploaderOptions = {
  endpoint: 'https://photos.example/api',
  getAuth: async () => ({ Authorization: 'Bearer token' }),
  chunkSize: 8 * 1024 * 1024,
  concurrency: 3,
  policy: { wifiOnly: true, cellularPhotos: true },
  dedup: true,
};

export async function run(input: HTMLInputElement): Promise<number> {
  const uploader = await Uploader.create(options);
  const off = uploader.on('progress', (p: Progress) => console.log(p.state, p.reasonCode ?? '', p.bytesDone / p.bytesTotal));
  uploader.on('asset-state', (a: Asset) => console.log(a.name, a.status, a.sha256 ?? ''));
  uploader.on('error', (e) => {
    const code: FerryError['code'] = e.code;
    if (code === 'quota' || code === 'auth') console.warn(e.message, e.asset?.name);
  });
  uploader.on('complete', ({ stats }) => console.log(stats.uploaded, stats.duplicates));
  const ids: string[] = await uploader.add(input.files!);
  await uploader.start();
  const page = await uploader.assets({ limit: 50 });
  if (page.nextOffset !== null) await uploader.assets({ limit: 50, offset: page.nextOffset });
  off();
  const element: FerryUploaderElement | null = document.querySelector('ferry-uploader');
  element?.addEventListener('ferry-asset-state', (event) => console.log(event.detail.status));
  element?.configure({ getAuth: () => 'key' });
  return ids.length;
}

// @ts-expect-error: 'ftp' is not a protocol
new Uploader({ endpoint: '/api', protocol: 'ftp' });
