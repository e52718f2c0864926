// Photo and video metadata read in the browser: the engine reads the EXIF
// DateTimeOriginal (with its offset) of a JPEG, HEIC, PNG or WebP, and a QuickTime file's `mvhd` creation time and
// duration from the file itself, a few slices of it, before it creates the upload. So the
// npm @tus/server, which never looks inside a file, receives the file's own date in
// Upload-Metadata (not its lastModified), ferry-server records it (also for a large video
// sent while it is hashed), and a file whose metadata is broken falls back to lastModified
// and still uploads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, launchBrowser, pageProblems, startServer, tempDir } from './support.mjs';

const MIB = 1024 * 1024;
const be16 = (n) => Buffer.from([n >> 8 & 0xff, n & 0xff]);
const be32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const ascii = (s) => Buffer.from(`${s}\0`, 'latin1');
const QT_EPOCH = 2_082_844_800;

/** Photos in the formats phones and browsers write, all taken at FIXTURE_TAKEN_AT. */
const FIXTURES = new URL('../media-meta/fixtures/', import.meta.url);
const PHOTOS = {
  'IMG_0006.heic': new URL('photo.heic', FIXTURES),
  'IMG_0007.png': new URL('photo.png', FIXTURES),
  'IMG_0008.webp': new URL('photo.webp', FIXTURES),
};
const FIXTURE_TAKEN_AT = '2024-05-01T14:00:00.250+02:00';

/** Every file's modification time: what a file without a usable date of its own gets. */
const MTIME = Date.UTC(2021, 2, 4, 5, 6, 7);
const MTIME_ISO = '2021-03-04T05:06:07.000Z';

/** A JPEG with EXIF DateTimeOriginal `date` and OffsetTimeOriginal `offset`, then `scan` bytes. */
function exifJpeg({ date, offset, scan = 300 * 1024 }) {
  const dateBytes = ascii(date);
  const offsetBytes = ascii(offset);
  const ifd0 = Buffer.concat([be16(1), be16(0x8769), be16(4), be32(1), be32(26), be32(0)]);
  const dataAt = 26 + 2 + 2 * 12 + 4;
  const exif = Buffer.concat([
    be16(2),
    be16(0x9003), be16(2), be32(dateBytes.length), be32(dataAt),
    be16(0x9011), be16(2), be32(offsetBytes.length), be32(dataAt + dateBytes.length),
    be32(0),
  ]);
  const tiff = Buffer.concat([Buffer.from('MM\0*'), be32(8), ifd0, exif, dateBytes, offsetBytes]);
  const app1 = Buffer.concat([Buffer.from('Exif\0\0'), tiff]);
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe1]), be16(app1.length + 2), app1,
    Buffer.from([0xff, 0xda]), be16(12), Buffer.alloc(10), Buffer.alloc(scan, 0x5a), Buffer.from([0xff, 0xd9])]);
}

function box(kind, body) {
  return Buffer.concat([be32(body.length + 8), Buffer.from(kind, 'latin1'), body]);
}

/** A QuickTime movie: `mdat` of `media` bytes first, then `moov/mvhd` (as cameras write it). */
function movie({ created, seconds, media }) {
  const mvhd = Buffer.concat([Buffer.alloc(4), be32(created + QT_EPOCH), be32(created + QT_EPOCH), be32(600),
    be32(seconds * 600), Buffer.alloc(80)]);
  const mdat = Buffer.alloc(media + 8);
  mdat.writeUInt32BE(media + 8);
  mdat.write('mdat', 4, 'latin1');
  for (let i = 8; i < mdat.length; i += 4096) mdat[i] = i & 0xff; // not all zeros
  return Buffer.concat([box('ftyp', Buffer.from('qt  \0\0\0\0qt  ')), mdat, box('moov', box('mvhd', mvhd))]);
}

