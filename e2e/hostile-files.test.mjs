// Hostile files: truncated JPEG and HEIC, EXIF with absurd dates and offsets, broken
// QuickTime boxes, a 0-byte MOV, a 5 GiB sparse file, and names with NUL, a newline, `..`,
// 4-byte UTF-8, over 255 bytes and markup. Each gets a clear outcome (uploaded, with the
// file's own time where its metadata is unusable, or failed with a reason), and the queue
// always empties: no crash, no page error, nothing stuck.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './support.mjs';
import {
  MIB, sleep, startFerry, openEngine, addFiles, launch, serverAssets, sha256,
} from './chaos-support.mjs';

const be16 = (n) => Buffer.from([n >> 8 & 0xff, n & 0xff]);
const be32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const ascii = (s) => Buffer.from(`${s}\0`, 'latin1');

/**
 * A JPEG whose EXIF holds DateTimeOriginal `date` and OffsetTimeOriginal `offset` in an
 * Exif sub-IFD at `exifIfd` (default: where it really is) with `entries` entries declared.
 */
function exifJpeg({ date = '2024:05:01 12:00:00', offset = '+02:00', exifIfd, entries = 2 } = {}) {
  const dateBytes = ascii(date);
  const offsetBytes = ascii(offset);
  const ifd0 = Buffer.concat([be16(1), be16(0x8769), be16(4), be32(1), be32(exifIfd ?? 26), be32(0)]);
  const dataAt = 26 + 2 + 2 * 12 + 4;
  const exif = Buffer.concat([
    be16(entries),
    be16(0x9003), be16(2), be32(dateBytes.length), be32(dataAt),
    be16(0x9011), be16(2), be32(offsetBytes.length), be32(dataAt + dateBytes.length),
    be32(0),
  ]);
  const tiff = Buffer.concat([Buffer.from('MM\0*'), be32(8), ifd0, exif, dateBytes, offsetBytes]);
  const app1 = Buffer.concat([Buffer.from('Exif\0\0'), tiff]);
  const body = Buffer.alloc(2048, 0x5a);
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe1]), be16(app1.length + 2), app1,
    Buffer.from([0xff, 0xda]), be16(12), body, Buffer.from([0xff, 0xd9])]);
}

function box(kind, body) {
  return Buffer.concat([be32(body.length + 8), Buffer.from(kind, 'latin1'), body]);
}

/** A QuickTime file with `mvhd` made of `fields` (version 0 unless `v1`). */
function movie({ created = 0, timescale = 600, duration = 0, v1 = false, extra = Buffer.alloc(0) } = {}) {
  const mvhd = v1
    ? Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.alloc(4), be32(created), Buffer.alloc(8), be32(timescale),
      Buffer.from('ffffffffffffffff', 'hex'), Buffer.alloc(80)])
    : Buffer.concat([Buffer.alloc(4), be32(created), be32(created), be32(timescale), be32(duration), Buffer.alloc(80)]);
  return Buffer.concat([box('ftyp', Buffer.from('qt  \0\0\0\0qt  ')), box('mdat', Buffer.alloc(512, 7)),
    box('moov', box('mvhd', mvhd)), extra]);
}

/** 2021-03-04T05:06:07Z: the files' own time, which every unusable date falls back to. */
const MTIME = Date.UTC(2021, 2, 4, 5, 6, 7);
const MTIME_ISO = '2021-03-04T05:06:07.000Z';
const QT_EPOCH = 2_082_844_800;

/** Contents: what each is, its bytes, and the `fileCreatedAt` the server must record. */
function hostileContents() {
  const good = exifJpeg();
  const heic = Buffer.concat([box('ftyp', Buffer.from('heic\0\0\0\0mif1heic')),
    be32(1 << 20), Buffer.from('meta'), Buffer.alloc(40, 1)]);
  return [
    { name: 'exif-good.jpg', type: 'image/jpeg', bytes: good, created: '2024-05-01T10:00:00.000Z' },
    { name: 'truncated.jpg', type: 'image/jpeg', bytes: good.subarray(0, 40), created: MTIME_ISO },
    { name: 'truncated-in-exif-data.jpg', type: 'image/jpeg', bytes: good.subarray(0, 70), created: MTIME_ISO },
    { name: 'truncated.heic', type: 'image/heic', bytes: heic, created: MTIME_ISO },
    { name: 'exif-date-9999-99-99.jpg', type: 'image/jpeg', bytes: exifJpeg({ date: '9999:99:99 99:99:99' }), created: MTIME_ISO },
    { name: 'exif-date-zero.jpg', type: 'image/jpeg', bytes: exifJpeg({ date: '0000:00:00 00:00:00' }), created: MTIME_ISO },
    { name: 'exif-date-garbage.jpg', type: 'image/jpeg', bytes: exifJpeg({ date: '\u00ff\u00fe:)' }), created: MTIME_ISO },
    // An offset past ±24 h is ignored: the time is taken as UTC.
    { name: 'exif-offset-absurd.jpg', type: 'image/jpeg', bytes: exifJpeg({ offset: '+99:99' }), created: '2024-05-01T12:00:00.000Z' },
    { name: 'exif-ifd-past-the-end.jpg', type: 'image/jpeg', bytes: exifJpeg({ exifIfd: 0xfffffff0 }), created: MTIME_ISO },
    { name: 'exif-ifd-65535-entries.jpg', type: 'image/jpeg', bytes: exifJpeg({ entries: 0xffff }), created: MTIME_ISO },
    { name: 'empty.mov', type: 'video/quicktime', bytes: Buffer.alloc(0), created: MTIME_ISO },
    { name: 'mvhd-before-1970.mov', type: 'video/quicktime', bytes: movie({ created: 1000 }), created: MTIME_ISO },
    { name: 'mvhd-timescale-0.mov', type: 'video/quicktime', bytes: movie({ created: 1_714_564_800 + QT_EPOCH, timescale: 0, duration: 5 }), created: '2024-05-01T12:00:00.000Z' },
    { name: 'mvhd-v1-endless.mov', type: 'video/quicktime', bytes: movie({ v1: true, created: 1_714_564_800 + QT_EPOCH }), created: '2024-05-01T12:00:00.000Z' },
    {
      name: 'box-size-u64-max.mov',
      type: 'video/quicktime',
      bytes: Buffer.concat([box('ftyp', Buffer.from('qt  \0\0\0\0')), be32(1), Buffer.from('moov'), Buffer.from('ffffffffffffffff', 'hex'), Buffer.alloc(64)]),
      created: MTIME_ISO,
    },
  ];
}

