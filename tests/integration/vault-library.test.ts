// The vault's library listing over HTTP (issue 11 section 3): what the Library page pages
// through, newest first by capture time, filtered, with a cursor that refuses to be forged.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { libraryPageSchema, type LibraryItem } from '../../common/vault-protocol.js';
import { startTestVault, uploadBuffer, vaultFetch, type TestVault } from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

function metadata(captureTime: string | null) {
  return {
    captureTime,
    captureTimeSource: captureTime === null ? null : 'exif_original',
    timeZone: null,
    gps: null,
    camera: { make: 'Canon' },
    width: 640,
    height: 480,
    durationSec: null,
    orientation: null,
    mime: null,
  };
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

    describe('vault library listing', () => {
      let vault: TestVault;
      before(async () => {
        vault = await startTestVault({ ...setup!.vaultOptions, previews: false });
        const files = [
          { name: 'a.jpg', mime: 'image/jpeg', at: '2020-01-01T10:00:00+02:00' },
          { name: 'b.mov', mime: 'video/quicktime', at: '2022-03-04T05:06:07Z' },
          { name: 'c.dng', mime: 'image/x-adobe-dng', at: '2021-07-07T07:07:07-05:00' },
          { name: 'd.jpg', mime: 'image/jpeg', at: null },
        ];
        for (const [i, f] of files.entries()) {
          const { res, sha256 } = await uploadBuffer(vault, Buffer.from(`library ${i} ${f.name}`), {
            filename: f.name,
            mime: f.mime,
            mtime: String(Date.parse('2010-01-01T00:00:00Z') + i),
          });
          assert.equal(res.status, 201, `upload ${f.name}`);
          const put = await vaultFetch(vault, `/api/v1/assets/${sha256}/metadata`, {
            method: 'PUT',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(metadata(f.at)),
          });
          assert.equal(put.status, 200, `metadata ${f.name}`);
        }
      });
      after(() => vault.close());

      async function page(query: string) {
        const res = await vaultFetch(vault, `/api/v1/library${query}`);
        assert.equal(res.status, 200);
        return libraryPageSchema.parse(await res.json());
      }

      it('answers the timeline newest first in pages, with the total on the first page', async () => {
        const seen: LibraryItem[] = [];
        let next: string | null = null;
        let first = true;
        do {
          const p = await page(
            `?limit=1${next === null ? '' : `&after=${encodeURIComponent(next)}`}`,
          );
          if (first) assert.equal(p.total, 4);
          else assert.equal(p.total, undefined);
          first = false;
          seen.push(...p.items);
          next = p.next;
        } while (next !== null);
        assert.deepEqual(
          seen.map((i) => i.filename),
          ['b.mov', 'c.dng', 'a.jpg', 'd.jpg'],
        );
        const b = seen[0];
        assert.equal(b?.kind, 'video');
        assert.equal(b?.captureTime, '2022-03-04T05:06:07Z');
        assert.equal(b?.width, 640);
        assert.deepEqual(seen[3]?.problems, ['no_capture_time']);
      });

      it('filters by type and by "has problems"', async () => {
        assert.deepEqual(
          (await page('?type=raw')).items.map((i) => i.filename),
          ['c.dng'],
        );
        assert.deepEqual(
          (await page('?type=video')).items.map((i) => i.filename),
          ['b.mov'],
        );
        assert.deepEqual(
          (await page('?type=photo')).items.map((i) => i.filename),
          ['c.dng', 'a.jpg', 'd.jpg'],
        );
        assert.deepEqual(
          (await page('?problems=1')).items.map((i) => i.filename),
          ['d.jpg'],
        );
      });

      it('refuses a cursor it did not make and a type it does not know', async () => {
        const bad = await vaultFetch(vault, '/api/v1/library?after=1%3B%20DROP');
        assert.equal(bad.status, 400);
        assert.equal(((await bad.json()) as { error: string }).error, 'invalid_cursor');
        const type = await vaultFetch(vault, '/api/v1/library?type=gif');
        assert.equal(type.status, 400);
        const folders = await vaultFetch(vault, '/api/v1/library/folders');
        assert.deepEqual(await folders.json(), { folders: [] });
      });
    });
  });
}
