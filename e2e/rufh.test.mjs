// RUFH (IETF Resumable Uploads for HTTP, interop versions 6, 7 and 8) against the real
// ferry-server with plain fetch: careful creation carrying part of the body, HEAD for the
// offset, append the rest with Upload-Complete: ?1, then check the asset's bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startServer } from './support.mjs';

const MiB = 1024 * 1024;
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const b64 = (s) => Buffer.from(s).toString('base64');

for (const version of ['6', '7', '8']) {
  test(`RUFH interop version ${version}: create with part of the body, HEAD, append, complete`, async (t) => {
    const server = await startServer(t);
    const headers = { 'x-api-key': server.apiKey, 'upload-draft-interop-version': version };
    const bytes = randomBytes(3 * MiB + 123);
    const first = 1 * MiB + 7;

    const created = await fetch(`${server.url}/api/uploads`, {
      method: 'POST',
      headers: {
        ...headers,
        'upload-complete': '?0',
        'upload-length': String(bytes.length),
        'upload-metadata': `filename ${b64(`rufh-v${version}.bin`)},album ${b64('RUFH')}`,
        'repr-digest': `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`,
        'content-type': 'application/octet-stream',
      },
      body: bytes.subarray(0, first),
    });
    assert.equal(created.status, 201, await created.text());
    assert.equal(created.headers.get('upload-complete'), '?0');
    assert.equal(created.headers.get('upload-offset'), String(first));
    assert.match(created.headers.get('upload-limit'), version === '6' ? /expires=\d+/ : /max-age=\d+/);
    const location = new URL(created.headers.get('location'), server.url).href;

    const head = await fetch(location, { method: 'HEAD', headers });
    assert.equal(head.status, 204);
    assert.equal(head.headers.get('upload-offset'), String(first));
    assert.equal(head.headers.get('upload-complete'), '?0');
    assert.equal(head.headers.get('upload-length'), String(bytes.length));
    assert.equal(head.headers.get('cache-control'), 'no-store');

    // A wrong offset first: 409 with the expected one.
    const wrong = await fetch(location, {
      method: 'PATCH',
      headers: { ...headers, 'upload-offset': '0', 'upload-complete': '?0', 'content-type': 'application/partial-upload' },
      body: bytes.subarray(0, 10),
    });
    assert.equal(wrong.status, 409);
    const problem = await wrong.json();
    assert.equal(problem.type, 'https://iana.org/assignments/http-problem-types#mismatching-upload-offset');
    assert.equal(problem['expected-offset'], first);

    const offset = Number(head.headers.get('upload-offset'));
    const done = await fetch(location, {
      method: 'PATCH',
      headers: {
        ...headers,
        'upload-offset': String(offset),
        'upload-complete': '?1',
        'content-type': 'application/partial-upload',
      },
      body: bytes.subarray(offset),
    });
    assert.equal(done.status, 200, await done.clone().text());
    assert.equal(done.headers.get('upload-complete'), '?1');
    const assetId = done.headers.get('ferry-asset-id');
    assert.deepEqual(await done.json(), { id: assetId, duplicate: false });

    const original = await fetch(`${server.url}/api/assets/${assetId}/original`, { headers: { 'x-api-key': server.apiKey } });
    assert.equal(original.status, 200);
    assert.equal(sha256(Buffer.from(await original.arrayBuffer())), sha256(bytes));
    const asset = await (await fetch(`${server.url}/api/assets/${assetId}`, { headers: { 'x-api-key': server.apiKey } })).json();
    assert.equal(asset.originalFileName, `rufh-v${version}.bin`);
    assert.equal(asset.fileSize, bytes.length);
    assert.deepEqual(asset.albums, ['RUFH']);

    const after = await fetch(location, { method: 'HEAD', headers });
    assert.equal(after.headers.get('upload-complete'), '?1');
    assert.equal(after.headers.get('ferry-asset-id'), assetId);
  });
}

test('RUFH: OPTIONS advertises application/partial-upload; a whole file in one POST', async (t) => {
  const server = await startServer(t);
  const options = await fetch(`${server.url}/api/uploads`, { method: 'OPTIONS' });
  assert.equal(options.status, 204);
  assert.equal(options.headers.get('accept-patch'), 'application/partial-upload');
  assert.match(options.headers.get('upload-limit'), /^max-size=\d+$/);

  const bytes = randomBytes(200_000);
  const res = await fetch(`${server.url}/api/uploads`, {
    method: 'POST',
    headers: {
      'x-api-key': server.apiKey,
      'upload-draft-interop-version': '8',
      'upload-complete': '?1',
      'content-type': 'application/octet-stream',
      'content-disposition': 'inline; filename="whole.bin"',
    },
    body: bytes,
  });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('upload-complete'), '?1');
  const assetId = res.headers.get('ferry-asset-id');
  const original = await fetch(`${server.url}/api/assets/${assetId}/original`, { headers: { 'x-api-key': server.apiKey } });
  assert.equal(sha256(Buffer.from(await original.arrayBuffer())), sha256(bytes));
});