/** Names no file system offers, given to `new File` (as DataTransfer and share targets can). */
const HOSTILE_NAMES = [
  'nul\0inside.jpg',
  'line\nbreak.jpg',
  '../../../etc/passwd.jpg',
  '..',
  '𝄞 music 😀 🏔️.jpg',
  `${'long-'.repeat(60)}.jpg`, // 304 bytes
  `${'ü'.repeat(140)}.jpg`, // 284 bytes of 2-byte UTF-8
  '<img src=x onerror=window.__pwned=1>.jpg',
];

test('hostile files and names: each is uploaded with fallback metadata or fails with a reason, and the queue empties', async (t) => {
  // The largest upload is 4 GiB, so the 5 GiB file meets the limit, not a 5 GiB transfer.
  const ferry = await startFerry(t, { serve: ['--max-upload-bytes', String(4 * 1024 * MIB)] });
  const browser = await launch(t);
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('crash', () => problems.push('the page crashed'));
  await openEngine(page, ferry.url, ferry.apiKey, { chunkSize: MIB });

  const contents = hostileContents();
  const named = HOSTILE_NAMES.map((name, i) => ({ name, type: 'image/jpeg', bytes: exifJpeg({ date: `2020:01:0${i + 1} 00:00:00`, offset: '+00:00' }), created: `2020-01-0${i + 1}T00:00:00.000Z` }));
  const made = [...contents, ...named].map((f) => ({ ...f, size: f.bytes.length, sha256: sha256(f.bytes) }));
  await page.evaluate(({ files, mtime }) => {
    const list = files.map((f) => new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: f.type, lastModified: mtime }));
    return window.backup.add(list);
  }, { files: made.map((f) => ({ name: f.name, type: f.type, b64: f.bytes.toString('base64') })), mtime: MTIME });

  // The 5 GiB sparse file comes from disk, as a picked file does.
  const dir = tempDir(t);
  const huge = join(dir, 'huge-5GiB.mov');
  execFileSync('truncate', ['-s', String(5 * 1024 * MIB), huge]);
  await addFiles(page, [huge]);

  const count = made.length + 1;
  const deadline = Date.now() + 180_000;
  let records;
  for (;;) {
    records = await page.evaluate(() => window.backup.assets(1000));
    const settled = records.filter((r) => ['uploaded', 'duplicate', 'failed', 'skipped'].includes(r.status));
    if (records.length === count && settled.length === count) break;
    assert.ok(Date.now() < deadline, `the queue empties: ${JSON.stringify(records.filter((r) => !settled.includes(r)).map((r) => [r.name, r.status, r.doneBytes]))}`);
    await sleep(250);
  }
  const outcome = Object.fromEntries(records.map((r) => [r.name, r]));
  for (const r of records) console.log(`hostile: ${JSON.stringify(r.name)} (${r.size} B): ${r.status}${r.lastError ? ` (${r.lastError})` : ''}`);

  // Too large for this server: failed at once, with the reason, before any byte was sent.
  const big = outcome['huge-5GiB.mov'];
  assert.equal(big.status, 'failed');
  assert.match(big.lastError, /larger than this server accepts/);

  // Everything else is on the server, byte for byte, under its own name, with the date
  // its metadata gives or, where that is unusable, the file's own time.
  const onServer = await serverAssets(ferry, ferry.apiKey);
  for (const f of made) {
    const record = outcome[f.name];
    assert.ok(record, `${JSON.stringify(f.name)} is in the catalog under its name`);
    assert.equal(record.status, 'uploaded', `${JSON.stringify(f.name)}: ${record.status} ${record.lastError ?? ''}`);
    const asset = onServer.find((a) => a.checksum === f.sha256 && a.originalFileName === f.name);
    assert.ok(asset, `the server has ${JSON.stringify(f.name)} under that name: ${JSON.stringify(onServer.filter((a) => a.checksum === f.sha256).map((a) => a.originalFileName))}`);
    assert.equal(asset.fileSize, f.size);
    assert.equal(asset.id, record.serverId);
    assert.equal(asset.fileCreatedAt, f.created, `${f.name}: the date`);
    const res = await fetch(`${ferry.url}/api/assets/${asset.id}/original`, { headers: { 'x-api-key': ferry.apiKey } });
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), f.sha256, `stored bytes of ${JSON.stringify(f.name)}`);
  }
  assert.equal(onServer.length, made.length, 'nothing else is on the server');
  // Nothing was written outside the data directory's own layout, whatever the names said.
  assert.deepEqual(execFileSync('ls', [ferry.data], { encoding: 'utf8' }).trim().split('\n').filter((n) => !/^(blobs|uploads|thumbs|ferry\.sqlite.*)$/.test(n)), []);
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no markup in a name ran');
  assert.deepEqual(problems, [], 'no page error and no crash');
  assert.equal((await fetch(`${ferry.url}/healthz`)).status, 200, 'the server is still well');
});
