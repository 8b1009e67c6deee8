// The vault as a tus 1.0 server (https://tus.io/protocols/resumable-upload): core, creation,
// creation-with-upload, termination and expiration, as a tus client relies on them. Over both
// backend pairs (issue 14): partials live in the uploads directory either way.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  sha256Hex,
  startTestVault,
  TUS,
  tusCreate,
  tusHead,
  tusPatch,
  uploadMetadata,
  vaultFetch,
  type TestVault,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const backend of blobBackends()) {
  describe(`vault over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe(`vault: tus 1.0 conformance (${backend.label})`, () => {
      let vault: TestVault;
      before(async () => {
        vault = await startTestVault(setup!.vaultOptions);
      });
      after(async () => {
        await vault?.close();
      });

      it('answers 412 with Tus-Version to a request without Tus-Resumable, and creates nothing', async () => {
        const res = await vaultFetch(vault, '/files/', {
          method: 'POST',
          headers: {
            'Upload-Length': '3',
            'Upload-Metadata': uploadMetadata({ filename: 'a', sha256: sha256Hex('abc') }),
          },
        });
        assert.equal(res.status, 412);
        assert.equal(res.headers.get('tus-version'), '1.0.0');
        assert.equal(((await res.json()) as { error: string }).error, 'precondition_failed');
        assert.deepEqual(await readdir(join(vault.dataDir, 'uploads')), []);
      });

      it('OPTIONS advertises tus 1.0.0 with creation, creation-with-upload, termination and expiration', async () => {
        const res = await vaultFetch(vault, '/files/', { method: 'OPTIONS' });
        assert.ok(res.status === 200 || res.status === 204, `status ${res.status}`);
        assert.equal(res.headers.get('tus-version'), '1.0.0');
        const ext = (res.headers.get('tus-extension') ?? '').split(',');
        for (const e of ['creation', 'creation-with-upload', 'termination', 'expiration']) {
          assert.ok(ext.includes(e), `Tus-Extension has ${e}: ${ext.join(',')}`);
        }
        assert.ok(
          !ext.includes('creation-defer-length'),
          'no deferred length: quota needs the size',
        );
      });

      it('HEAD answers Cache-Control: no-store with the offset, length and metadata', async () => {
        const data = Buffer.from('hello, tus');
        const meta = { filename: 'hello.txt', sha256: sha256Hex(data), mime: 'text/plain' };
        const { location } = await tusCreate(vault, { size: data.length, metadata: meta });
        assert.ok(location);
        await tusPatch(vault, location, 0, data.subarray(0, 4));
        const head = await tusHead(vault, location);
        assert.equal(head.status, 200);
        assert.equal(head.res.headers.get('cache-control'), 'no-store');
        assert.equal(head.offset, 4);
        assert.equal(head.res.headers.get('upload-length'), String(data.length));
        assert.match(head.res.headers.get('upload-metadata') ?? '', /sha256 /);
        assert.equal(head.res.headers.get('tus-resumable'), '1.0.0');
      });

      it('a PATCH at the wrong offset gets 409 and leaves the upload untouched, so the right one completes', async () => {
        const data = Buffer.from('0123456789abcdef');
        const { location } = await tusCreate(vault, {
          size: data.length,
          metadata: { filename: 'c.bin', sha256: sha256Hex(data) },
        });
        assert.ok(location);
        assert.equal((await tusPatch(vault, location, 0, data.subarray(0, 6))).res.status, 204);
        const wrong = await tusPatch(vault, location, 3, Buffer.from('XXXXXXXXXXXXX'));
        assert.equal(wrong.res.status, 409);
        assert.equal((await tusHead(vault, location)).offset, 6, 'offset unchanged');
        const right = await tusPatch(vault, location, 6, data.subarray(6));
        assert.equal(right.res.status, 204, right.text);
        assert.equal(right.res.headers.get('upload-offset'), String(data.length));
        const asset = await vaultFetch(vault, `/api/v1/assets/${sha256Hex(data)}/content`);
        assert.deepEqual(
          Buffer.from(await asset.arrayBuffer()),
          data,
          'stored bytes are the right ones',
        );
      });

      it('a zero-length upload completes at creation', async () => {
        const empty = sha256Hex('');
        const { res, location } = await tusCreate(vault, {
          size: 0,
          metadata: { filename: 'empty.txt', sha256: empty },
        });
        assert.equal(res.status, 201);
        assert.ok(location);
        const asset = await vaultFetch(vault, `/api/v1/assets/${empty}`);
        assert.equal(asset.status, 200);
        assert.equal(((await asset.json()) as { size: number }).size, 0);
        const head = await tusHead(vault, location);
        assert.equal(head.offset, 0);
        assert.equal(head.res.headers.get('upload-length'), '0');
      });

      it('creation-with-upload stores the body sent with the POST', async () => {
        const data = Buffer.from('created and uploaded in one request');
        const { res, location } = await tusCreate(vault, {
          size: data.length,
          metadata: { filename: 'one.txt', sha256: sha256Hex(data) },
          body: data,
        });
        assert.equal(res.status, 201);
        assert.equal(res.headers.get('upload-offset'), String(data.length));
        assert.ok(location);
        assert.equal((await vaultFetch(vault, `/api/v1/assets/${sha256Hex(data)}`)).status, 200);
      });

      it('a finished upload still answers HEAD with its full offset (a client that lost the reply learns it is done)', async () => {
        const data = Buffer.from('finished upload');
        const { location } = await tusCreate(vault, {
          size: data.length,
          metadata: { filename: 'f.txt', sha256: sha256Hex(data) },
        });
        assert.ok(location);
        assert.equal((await tusPatch(vault, location, 0, data)).res.status, 204);
        const head = await tusHead(vault, location);
        assert.equal(head.status, 200);
        assert.equal(head.offset, data.length);
        // a repeated final PATCH with nothing left to send is harmless
        const again = await tusPatch(vault, location, data.length, Buffer.alloc(0));
        assert.equal(again.res.status, 204, again.text);
        const usage = (await (await vaultFetch(vault, '/api/v1/usage')).json()) as {
          dedupSavedBytes: number;
        };
        assert.equal(usage.dedupSavedBytes, 0, 'not counted twice');
      });

      it('DELETE terminates an upload: 204, then 404, and its partial is gone', async () => {
        const data = Buffer.from('to be terminated');
        const { location } = await tusCreate(vault, {
          size: data.length,
          metadata: { filename: 'd.txt', sha256: sha256Hex(data) },
        });
        assert.ok(location);
        await tusPatch(vault, location, 0, data.subarray(0, 5));
        const id = location.split('/').at(-1)!;
        assert.ok((await readdir(join(vault.dataDir, 'uploads'))).includes(id));
        const del = await vaultFetch(vault, location, { method: 'DELETE', headers: { ...TUS } });
        assert.equal(del.status, 204);
        assert.equal((await tusHead(vault, location)).status, 404);
        assert.equal((await tusPatch(vault, location, 5, data.subarray(5))).res.status, 404);
        const left = (await readdir(join(vault.dataDir, 'uploads'))).filter((n) =>
          n.startsWith(id),
        );
        assert.deepEqual(left, []);
      });
    });

    describe(`vault: tus expiration (${backend.label})`, () => {
      let vault: TestVault;
      before(async () => {
        vault = await startTestVault({
          ...(await setup!.freshVaultOptions()),
          partialTtlMs: 1500,
        });
      });
      after(async () => {
        await vault?.close();
      });

      it('an expired upload answers 410 (or 404) and its partial is cleaned up', async () => {
        const data = Buffer.from('this upload will be abandoned');
        const { res, location } = await tusCreate(vault, {
          size: data.length,
          metadata: { filename: 'x.txt', sha256: sha256Hex(data) },
        });
        assert.ok(res.headers.get('upload-expires'), 'Upload-Expires announced at creation');
        assert.ok(location);
        await tusPatch(vault, location, 0, data.subarray(0, 7));
        const status = await waitFor('the upload to expire', async () => {
          const s = (await tusHead(vault, location)).status;
          return s === 410 || s === 404 ? s : undefined;
        });
        assert.ok(status === 410 || status === 404);
        const patch = await tusPatch(vault, location, 7, data.subarray(7));
        assert.ok(
          patch.res.status === 410 || patch.res.status === 404,
          `PATCH after expiry: ${patch.res.status}`,
        );
        await waitFor('the partial to be removed', async () =>
          (await readdir(join(vault.dataDir, 'uploads'))).length === 0 ? true : undefined,
        );
        assert.equal((await vaultFetch(vault, `/api/v1/assets/${sha256Hex(data)}`)).status, 404);
      });
    });
  });
}
