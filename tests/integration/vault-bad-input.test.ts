// Bad input to the vault gets a clear 4xx JSON error and changes nothing: for every case the
// status, the error code and the vault's whole observable state (usage, listing with
// metadata, and the files under its data directory) are checked.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  snapshotVault,
  startTestVault,
  tusCreate,
  tusHead,
  tusPatch,
  TUS,
  uploadBuffer,
  uploadMetadata,
  vaultFetch,
  type TestVault,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const goodMetadata = {
  captureTime: '2019-03-12T10:11:12.345+01:00',
  captureTimeSource: 'exif_original',
  timeZone: { offsetMinutes: 60, source: 'offset_time_original' },
  gps: { lat: 48.85, lon: 2.35 },
  camera: { make: 'Canon', model: 'EOS 5D' },
  width: 4000,
  height: 3000,
  durationSec: null,
  orientation: 1,
  mime: 'image/jpeg',
};

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault: bad input gets a clear 4xx JSON error and changes nothing', () => {
      let vault: TestVault;
      let heldSha: string;
      let partialLocation: string;

      before(async () => {
        vault = await startTestVault({ ...setup!.vaultOptions, maxSizeBytes: 10_000_000 });
        const held = await uploadBuffer(vault, Buffer.from('content the vault already holds'), {
          filename: 'held.jpg',
          mime: 'image/jpeg',
        });
        assert.equal(held.res.status, 201, held.text);
        heldSha = held.sha256;
        const put = await vaultFetch(vault, `/api/v1/assets/${heldSha}/metadata`, {
          method: 'PUT',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(goodMetadata),
        });
        assert.equal(put.status, 200);
        // an upload in flight: 10 bytes declared, 4 received
        const data = Buffer.from('0123456789');
        const created = await tusCreate(vault, {
          size: data.length,
          metadata: { filename: 'partial.bin', sha256: 'a'.repeat(64) },
        });
        assert.equal(created.res.status, 201);
        partialLocation = created.location!;
        const patched = await tusPatch(vault, partialLocation, 0, data.subarray(0, 4));
        assert.equal(patched.res.status, 204);
      });

      after(async () => {
        await vault?.close();
      });

      interface Case {
        name: string;
        request: () => Promise<Response>;
        status: number;
        error: string;
        /** a word the message must contain */
        says?: RegExp;
      }

      const api = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
        vaultFetch(vault, path, init);
      const jsonPut = (path: string, body: string) =>
        api(path, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body });
      const check = (body: string) =>
        api('/api/v1/assets/check', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body,
        });
      const patch = (location: string, offset: number, body: Buffer) =>
        vaultFetch(vault, location, {
          method: 'PATCH',
          headers: {
            ...TUS,
            'Upload-Offset': String(offset),
            'Content-Type': 'application/offset+octet-stream',
          },
          body,
        });
      const create = (
        metadata: Record<string, string> | undefined,
        extra: Record<string, string> = {},
      ) =>
        vaultFetch(vault, '/files/', {
          method: 'POST',
          headers: {
            ...TUS,
            'Upload-Length': '5',
            ...(metadata ? { 'Upload-Metadata': uploadMetadata(metadata) } : {}),
            ...extra,
          },
        });

      const cases: Case[] = [
        {
          name: 'no token on the API',
          request: () => api('/api/v1/usage', { headers: { Authorization: '' } }),
          status: 401,
          error: 'unauthorized',
          says: /token/,
        },
        {
          name: 'a wrong token on the API',
          request: () =>
            api('/api/v1/assets?limit=5', { headers: { Authorization: 'Bearer nope' } }),
          status: 401,
          error: 'unauthorized',
        },
        {
          name: 'a wrong token on a tus creation',
          request: () =>
            vaultFetch({ url: vault.url, token: 'wrong' }, '/files/', {
              method: 'POST',
              headers: { ...TUS, 'Upload-Length': '5' },
            }),
          status: 401,
          error: 'unauthorized',
        },
        {
          name: 'no token on a tus PATCH',
          request: () =>
            fetch(new URL(partialLocation, vault.url), {
              method: 'PATCH',
              headers: {
                ...TUS,
                'Upload-Offset': '4',
                'Content-Type': 'application/offset+octet-stream',
              },
              body: Buffer.from('456789'),
            }),
          status: 401,
          error: 'unauthorized',
        },
        {
          name: 'no token on /metrics',
          request: () => fetch(new URL('/metrics', vault.url)),
          status: 401,
          error: 'unauthorized',
        },
        {
          name: 'no token on content download',
          request: () => fetch(new URL(`/api/v1/assets/${heldSha}/content`, vault.url)),
          status: 401,
          error: 'unauthorized',
        },
        {
          name: 'malformed JSON to the dedup check',
          request: () => check('{"sha256": ['),
          status: 400,
          error: 'invalid_json',
          says: /JSON/,
        },
        {
          name: 'a dedup check body of the wrong shape',
          request: () => check('{"hashes": []}'),
          status: 400,
          error: 'bad_request',
        },
        {
          name: 'malformed JSON as metadata',
          request: () => jsonPut(`/api/v1/assets/${heldSha}/metadata`, '{"captureTime": '),
          status: 400,
          error: 'invalid_json',
        },
        {
          name: 'metadata that breaks the schema (latitude 123)',
          request: () =>
            jsonPut(
              `/api/v1/assets/${heldSha}/metadata`,
              JSON.stringify({ ...goodMetadata, gps: { lat: 123, lon: 2 } }),
            ),
          status: 400,
          error: 'invalid_metadata',
          says: /gps\.lat/,
        },
        {
          name: 'metadata with an unknown field',
          request: () =>
            jsonPut(
              `/api/v1/assets/${heldSha}/metadata`,
              JSON.stringify({ ...goodMetadata, owner: 'x' }),
            ),
          status: 400,
          error: 'invalid_metadata',
        },
        {
          name: 'metadata over 64 KiB',
          request: () =>
            jsonPut(
              `/api/v1/assets/${heldSha}/metadata`,
              JSON.stringify({ ...goodMetadata, device: 'x'.repeat(70 * 1024) }),
            ),
          status: 413,
          error: 'payload_too_large',
          says: /65536/,
        },
        {
          name: 'metadata for content the vault does not hold',
          request: () =>
            jsonPut(`/api/v1/assets/${'b'.repeat(64)}/metadata`, JSON.stringify(goodMetadata)),
          status: 404,
          error: 'not_found',
        },
        {
          name: 'a dedup check with a sha256 that is not 64 hex',
          request: () => check(JSON.stringify({ sha256: [heldSha, 'abc123'] })),
          status: 400,
          error: 'invalid_sha256',
          says: /64/,
        },
        {
          name: 'a dedup check with an uppercase sha256',
          request: () => check(JSON.stringify({ sha256: [heldSha.toUpperCase()] })),
          status: 400,
          error: 'invalid_sha256',
        },
        {
          name: 'a dedup check of 1,001 hashes',
          request: () =>
            check(JSON.stringify({ sha256: Array.from({ length: 1001 }, () => heldSha) })),
          status: 413,
          error: 'payload_too_large',
          says: /1000/,
        },
        {
          name: 'a dedup check body over 128 KiB',
          request: () => check(JSON.stringify({ sha256: [], pad: 'x'.repeat(200 * 1024) })),
          status: 413,
          error: 'payload_too_large',
        },
        {
          name: 'an asset path that is not a sha256',
          request: () => api('/api/v1/assets/not-a-hash'),
          status: 400,
          error: 'invalid_sha256',
        },
        {
          name: 'path traversal in the asset parameter',
          request: () => api('/api/v1/assets/..%2F..%2Fvault.db/content'),
          status: 400,
          error: 'invalid_sha256',
        },
        {
          name: 'path traversal in the upload id',
          request: () =>
            vaultFetch(vault, '/files/..%2Fvault.db', {
              method: 'PATCH',
              headers: {
                ...TUS,
                'Upload-Offset': '0',
                'Content-Type': 'application/offset+octet-stream',
              },
              body: Buffer.from('overwrite'),
            }),
          status: 404,
          error: 'not_found',
        },
        {
          name: 'path traversal in the metadata filename',
          request: () => create({ filename: '../../etc/passwd', sha256: 'c'.repeat(64) }),
          status: 400,
          error: 'invalid_path',
          says: /filename/,
        },
        {
          name: 'a metadata filename with a slash',
          request: () => create({ filename: 'dir/photo.jpg', sha256: 'c'.repeat(64) }),
          status: 400,
          error: 'invalid_path',
        },
        {
          name: 'path traversal in the metadata relpath',
          request: () =>
            create({ filename: 'a.jpg', sha256: 'c'.repeat(64), relpath: 'photos/../../secret' }),
          status: 400,
          error: 'invalid_path',
          says: /relpath/,
        },
        {
          name: 'an absolute metadata relpath',
          request: () =>
            create({ filename: 'a.jpg', sha256: 'c'.repeat(64), relpath: '/etc/a.jpg' }),
          status: 400,
          error: 'invalid_path',
        },
        {
          name: 'a tus creation without sha256',
          request: () => create({ filename: 'a.jpg' }),
          status: 400,
          error: 'invalid_sha256',
          says: /sha256/,
        },
        {
          name: 'a tus creation without any Upload-Metadata',
          request: () => create(undefined),
          status: 400,
          error: 'invalid_sha256',
          says: /sha256/,
        },
        {
          name: 'a tus creation whose sha256 is not 64 lowercase hex',
          request: () => create({ filename: 'a.jpg', sha256: 'C'.repeat(64) }),
          status: 400,
          error: 'invalid_sha256',
          says: /lowercase hex/,
        },
        {
          name: 'a tus creation without filename',
          request: () => create({ sha256: 'c'.repeat(64) }),
          status: 400,
          error: 'invalid_metadata',
          says: /filename/,
        },
        {
          name: 'a tus creation with a malformed mtime',
          request: () => create({ filename: 'a.jpg', sha256: 'c'.repeat(64), mtime: 'yesterday' }),
          status: 400,
          error: 'invalid_metadata',
          says: /mtime/,
        },
        {
          name: 'a tus creation with a deferred length',
          request: () =>
            vaultFetch(vault, '/files/', {
              method: 'POST',
              headers: {
                ...TUS,
                'Upload-Defer-Length': '1',
                'Upload-Metadata': uploadMetadata({ filename: 'a.jpg', sha256: 'c'.repeat(64) }),
              },
            }),
          status: 400,
          error: 'bad_request',
          says: /Upload-Length/,
        },
        {
          name: 'a tus creation over --max-size',
          request: () =>
            vaultFetch(vault, '/files/', {
              method: 'POST',
              headers: {
                ...TUS,
                'Upload-Length': '10000001',
                'Upload-Metadata': uploadMetadata({ filename: 'a.jpg', sha256: 'c'.repeat(64) }),
              },
            }),
          status: 413,
          error: 'payload_too_large',
        },
        {
          name: 'a PATCH at the wrong offset',
          request: () => patch(partialLocation, 2, Buffer.from('23456789')),
          status: 409,
          error: 'offset_conflict',
        },
        {
          name: 'a PATCH to an unknown upload',
          request: () => patch(`/files/${'0'.repeat(32)}`, 0, Buffer.from('abc')),
          status: 404,
          error: 'not_found',
        },
        {
          name: 'a DELETE of an unknown upload',
          request: () =>
            vaultFetch(vault, `/files/${'1'.repeat(32)}`, {
              method: 'DELETE',
              headers: { ...TUS },
            }),
          status: 404,
          error: 'not_found',
        },
        {
          name: 'a malformed Upload-Offset header',
          request: () =>
            vaultFetch(vault, partialLocation, {
              method: 'PATCH',
              headers: {
                ...TUS,
                'Upload-Offset': 'four',
                'Content-Type': 'application/offset+octet-stream',
              },
              body: Buffer.from('456789'),
            }),
          status: 400,
          error: 'bad_request',
          says: /upload-offset/i,
        },
        {
          name: 'a negative Upload-Length',
          request: () =>
            create({ filename: 'a.jpg', sha256: 'c'.repeat(64) }, { 'Upload-Length': '-5' }),
          status: 400,
          error: 'bad_request',
        },
        {
          name: 'a PATCH without the tus Content-Type',
          request: () =>
            vaultFetch(vault, partialLocation, {
              method: 'PATCH',
              headers: { ...TUS, 'Upload-Offset': '4', 'Content-Type': 'text/plain' },
              body: Buffer.from('456789'),
            }),
          status: 400,
          error: 'bad_request',
        },
        {
          name: 'an unsupported Tus-Resumable version',
          request: () =>
            vaultFetch(vault, partialLocation, {
              method: 'DELETE',
              headers: { 'Tus-Resumable': '0.2.2' },
            }),
          status: 412,
          error: 'precondition_failed',
          says: /1\.0\.0/,
        },
        {
          name: 'a method tus does not answer',
          request: () =>
            vaultFetch(vault, partialLocation, { method: 'PUT', headers: { ...TUS }, body: 'x' }),
          status: 405,
          error: 'method_not_allowed',
        },
        {
          name: 'an unknown API endpoint',
          request: () => api('/api/v1/nothing-here'),
          status: 404,
          error: 'not_found',
        },
        {
          name: 'a listing limit out of range',
          request: () => api('/api/v1/assets?limit=5000'),
          status: 400,
          error: 'bad_request',
        },
        {
          name: 'a listing cursor the vault never gave out',
          request: () => api('/api/v1/assets?after=..%2F..'),
          status: 400,
          error: 'invalid_cursor',
        },
        {
          name: 'the wrong method on an API resource',
          request: () => api(`/api/v1/assets/${heldSha}`, { method: 'DELETE' }),
          status: 405,
          error: 'method_not_allowed',
        },
      ];

      for (const c of cases) {
        it(`${c.name}: ${c.status} ${c.error}, nothing changed`, async () => {
          const before = await snapshotVault(vault);
          const storedBefore = await setup!.count(vault.dataDir);
          const res = await c.request();
          const text = await res.text();
          assert.equal(res.status, c.status, `status (body: ${text})`);
          assert.match(
            res.headers.get('content-type') ?? '',
            /application\/json/,
            'JSON error body',
          );
          const body = JSON.parse(text) as { error: string; message: string };
          assert.equal(body.error, c.error, text);
          assert.equal(typeof body.message, 'string');
          assert.ok(body.message.length > 10, `a readable message: ${body.message}`);
          if (c.says) assert.match(body.message, c.says);
          const afterState = await snapshotVault(vault);
          assert.deepEqual(afterState, before, 'the vault state is unchanged');
          assert.equal(await setup!.count(vault.dataDir), storedBefore, 'nothing stored');
          const head = await tusHead(vault, partialLocation);
          assert.equal(head.offset, 4, 'the upload in flight is untouched');
        });
      }
    });
  });
}
