// tus "hash while sending" against a real vault: an upload created with
// Keepsake-Deferred-Hash: 1 and no sha256 declares its hash on the final PATCH
// (Keepsake-Sha256); the vault keeps it only when its own hash of the stored bytes matches.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { corpusFile, makeTempDir } from '../support/paths.js';
import {
  sha256Hex,
  startTestVault,
  tusCreate,
  tusHead,
  tusPatch,
  type TestVault,
  vaultFetch,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const DEFERRED = { 'Keepsake-Deferred-Hash': '1' };

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault: hash while sending (Keepsake-Deferred-Hash)', () => {
      let vault: TestVault;
      let photo: Buffer;
      before(async () => {
        vault = await startTestVault(setup!.vaultOptions);
        photo = await readFile(corpusFile('exifr-fixtures/IMG_20180725_163423-tiny.jpg'));
      });
      after(() => vault.close());

      /** A copy of the photo with unique bytes, so each test uploads new content. */
      const unique = (tag: string) => Buffer.concat([photo, Buffer.from(tag)]);

      async function createDeferred(data: Buffer): Promise<string> {
        const { res, location, text } = await tusCreate(vault, {
          size: data.length,
          metadata: { filename: 'IMG.jpg', mime: 'image/jpeg' },
          headers: DEFERRED,
        });
        assert.equal(res.status, 201, text);
        return new URL(location!).pathname;
      }

      it('keeps the upload when the final PATCH declares the hash of the bytes stored', async () => {
        const data = unique('right');
        const path = await createDeferred(data);
        const half = data.length >> 1;
        assert.equal((await tusPatch(vault, path, 0, data.subarray(0, half))).res.status, 204);
        const last = await tusPatch(vault, path, half, data.subarray(half), {
          'Keepsake-Sha256': sha256Hex(data),
        });
        assert.equal(last.res.status, 204, last.text);
        const content = await vaultFetch(vault, `/api/v1/assets/${sha256Hex(data)}/content`);
        assert.equal(content.status, 200);
        assert.deepEqual(Buffer.from(await content.arrayBuffer()), data);
        assert.equal((await tusHead(vault, path)).offset, data.length);
      });

      it('answers 460 and keeps nothing when the declared hash is not that of the bytes', async () => {
        const data = unique('wrong');
        const path = await createDeferred(data);
        const last = await tusPatch(vault, path, 0, data, {
          'Keepsake-Sha256': sha256Hex('other'),
        });
        assert.equal(last.res.status, 460, last.text);
        assert.equal((JSON.parse(last.text) as { error: string }).error, 'checksum_mismatch');
        assert.equal((await vaultFetch(vault, `/api/v1/assets/${sha256Hex(data)}`)).status, 404);
        assert.equal((await vaultFetch(vault, `/api/v1/assets/${sha256Hex('other')}`)).status, 404);
      });

      it('answers 400 to a final PATCH without Keepsake-Sha256, before storing its bytes', async () => {
        const data = unique('missing');
        const path = await createDeferred(data);
        const half = data.length >> 1;
        assert.equal((await tusPatch(vault, path, 0, data.subarray(0, half))).res.status, 204);
        const last = await tusPatch(vault, path, half, data.subarray(half));
        assert.equal(last.res.status, 400, last.text);
        assert.match((JSON.parse(last.text) as { message: string }).message, /Keepsake-Sha256/);
        assert.equal((await tusHead(vault, path)).offset, half, 'nothing of it was stored');
        // the same PATCH with the header then completes the upload
        const again = await tusPatch(vault, path, half, data.subarray(half), {
          'Keepsake-Sha256': sha256Hex(data),
        });
        assert.equal(again.res.status, 204, again.text);
      });

      it('answers 400 to a malformed Keepsake-Sha256, and to a creation with neither hash nor deferral', async () => {
        const data = unique('malformed');
        const path = await createDeferred(data);
        const bad = await tusPatch(vault, path, 0, data, { 'Keepsake-Sha256': 'ABC' });
        assert.equal(bad.res.status, 400);
        assert.equal((JSON.parse(bad.text) as { error: string }).error, 'invalid_sha256');
        const plain = await tusCreate(vault, { size: 10, metadata: { filename: 'x.jpg' } });
        assert.equal(plain.res.status, 400);
        assert.equal((JSON.parse(plain.text) as { error: string }).error, 'invalid_sha256');
      });

      it('an upload that declared sha256 at creation may repeat it on the final PATCH; both must match', async () => {
        const data = unique('both');
        const sha256 = sha256Hex(data);
        const created = await tusCreate(vault, {
          size: data.length,
          metadata: { filename: 'b.jpg', sha256 },
        });
        const path = new URL(created.location!).pathname;
        const last = await tusPatch(vault, path, 0, data, { 'Keepsake-Sha256': sha256 });
        assert.equal(last.res.status, 204, last.text);

        const other = unique('both-differ');
        const c2 = await tusCreate(vault, {
          size: other.length,
          metadata: { filename: 'c.jpg', sha256: sha256Hex(other) },
        });
        const p2 = new URL(c2.location!).pathname;
        const l2 = await tusPatch(vault, p2, 0, other, { 'Keepsake-Sha256': sha256Hex('nope') });
        assert.equal(l2.res.status, 460);
      });

      it('a deferred upload resumes across a vault restart and is verified at its end', async () => {
        const temp = await makeTempDir('keepsake-vault-deferred-');
        const opts = await setup!.freshVaultOptions();
        let own = await startTestVault({ ...opts, dataDir: temp.dir });
        try {
          const data = unique('restart');
          const created = await tusCreate(own, {
            size: data.length,
            metadata: { filename: 'IMG.jpg' },
            headers: DEFERRED,
          });
          const path = new URL(created.location!).pathname;
          const half = data.length >> 1;
          assert.equal((await tusPatch(own, path, 0, data.subarray(0, half))).res.status, 204);
          await own.close();
          own = await startTestVault({ ...opts, dataDir: temp.dir });
          const head = await tusHead(own, path);
          assert.equal(head.offset, half, `HEAD ${head.status}`);
          const last = await tusPatch(own, path, half, data.subarray(half), {
            'Keepsake-Sha256': sha256Hex(data),
          });
          assert.equal(last.res.status, 204, last.text);
          assert.equal((await vaultFetch(own, `/api/v1/assets/${sha256Hex(data)}`)).status, 200);
        } finally {
          await own.close();
          await temp.cleanup();
        }
      });
    });
  });
}
