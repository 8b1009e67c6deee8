// tus-js-client (the tus project's own client, in Node) against a real vault: corpus files
// arrive byte for byte under their sha256; a declared sha256 that does not match the bytes is
// refused with 460; a connection cut mid-stream resumes and completes; a byte corrupted in
// flight is caught by the vault's own verification (460), never stored as the declared hash.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { DetailedError, Upload, type UploadOptions } from 'tus-js-client';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { blobPath } from '../support/vault-damage.js';
import {
  sha256Hex,
  startTestVault,
  tusCreate,
  tusHead,
  tusPatch,
  uploadsLeft,
  vaultFetch,
  type TestVault,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const corpusSet = [
  'exifr-fixtures/cookiezen.jpg',
  'exifr-fixtures/heic-single.heic',
  'metadata-extractor-images/mov/with-gps.mov',
  'metadata-extractor-images/mp4/sample_mpeg4.mp4',
  'exifr-fixtures/png/png_with_exif_and_gps.png',
  'exiftool-t-images/CanonRaw.cr3',
];
const largeFile = 'osxphotos/media_types/IMG_3582.mov'; // ~2.9 MB

interface Endpoint {
  url: string;
  token: string;
}

/** Uploads a file with tus-js-client; resolves with the upload URL, rejects with its error. */
function tusUpload(
  endpoint: Endpoint,
  path: string,
  metadata: Record<string, string>,
  options: Partial<UploadOptions> = {},
): Promise<string> {
  return stat(path).then(
    (st) =>
      new Promise<string>((resolve, reject) => {
        const upload: Upload = new Upload(createReadStream(path), {
          endpoint: `${endpoint.url}/files/`,
          uploadSize: st.size,
          headers: { Authorization: `Bearer ${endpoint.token}` },
          metadata,
          retryDelays: [],
          ...options,
          onError: reject,
          onSuccess: () => resolve(upload.url ?? ''),
        });
        upload.start();
      }),
  );
}

async function metric(vault: Endpoint, name: string): Promise<number> {
  const text = await (await vaultFetch(vault, '/metrics')).text();
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
  assert.ok(m?.[1], `metric ${name} present`);
  return Number(m[1]);
}

function leftoverPartials(vault: TestVault): Promise<string[]> {
  return uploadsLeft(vault.dataDir);
}

function statusOf(err: unknown): number | undefined {
  return err instanceof DetailedError ? err.originalResponse?.getStatus() : undefined;
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

    describe('vault with tus-js-client', () => {
      let vault: TestVault;
      let proxy: FaultProxy;

      before(async () => {
        vault = await startTestVault(setup!.vaultOptions);
        proxy = await startFaultProxy({ targetPort: Number(new URL(vault.url).port) });
      });
      after(async () => {
        await proxy?.close();
        await vault?.close();
      });

      it('uploads corpus files, whole and in chunks, and the API reports each with its sha256 and bytes', async () => {
        for (const [i, rel] of corpusSet.entries()) {
          const path = corpusFile(rel);
          const data = await readFile(path);
          const sha256 = sha256Hex(data);
          const filename = rel.split('/').at(-1)!;
          await tusUpload(
            vault,
            path,
            { filename, sha256 },
            i % 2 === 1 ? { chunkSize: 64 * 1024 } : {},
          );
          const res = await vaultFetch(vault, `/api/v1/assets/${sha256}`);
          assert.equal(res.status, 200, `${rel} is on the vault`);
          const asset = (await res.json()) as { sha256: string; size: number; filename: string };
          assert.equal(asset.sha256, sha256);
          assert.equal(asset.size, data.length);
          assert.equal(asset.filename, filename);
          const content = await vaultFetch(vault, `/api/v1/assets/${sha256}/content`);
          assert.deepEqual(
            Buffer.from(await content.arrayBuffer()),
            data,
            `${rel} restores byte for byte`,
          );
        }
        assert.deepEqual(await leftoverPartials(vault), [], 'no partial left behind');
      });

      it('a declared sha256 that does not match the bytes is refused with 460 and nothing is stored', async () => {
        const path = corpusFile('exifr-fixtures/sidecar/IMG_5910.jpg');
        const data = await readFile(path);
        const wrong = sha256Hex(Buffer.concat([data, Buffer.from('x')]));
        const failuresBefore = await metric(vault, 'keepsake_vault_verification_failures_total');
        const err = await tusUpload(vault, path, { filename: 'IMG_5910.jpg', sha256: wrong }).then(
          () => assert.fail('the upload must be refused'),
          (e: unknown) => e,
        );
        assert.equal(statusOf(err), 460, String(err));
        const body = (err as DetailedError).originalResponse?.getBody() ?? '';
        assert.equal((JSON.parse(body) as { error: string }).error, 'checksum_mismatch');
        for (const sha of [wrong, sha256Hex(data)]) {
          assert.equal((await vaultFetch(vault, `/api/v1/assets/${sha}`)).status, 404);
        }
        assert.deepEqual(await leftoverPartials(vault), [], 'the partial was deleted');
        assert.equal(
          await metric(vault, 'keepsake_vault_verification_failures_total'),
          failuresBefore + 1,
        );
      });

      it('an upload whose connection is cut mid-stream resumes from the confirmed offset and completes', async () => {
        const path = corpusFile(largeFile);
        const data = await readFile(path);
        const sha256 = sha256Hex(data);
        const startedBefore = await metric(vault, 'keepsake_vault_uploads_started_total');
        const bytesBefore = await metric(vault, 'keepsake_vault_bytes_received_total');
        const rebuildsBefore = await metric(vault, 'keepsake_vault_hash_state_rebuilds_total');
        const connectionsBefore = proxy.connections;
        proxy.setFault({ kind: 'cut', afterBytes: 1_000_000, once: true });
        try {
          await tusUpload(
            { url: proxy.url, token: vault.token },
            path,
            { filename: 'IMG_3582.mov', sha256 },
            { retryDelays: [0, 100, 300, 1000] },
          );
          assert.equal(proxy.firedCount, 1, 'the connection was cut');
        } finally {
          proxy.setFault(null);
        }
        assert.ok(proxy.connections > connectionsBefore + 1, 'the cut connection was replaced');
        const asset = await vaultFetch(vault, `/api/v1/assets/${sha256}`);
        assert.equal(asset.status, 200);
        assert.equal(((await asset.json()) as { size: number }).size, data.length);
        assert.equal(
          await metric(vault, 'keepsake_vault_uploads_started_total'),
          startedBefore + 1,
          'one upload, resumed (not created again)',
        );
        const received = (await metric(vault, 'keepsake_vault_bytes_received_total')) - bytesBefore;
        assert.ok(
          received < data.length + 1_000_000,
          `resumed, not restarted: ${received} bytes received`,
        );
        assert.equal(
          await metric(vault, 'keepsake_vault_hash_state_rebuilds_total'),
          rebuildsBefore,
          'the hash continued from its running state (no reread of the partial)',
        );
      });

      it('a byte corrupted in flight is caught (460) and never stored as the declared sha256', async () => {
        const path = corpusFile('osxphotos/media_types/IMG_3582.HEIC');
        const data = await readFile(path);
        const sha256 = sha256Hex(data);
        proxy.setFault({ kind: 'corrupt', atByte: 400_000, once: true });
        let err: unknown;
        try {
          err = await tusUpload({ url: proxy.url, token: vault.token }, path, {
            filename: 'IMG_3582.HEIC',
            sha256,
          }).then(
            () => assert.fail('a corrupted upload must be refused'),
            (e: unknown) => e,
          );
          assert.equal(proxy.firedCount, 1, 'a byte was flipped');
        } finally {
          proxy.setFault(null);
        }
        assert.equal(statusOf(err), 460, String(err));
        assert.equal((await vaultFetch(vault, `/api/v1/assets/${sha256}`)).status, 404);
        const blob = blobPath(vault.dataDir, sha256);
        await assert.rejects(access(blob), 'no blob under the declared name');
        assert.deepEqual(await leftoverPartials(vault), []);
        // the client's retry then succeeds
        await tusUpload({ url: proxy.url, token: vault.token }, path, {
          filename: 'IMG_3582.HEIC',
          sha256,
        });
        assert.equal((await vaultFetch(vault, `/api/v1/assets/${sha256}`)).status, 200);
      });
    });

    describe('vault restart between PATCHes', () => {
      it('resumes an upload after the vault restarts, rebuilding the hash from the partial once', async () => {
        const data = await readFile(corpusFile(largeFile));
        const sha256 = sha256Hex(data);
        const half = Math.floor(data.length / 2);
        const temp = await makeTempDir('keepsake-vault-restart-');
        let vault: TestVault | undefined;
        const options = { ...(await setup!.freshVaultOptions()), dataDir: temp.dir };
        try {
          vault = await startTestVault(options);
          const created = await tusCreate(vault, {
            size: data.length,
            metadata: { filename: 'IMG_3582.mov', sha256 },
            body: data.subarray(0, half),
          });
          assert.equal(created.res.status, 201);
          // the restarted vault listens on another ephemeral port: keep the path
          const location = new URL(created.location!).pathname;
          await vault.close();
          vault = await startTestVault(options);
          assert.equal((await tusHead(vault, location)).offset, half);
          const rest = await tusPatch(vault, location, half, data.subarray(half));
          assert.equal(rest.res.status, 204, rest.text);
          assert.equal((await vaultFetch(vault, `/api/v1/assets/${sha256}`)).status, 200);
          assert.equal(
            await metric(vault, 'keepsake_vault_hash_state_rebuilds_total'),
            1,
            'the running hash lives in memory: the restarted vault read the partial once',
          );
        } finally {
          await vault?.close();
          await temp.cleanup();
        }
      });
    });
  });
}