/** Writes the test's files, all modified at MTIME; returns name → {path, bytes, sha256}. */
function writeFiles(t, { bigVideo = false } = {}) {
  const dir = tempDir(t);
  const contents = {
    // 14:00 at +02:00 is 12:00 UTC; lastModified says 2021.
    'IMG_0001.jpg': exifJpeg({ date: '2024:05:01 14:00:00', offset: '+02:00' }),
    // 2023-07-08T09:10:11Z, 90 s; its moov is 3 MiB into the file.
    'MOV_0002.mov': movie({ created: 1_688_807_411, seconds: 90, media: 3 * MIB }),
    // EXIF whose date no calendar has, then a JPEG cut short inside its EXIF.
    'IMG_0003.jpg': exifJpeg({ date: '2024:13:45 99:00:00', offset: '+02:00' }),
    'IMG_0004.jpg': exifJpeg({ date: '2024:05:01 14:00:00', offset: '+02:00' }).subarray(0, 60),
    // Written by libheif, libwebp and ExifTool (media-meta/fixtures): EXIF in a HEIC's
    // Exif item, a PNG's eXIf chunk and a WebP's EXIF chunk.
    ...Object.fromEntries(Object.entries(PHOTOS).map(([name, fixture]) => [name, readFileSync(fixture)])),
  };
  if (bigVideo) {
    // Over the 32 MiB above which a file of a size the server does not know is sent while
    // it is hashed: its creation request cannot wait for a hash, but has its date.
    contents['MOV_0005.mov'] = movie({ created: 1_700_000_000, seconds: 3600 + 2, media: 40 * MIB });
  }
  const files = {};
  for (const [name, bytes] of Object.entries(contents)) {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    utimesSync(path, MTIME / 1000, MTIME / 1000);
    files[name] = { name, path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  return files;
}

/** Page errors and failed responses; Chromium's favicon.ico request (404) is no problem. */
function problemsOf(page) {
  const problems = pageProblems(page);
  return () => problems.filter((p) => !p.startsWith('console: Failed to load resource'));
}

async function openEngine(page, server, options = {}) {
  if (!page.url().startsWith(server.url)) await page.goto(`${server.url}/healthz`);
  await page.evaluate(async ({ apiKey, options }) => {
    const { default: init, Backup } = await import('/pkg/ferry.js');
    await init();
    window.backup = await Backup.open({
      apiKey, catalogName: 'media-meta-test', hashWorkerUrl: '/hash-worker.js', ...options,
    });
  }, { apiKey: server.apiKey, options });
}

async function addFiles(page, paths) {
  await page.evaluate(() => {
    const input = Object.assign(document.createElement('input'), { type: 'file', multiple: true, id: 'pick' });
    document.body.append(input);
  });
  await page.setInputFiles('#pick', paths);
  return page.evaluate(() => window.backup.add(document.querySelector('#pick').files));
}

async function waitForAll(page, statuses, count, timeout = 120_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const all = await page.evaluate(() => window.backup.assets(1000)).catch(() => []);
    if (all.length === count && all.every((a) => statuses.includes(a.status))) return all;
    if (Date.now() > deadline) {
      throw new Error(`waiting for ${count} × ${statuses}: ${JSON.stringify(all.map((a) => [a.name, a.status, a.lastError]))}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Upload-Metadata (`key base64,key2 base64`) as an object of strings. */
function decodeMetadata(header) {
  return Object.fromEntries((header ?? '').split(',').filter(Boolean).map((pair) => {
    const [key, value = ''] = pair.trim().split(' ');
    return [key, Buffer.from(value, 'base64').toString('utf8')];
  }));
}

test('@tus/server from npm receives each file\'s own date and duration in Upload-Metadata, and a broken one its lastModified', async (t) => {
  const { createServer } = await import('node:http');
  const { Server: TusServer } = await import('@tus/server');
  const { FileStore } = await import('@tus/file-store');
  const server = await startServer(t); // serves the engine's page only
  const store = tempDir(t, 'tus-store-');
  const tus = new TusServer({
    path: '/files',
    datastore: new FileStore({ directory: store }),
    allowedHeaders: ['x-api-key'],
    allowedOrigins: [server.url],
  });
  const created = []; // what @tus/server was told at each creation
  const http = createServer((req, res) => {
    if (req.method === 'POST') created.push(decodeMetadata(req.headers['upload-metadata']));
    tus.handle(req, res);
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => http.close(resolve)));

  const files = writeFiles(t);
  const browser = await launchBrowser(t);
  const page = await browser.newPage({ bypassCSP: true });
  const problems = problemsOf(page);
  await openEngine(page, server, { tusEndpoint: `http://127.0.0.1:${http.address().port}/files`, dedup: false });
  await addFiles(page, Object.values(files).map((f) => f.path));
  const all = await waitForAll(page, ['uploaded'], Object.keys(files).length);

  const sent = Object.fromEntries(created.map((m) => [m.filename, m]));
  assert.deepEqual(Object.keys(sent).sort(), Object.keys(files).sort(), 'one creation per file');
  // The photo's own wall-clock time and offset, not lastModified.
  assert.equal(sent['IMG_0001.jpg'].fileCreatedAt, '2024-05-01T14:00:00.000+02:00');
  assert.equal(sent['IMG_0001.jpg'].filetype, 'image/jpeg');
  assert.equal(sent['IMG_0001.jpg'].duration, undefined);
  assert.equal(sent['MOV_0002.mov'].fileCreatedAt, '2023-07-08T09:10:11.000Z');
  assert.equal(sent['MOV_0002.mov'].duration, '0:01:30.000');
  // Broken metadata: lastModified, and the file still goes up.
  assert.equal(sent['IMG_0003.jpg'].fileCreatedAt, MTIME_ISO);
  assert.equal(sent['IMG_0004.jpg'].fileCreatedAt, MTIME_ISO);
  for (const name of Object.keys(PHOTOS)) assert.equal(sent[name].fileCreatedAt, FIXTURE_TAKEN_AT, name);
  for (const m of Object.values(sent)) assert.equal(m.fileModifiedAt, String(MTIME), m.filename);

  // The catalog keeps what was read, for the app to show.
  const byName = Object.fromEntries(all.map((a) => [a.name, a]));
  assert.equal(byName['IMG_0001.jpg'].media.takenAt, '2024-05-01T14:00:00.000+02:00');
  assert.equal(byName['MOV_0002.mov'].media.durationMs, 90_000);
  assert.equal(byName['IMG_0003.jpg'].media.takenAt ?? null, null);
  assert.equal(byName['IMG_0003.jpg'].media.complete, true);
  assert.equal(byName['IMG_0006.heic'].media.takenAt, FIXTURE_TAKEN_AT);
  assert.equal(byName['IMG_0006.heic'].media.complete, true);
  for (const file of Object.values(files)) {
    const id = new URL(byName[file.name].uploadUrl).pathname.split('/').at(-1);
    const stored = readFileSync(join(store, id));
    assert.equal(createHash('sha256').update(stored).digest('hex'), file.sha256, `${file.name} bytes on @tus/server`);
  }
  assert.deepEqual(problems(), []);
});

test('ferry-server records the date the browser read, also for a large video sent while it is hashed', async (t) => {
  const server = await startServer(t);
  const files = writeFiles(t, { bigVideo: true });
  const browser = await launchBrowser(t);
  const page = await browser.newPage();
  const problems = problemsOf(page);
  const created = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/uploads') {
      created.push(decodeMetadata(r.headers()['upload-metadata']));
    }
  });
  await openEngine(page, server);
  await addFiles(page, Object.values(files).map((f) => f.path));
  await waitForAll(page, ['uploaded'], Object.keys(files).length, 180_000);

  const sent = Object.fromEntries(created.map((m) => [m.filename, m]));
  assert.equal(sent['IMG_0001.jpg'].fileCreatedAt, '2024-05-01T14:00:00.000+02:00');
  // Created before its hash was known (no checksum declared), yet with its date.
  assert.equal(sent['MOV_0005.mov'].checksum, undefined, 'the large video was sent while it was hashed');
  assert.equal(sent['MOV_0005.mov'].fileCreatedAt, '2023-11-14T22:13:20.000Z');
  assert.equal(sent['MOV_0005.mov'].duration, '1:00:02.000');

  const { items } = await api(server, '/api/assets?limit=100');
  const asset = Object.fromEntries(items.map((a) => [a.originalFileName, a]));
  assert.equal(asset['IMG_0001.jpg'].fileCreatedAt, '2024-05-01T12:00:00.000Z');
  assert.equal(asset['MOV_0002.mov'].fileCreatedAt, '2023-07-08T09:10:11.000Z');
  assert.equal(asset['MOV_0002.mov'].duration, '0:01:30.000');
  assert.equal(asset['MOV_0005.mov'].fileCreatedAt, '2023-11-14T22:13:20.000Z');
  assert.equal(asset['MOV_0005.mov'].duration, '1:00:02.000');
  assert.equal(asset['IMG_0003.jpg'].fileCreatedAt, MTIME_ISO);
  assert.equal(asset['IMG_0004.jpg'].fileCreatedAt, MTIME_ISO);
  for (const name of Object.keys(PHOTOS)) {
    assert.equal(sent[name].fileCreatedAt, FIXTURE_TAKEN_AT, `${name}: read in the browser`);
    assert.equal(asset[name].fileCreatedAt, '2024-05-01T12:00:00.250Z', name);
  }
  for (const file of Object.values(files)) {
    assert.equal(asset[file.name].checksum, file.sha256, `${file.name} stored as read`);
  }
  assert.deepEqual(problems(), []);
});
