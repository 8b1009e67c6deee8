// A vault that checks itself (issue 10 section 4): a blob with one flipped byte and a
// deleted blob are found by verify, a download of the damaged one never ends as a clean
// 200, the dedup check reports both absent so a client uploads them again, and the upload
// of the right bytes repairs them.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { corpusFile } from '../support/paths.js';
import { metricValue } from '../support/vault-damage.js';
import {
  postBatch,
  startTestVault,
  uploadBuffer,
  vaultFetch,
  type TestVault,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

interface CheckReply {
  present: string[];
  damaged: string[];
  missing: string[];
}
interface VerifyReply {
  results: { sha256: string; state: 'ok' | 'damaged' | 'missing' }[];
}

async function post<T>(vault: TestVault, path: string, body: unknown): Promise<T> {
  const res = await vaultFetch(vault, path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return (await res.json()) as T;
}

/** Reads a whole response; the outcome says whether it completed and what arrived. */
async function download(
  vault: TestVault,
  sha256: string,
): Promise<{ status: number; complete: boolean; bytes: Buffer; error?: string }> {
  let res: Response;
  try {
    res = await vaultFetch(vault, `/api/v1/assets/${sha256}/content`);
  } catch (err) {
    return { status: 0, complete: false, bytes: Buffer.alloc(0), error: String(err) };
  }
  try {
    const bytes = Buffer.from(await res.arrayBuffer());
    return { status: res.status, complete: true, bytes };
  } catch (err) {
    return { status: res.status, complete: false, bytes: Buffer.alloc(0), error: String(err) };
  }
}

const CORPUS = {
  damaged: 'ianare-exif-samples/jpg/gps/DSCN0010.jpg',
  deleted: 'exifr-fixtures/heic-single.heic',
  intact: 'metadata-extractor-images/mov/with-gps.mov',
  unchecked: 'exifr-fixtures/cookiezen.jpg',
} as const;

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault: verify, verified reads and repair', () => {
      let vault: TestVault;
      const files = {} as Record<keyof typeof CORPUS, { data: Buffer; sha256: string }>;

      before(async () => {
        vault = await startTestVault(setup!.vaultOptions);
        for (const [key, rel] of Object.entries(CORPUS) as [keyof typeof CORPUS, string][]) {
          const data = await readFile(corpusFile(rel));
          const up = await uploadBuffer(vault, data, { filename: rel.split('/').pop()! });
          assert.equal(up.res.status, 201, up.text);
          files[key] = { data, sha256: up.sha256 };
        }
        await setup!.damage(vault.dataDir, files.damaged.sha256, files.damaged.data.length >> 1);
        await setup!.remove(vault.dataDir, files.deleted.sha256);
      });
      after(async () => {
        await vault?.close();
      });

      it('a download of content whose stored bytes changed never completes as a clean 200', async () => {
        const got = await download(vault, files.damaged.sha256);
        assert.equal(got.complete, false, `the response must fail, got ${got.status} complete`);
        assert.equal(await metricValue(vault, 'keepsake_vault_damaged_reads_total'), 1);
        assert.equal(
          await metricValue(
            vault,
            'keepsake_vault_problems_found_total{source="read",state="damaged"}',
          ),
          1,
        );
        const receipt = (await (
          await vaultFetch(vault, `/api/v1/assets/${files.damaged.sha256}/health`)
        ).json()) as { state: string; checkedAt: number | null; problemSince: number | null };
        assert.equal(receipt.state, 'damaged');
        assert.ok(receipt.problemSince !== null && receipt.checkedAt === receipt.problemSince);
        // Now known damaged: refused before a byte is sent.
        const again = await vaultFetch(vault, `/api/v1/assets/${files.damaged.sha256}/content`);
        assert.equal(again.status, 404);
        assert.equal(((await again.json()) as { error: string }).error, 'content_damaged');
      });

      it('verify reports exactly the damaged and the deleted blob', async () => {
        const unknown = 'e'.repeat(64);
        const reply = await post<VerifyReply>(vault, '/api/v1/verify', {
          sha256: [files.intact.sha256, files.damaged.sha256, files.deleted.sha256, unknown],
        });
        assert.deepEqual(reply.results, [
          { sha256: files.intact.sha256, state: 'ok' },
          { sha256: files.damaged.sha256, state: 'damaged' },
          { sha256: files.deleted.sha256, state: 'missing' },
          { sha256: unknown, state: 'missing' },
        ]);
        assert.equal(
          await metricValue(vault, 'keepsake_vault_assets_with_problem{state="damaged"}'),
          1,
        );
        assert.equal(
          await metricValue(vault, 'keepsake_vault_assets_with_problem{state="missing"}'),
          1,
        );
      });

      it('the dedup check reports damaged and missing content as not present, with its state', async () => {
        const reply = await post<CheckReply>(vault, '/api/v1/assets/check', {
          sha256: Object.values(files).map((f) => f.sha256),
        });
        assert.deepEqual(
          reply.present.sort(),
          [files.intact.sha256, files.unchecked.sha256].sort(),
        );
        assert.deepEqual(reply.damaged, [files.damaged.sha256]);
        assert.deepEqual(reply.missing, [files.deleted.sha256]);
      });

      it('a blob deleted behind the vault is reported missing by the next check, unverified', async () => {
        await setup!.remove(vault.dataDir, files.unchecked.sha256);
        const reply = await post<CheckReply>(vault, '/api/v1/assets/check', {
          sha256: [files.unchecked.sha256],
        });
        assert.deepEqual(reply, { present: [], damaged: [], missing: [files.unchecked.sha256] });
        const res = await vaultFetch(vault, `/api/v1/assets/${files.unchecked.sha256}/content`);
        assert.equal(res.status, 404);
        assert.equal(((await res.json()) as { error: string }).error, 'content_missing');
      });

      it('a range inside intact content is served; the whole content is served verified', async () => {
        const res = await vaultFetch(vault, `/api/v1/assets/${files.intact.sha256}/content`, {
          headers: { Range: 'bytes=10-99' },
        });
        assert.equal(res.status, 206);
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), files.intact.data.subarray(10, 100));
        const whole = await download(vault, files.intact.sha256);
        assert.equal(whole.status, 200);
        assert.ok(whole.complete);
        assert.deepEqual(whole.bytes, files.intact.data);
      });

      it('uploading the original bytes again repairs every damaged and missing blob', async () => {
        for (const key of ['damaged', 'deleted', 'unchecked'] as const) {
          const up = await uploadBuffer(vault, files[key].data);
          assert.equal(up.res.status, 201, up.text);
        }
        const reply = await post<VerifyReply>(vault, '/api/v1/verify', {
          sha256: Object.values(files).map((f) => f.sha256),
        });
        assert.deepEqual(
          reply.results.map((r) => r.state),
          ['ok', 'ok', 'ok', 'ok'],
        );
        const check = await post<CheckReply>(vault, '/api/v1/assets/check', {
          sha256: Object.values(files).map((f) => f.sha256),
        });
        assert.equal(check.present.length, 4);
        assert.deepEqual([check.damaged, check.missing], [[], []]);
        for (const f of Object.values(files)) {
          assert.deepEqual(await setup!.stored(vault.dataDir, f.sha256), f.data);
          const got = await download(vault, f.sha256);
          assert.equal(got.status, 200);
          assert.deepEqual(got.bytes, f.data);
        }
        assert.equal(
          await metricValue(vault, 'keepsake_vault_assets_with_problem{state="damaged"}'),
          0,
        );
        const healed = (await (
          await vaultFetch(vault, `/api/v1/assets/${files.damaged.sha256}/health`)
        ).json()) as { state: string; verifiedAt: number; problemSince: number | null };
        assert.deepEqual([healed.state, healed.problemSince], ['ok', null]);
        assert.ok(healed.verifiedAt > 0);
      });

      it('a batch upload of the right bytes repairs damaged and missing content too', async () => {
        const { intact, unchecked } = files;
        await setup!.damage(vault.dataDir, intact.sha256, 7);
        await setup!.remove(vault.dataDir, unchecked.sha256);
        const found = await post<VerifyReply>(vault, '/api/v1/verify', {
          sha256: [intact.sha256, unchecked.sha256],
        });
        assert.deepEqual(
          found.results.map((r) => r.state),
          ['damaged', 'missing'],
        );
        const batch = await postBatch(vault, [
          { data: intact.data, filename: 'with-gps.mov' },
          { data: unchecked.data, filename: 'cookiezen.jpg' },
        ]);
        assert.equal(batch.status, 200, JSON.stringify(batch.json));
        const after = await post<VerifyReply>(vault, '/api/v1/verify', {
          sha256: [intact.sha256, unchecked.sha256],
        });
        assert.deepEqual(
          after.results.map((r) => r.state),
          ['ok', 'ok'],
        );
        assert.deepEqual(await setup!.stored(vault.dataDir, intact.sha256), intact.data);
      });

      it('verify refuses more than 1,000 hashes and malformed ones', async () => {
        const tooMany = await vaultFetch(vault, '/api/v1/verify', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ sha256: Array.from({ length: 1001 }, () => 'a'.repeat(64)) }),
        });
        assert.equal(tooMany.status, 400);
        const bad = await vaultFetch(vault, '/api/v1/verify', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ sha256: ['nope'] }),
        });
        assert.equal(bad.status, 400);
      });
    });
  });
}
