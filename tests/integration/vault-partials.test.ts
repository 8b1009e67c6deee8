// Abandoned partial uploads (issue 9, item 10): a partial that receives nothing for
// --partial-ttl gives back its quota reservation and is deleted, on the tus expiration clock
// (Upload-Expires); `usage` shows the bytes reserved meanwhile. See [Note: Abandoned
// partials] in server/partials.ts.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/cli.js';
import {
  sha256Hex,
  startTestVault,
  tusCreate,
  tusHead,
  tusPatch,
  uploadBuffer,
  vaultFetch,
  type TestVault,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const TTL_MS = 1500;

interface UsageBody {
  bytes: number;
  quotaBytes: number | null;
  reservedBytes: number;
}

async function usage(vault: TestVault): Promise<UsageBody> {
  return (await (await vaultFetch(vault, '/api/v1/usage')).json()) as UsageBody;
}

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault: an abandoned partial upload gives back its quota after --partial-ttl', () => {
      let vault: TestVault;
      before(async () => {
        vault = await startTestVault({
          ...setup!.vaultOptions,
          quotaBytes: 10_000,
          partialTtlMs: TTL_MS,
        });
      });
      after(async () => {
        await vault?.close();
      });

      it('usage reports the bytes an abandoned partial reserves, and a new upload fits once it has been idle for the TTL', async () => {
        // A client starts 8000 bytes, sends 1000, and is never seen again.
        const abandoned = Buffer.alloc(8000, 7);
        const created = await tusCreate(vault, {
          size: abandoned.length,
          metadata: { filename: 'abandoned.jpg', sha256: sha256Hex(abandoned) },
        });
        assert.equal(created.res.status, 201, created.text);
        const location = created.location!;
        const expires = Date.parse(created.res.headers.get('upload-expires') ?? '');
        assert.ok(!Number.isNaN(expires), 'Upload-Expires announced at creation');
        const patched = await tusPatch(vault, location, 0, abandoned.subarray(0, 1000));
        assert.equal(patched.res.status, 204, patched.text);
        const expiresAfterPatch = Date.parse(patched.res.headers.get('upload-expires') ?? '');
        assert.ok(expiresAfterPatch >= expires, 'a PATCH moves the expiry later, never earlier');

        const held = await usage(vault);
        assert.equal(held.bytes, 0);
        assert.equal(held.reservedBytes, 8000);

        // While the partial holds its reservation, 5000 more bytes do not fit in the quota.
        const photo = Buffer.alloc(5000, 9);
        const refused = await uploadBuffer(vault, photo, { filename: 'new.jpg' });
        assert.equal(refused.res.status, 507, refused.text);
        const body = JSON.parse(refused.text) as { error: string; reservedBytes: number };
        assert.equal(body.error, 'quota_exceeded');
        assert.equal(body.reservedBytes, 8000, 'the refusal says what holds the quota');

        // Once the partial has been idle for the TTL, the same upload succeeds.
        const accepted = await waitFor(
          async () => {
            const up = await uploadBuffer(vault, photo, { filename: 'new.jpg' });
            if (up.res.status === 201) return up;
            assert.equal(up.res.status, 507, up.text);
            return undefined;
          },
          { what: 'the abandoned partial to release its reservation', intervalMs: 250 },
        );
        assert.equal(accepted.res.status, 201);
        assert.ok(
          Date.now() >= expiresAfterPatch - 1000,
          'not released long before Upload-Expires',
        );

        // The partial itself is gone on the same clock, and usage agrees.
        const head = await tusHead(vault, location);
        assert.ok(head.status === 404 || head.status === 410, `HEAD after expiry: ${head.status}`);
        const id = location.split('/').at(-1)!;
        assert.ok(!(await readdir(join(vault.dataDir, 'uploads'))).some((n) => n.startsWith(id)));
        const after = await usage(vault);
        assert.equal(after.bytes, 5000);
        assert.equal(after.reservedBytes, 0);
      });
    });
  });
}
