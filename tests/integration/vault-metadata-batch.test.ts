// POST /api/v1/metadata against a real vault: many assets' metadata in one request, each
// item checked alone (an invalid field is refused by name, an unknown asset reported), the
// valid ones stored and served with the asset.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MediaMetadata } from '../../common/vault-protocol.js';
import {
  postBatch,
  sha256Hex,
  startTestVault,
  type TestVault,
  vaultFetch,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const meta: MediaMetadata = {
  captureTime: '2019-03-12T10:11:12+01:00',
  captureTimeSource: 'exif_original',
  timeZone: { offsetMinutes: 60, source: 'offset_time_original' },
  gps: null,
  camera: { make: 'Apple', model: 'iPhone 12' },
  width: 4032,
  height: 3024,
  durationSec: null,
  orientation: 1,
  mime: 'image/jpeg',
};

async function post(vault: TestVault, body: unknown) {
  const res = await vaultFetch(vault, '/api/v1/metadata', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
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

    describe('vault: metadata in batches (POST /api/v1/metadata)', () => {
      let vault: TestVault;
      const files = [1, 2, 3].map((n) => ({
        data: Buffer.from(`metadata batch ${n}`),
        filename: `m${n}.jpg`,
      }));
      const [a, b, c] = files.map((f) => sha256Hex(f.data)) as [string, string, string];
      before(async () => {
        vault = await startTestVault(setup!.vaultOptions);
        assert.equal((await postBatch(vault, files)).status, 200);
      });
      after(() => vault.close());

      it('stores the valid items, refuses an invalid one naming its field, and reports unknown assets', async () => {
        const unknown = sha256Hex('not uploaded');
        const { status, json } = await post(vault, {
          items: [
            { sha256: a, metadata: meta },
            { sha256: b, metadata: { ...meta, width: -3 } },
            { sha256: unknown, metadata: meta },
            { sha256: c, metadata: { ...meta, gps: { lat: 95, lon: 0 } } },
          ],
        });
        assert.equal(status, 200, JSON.stringify(json));
        const results = json.results as {
          sha256: string;
          status: string;
          field?: string;
          message?: string;
        }[];
        assert.deepEqual(
          results.map((r) => [r.sha256, r.status, r.field]),
          [
            [a, 'stored', undefined],
            [b, 'refused', 'width'],
            [unknown, 'unknown_asset', undefined],
            [c, 'refused', 'gps.lat'],
          ],
        );
        assert.match(results[1]!.message ?? '', /width/);
        const asset = (await (await vaultFetch(vault, `/api/v1/assets/${a}`)).json()) as {
          metadata: unknown;
        };
        assert.deepEqual(asset.metadata, meta);
        const refusedOne = (await (await vaultFetch(vault, `/api/v1/assets/${b}`)).json()) as {
          metadata: unknown;
        };
        assert.equal(refusedOne.metadata, null, 'nothing stored for a refused item');
      });

      it('answers 400 to a body that is not a list of 1..500 items', async () => {
        for (const body of [{}, { items: [] }, { items: [{ sha256: 'x', metadata: meta }] }, []]) {
          const { status, json } = await post(vault, body);
          assert.equal(status, 400, JSON.stringify(body));
          assert.equal(json.error, 'bad_request');
        }
        const many = { items: Array.from({ length: 501 }, () => ({ sha256: a, metadata: meta })) };
        assert.equal((await post(vault, many)).status, 400);
      });
    });
  });
}
