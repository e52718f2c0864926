// Interop: the npm tus-js-client, running in Node, against a real ferry-server. It knows
// nothing about ferry beyond tus 1.0, so this is what any third-party tus client sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Upload } from 'tus-js-client';
import { api, startServer } from './support.mjs';

const MiB = 1024 * 1024;

/** Runs a tus-js-client upload to completion; resolves to the Upload, rejects with its error. */
function runUpload(server, input, options = {}) {
  return new Promise((resolve, reject) => {
    const upload = new Upload(input, {
      endpoint: `${server.url}/api/uploads`,
      headers: { 'x-api-key': server.apiKey },
      chunkSize: 8 * MiB,
      retryDelays: null,
      ...options,
      onSuccess: () => resolve(upload),
      onError: reject,
    });
    upload.start();
  });
}

async function assetNamed(server, name) {
  const { items } = await api(server, '/api/assets?limit=1000');
  const matches = items.filter((a) => a.originalFileName === name);
  assert.equal(matches.length, 1, `one asset named ${name}: ${JSON.stringify(items)}`);
  return matches[0];
}

async function original(server, id) {
  const res = await fetch(`${server.url}/api/assets/${id}/original`, {
    headers: { 'x-api-key': server.apiKey },
  });
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

test('tus-js-client uploads 1 byte, 5 MiB and 100 MiB in 8 MiB chunks', async (t) => {
  const server = await startServer(t);
  for (const [name, size, compareBytes] of [
    ['one-byte.bin', 1, true],
    ['five.jpg', 5 * MiB, true],
    ['hundred.mp4', 100 * MiB, false],
  ]) {
    const bytes = randomBytes(size);
    const filetype = { jpg: 'image/jpeg', mp4: 'video/mp4' }[name.split('.').at(-1)] ?? 'application/octet-stream';
    const patches = [];
    await runUpload(server, bytes, {
      metadata: { filename: name, filetype },
      onBeforeRequest: (req) => {
        if (req.getMethod() === 'PATCH') patches.push(Number(req.getHeader('Upload-Offset')));
      },
    });
    assert.equal(patches.length, Math.ceil(size / (8 * MiB)), `${name}: one PATCH per 8 MiB`);
    const asset = await assetNamed(server, name);
    assert.equal(asset.checksum, sha256(bytes), name);
    assert.equal(asset.fileSize, size, name);
    assert.equal(asset.mimeType, filetype, name);
    if (compareBytes) assert.ok((await original(server, asset.id)).equals(bytes), name);
  }
});

test('an aborted tus-js-client upload resumes from its URL', async (t) => {
  const server = await startServer(t);
  const bytes = randomBytes(12 * MiB);
  const metadata = { filename: 'resumed.mov', filetype: 'video/quicktime' };

  // First attempt: 1 MiB chunks, aborted once 3 MiB are acknowledged.
  let uploadUrl;
  let acknowledged = 0;
  await new Promise((resolve, reject) => {
    const upload = new Upload(bytes, {
      endpoint: `${server.url}/api/uploads`,
      headers: { 'x-api-key': server.apiKey },
      chunkSize: MiB,
      retryDelays: null,
      metadata,
      onChunkComplete: (_size, accepted) => {
        if (accepted >= 3 * MiB && !uploadUrl) {
          uploadUrl = upload.url;
          acknowledged = accepted;
          upload.abort().then(resolve, reject);
        }
      },
      onSuccess: () => reject(new Error('the upload finished before it was aborted')),
      onError: reject,
    });
    upload.start();
  });
  assert.match(uploadUrl, /\/api\/uploads\/[0-9a-f]{32}$/);
  const { items } = await api(server, '/api/assets');
  assert.equal(items.length, 0, 'no asset for an unfinished upload');

  // Second attempt: a new Upload that knows only the URL.
  const offsets = [];
  await runUpload(server, bytes, {
    uploadUrl,
    metadata,
    onBeforeRequest: (req) => {
      if (req.getMethod() === 'PATCH') offsets.push(Number(req.getHeader('Upload-Offset')));
    },
  });
  assert.ok(offsets[0] >= acknowledged, `resumed at ${offsets[0]}, not from 0 (acked ${acknowledged})`);
  const asset = await assetNamed(server, 'resumed.mov');
  assert.equal(asset.checksum, sha256(bytes));
  assert.ok((await original(server, asset.id)).equals(bytes));
});

test('a wrong Upload-Checksum gets 460 and the chunk is discarded', async (t) => {
  const server = await startServer(t);
  const bytes = randomBytes(64 * 1024);
  const wrong = createHash('sha1').update('not these bytes').digest('base64');
  let url;
  const error = await runUpload(server, bytes, {
    metadata: { filename: 'checksum.bin' },
    onBeforeRequest: (req) => {
      if (req.getMethod() === 'PATCH') {
        req.setHeader('Upload-Checksum', `sha1 ${wrong}`);
        url = req.getURL();
      }
    },
  }).then(() => assert.fail('the upload should have failed'), (e) => e);
  assert.equal(error.originalResponse?.getStatus(), 460, String(error));

  const head = await fetch(url, {
    method: 'HEAD',
    headers: { 'x-api-key': server.apiKey, 'tus-resumable': '1.0.0' },
  });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('upload-offset'), '0');

  // The right checksum (md5 this time) on the same upload is accepted.
  const md5 = createHash('md5').update(bytes).digest('base64');
  await runUpload(server, bytes, {
    uploadUrl: url,
    onBeforeRequest: (req) => {
      if (req.getMethod() === 'PATCH') req.setHeader('Upload-Checksum', `md5 ${md5}`);
    },
  });
  const asset = await assetNamed(server, 'checksum.bin');
  assert.equal(asset.checksum, sha256(bytes));
});
