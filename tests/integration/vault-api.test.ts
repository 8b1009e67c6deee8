// The vault's JSON API as clients use it: dedup check, listing with a cursor, metadata that
// survives a restart, content download with Range (restore), usage by type with dedup
// savings, quota and max size refused before a byte is stored, /healthz and /metrics. The
// JSON API runs on both blob stores (the filesystem, and an S3 bucket on loopback).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import {
  sha256Hex,
  snapshotVault,
  startTestVault,
  TUS,
  tusCreate,
  tusPatch,
  uploadBuffer,
  uploadMetadata,
  vaultFetch,
  type TestVault,
} from '../support/vault.js';

interface Asset {
  sha256: string;
  size: number;
  mime: string | null;
  kind: string;
  filename: string;
  relpath: string | null;
  mtimeMs: number | null;
  firstUploadedAt: number;
  metadata: unknown;
}

interface Usage {
  assets: number;
  bytes: number;
  dedupSavedBytes: number;
  byType: Record<'image' | 'video' | 'other', { assets: number; bytes: number }>;
  quotaBytes: number | null;
}

const getJson = async <T>(vault: TestVault, path: string): Promise<T> => {
  const res = await vaultFetch(vault, path);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return (await res.json()) as T;
};

const TWIN_SIZE = 2 * 1024 * 1024;

const corpus = {
  jpg: 'exifr-fixtures/cookiezen.jpg',
  mov: 'metadata-extractor-images/mov/with-gps.mov',
  xmp: 'exifr-fixtures/cookiezen.xmp',
  heic: 'exifr-fixtures/heic-single.heic',
};

for (const backend of blobBackends()) {
  describe(`vault: JSON API (${backend.label})`, () => {
    let blobs: BlobBackendSetup;
    const temp = { dir: '', cleanup: async () => {} };
    let vault: TestVault;
    const files: Record<keyof typeof corpus, { data: Buffer; sha256: string }> = {} as never;
    const twins: string[] = [];

    before(async () => {
      Object.assign(temp, await makeTempDir('keepsake-vault-api-'));
      blobs = await backend.setUp();
      vault = await startTestVault({ dataDir: temp.dir, ...blobs.vaultOptions });
      for (const [key, rel] of Object.entries(corpus) as [keyof typeof corpus, string][]) {
        const data = await readFile(corpusFile(rel));
        files[key] = { data, sha256: sha256Hex(data) };
      }
    });
    after(async () => {
      await vault?.close();
      await blobs?.close();
      await temp.cleanup();
    });

    it('/healthz answers without a token', async () => {
      const res = await fetch(new URL('/healthz', vault.url));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { ok: true });
    });

    it('records what Upload-Metadata declared, and the kind from the MIME type or extension', async () => {
      const jpg = await uploadBuffer(vault, files.jpg.data, {
        filename: 'cookiezen.jpg',
        mime: 'image/jpeg',
        mtime: '1552385472000',
        relpath: '2019/03/cookiezen.jpg',
      });
      assert.equal(jpg.res.status, 201, jpg.text);
      const mov = await uploadBuffer(vault, files.mov.data, { filename: 'with-gps.mov' });
      assert.equal(mov.res.status, 201, mov.text);
      const xmp = await uploadBuffer(vault, files.xmp.data, {
        filename: 'cookiezen.xmp',
        mime: 'application/rdf+xml',
      });
      assert.equal(xmp.res.status, 201, xmp.text);

      const asset = await getJson<Asset>(vault, `/api/v1/assets/${files.jpg.sha256}`);
      assert.equal(asset.sha256, files.jpg.sha256);
      assert.equal(asset.size, files.jpg.data.length);
      assert.equal(asset.mime, 'image/jpeg');
      assert.equal(asset.kind, 'image');
      assert.equal(asset.filename, 'cookiezen.jpg');
      assert.equal(asset.relpath, '2019/03/cookiezen.jpg');
      assert.equal(asset.mtimeMs, 1552385472000);
      assert.ok(asset.firstUploadedAt > 0);
      assert.equal(asset.metadata, null);
      assert.equal(
        (await getJson<Asset>(vault, `/api/v1/assets/${files.mov.sha256}`)).kind,
        'video',
      );
      assert.equal(
        (await getJson<Asset>(vault, `/api/v1/assets/${files.xmp.sha256}`)).kind,
        'other',
      );
    });

    it('the dedup check answers which hashes the vault holds', async () => {
      const unknown = sha256Hex('never uploaded');
      const res = await vaultFetch(vault, '/api/v1/assets/check', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          sha256: [files.jpg.sha256, unknown, files.mov.sha256, files.jpg.sha256],
        }),
      });
      assert.equal(res.status, 200);
      const { present } = (await res.json()) as { present: string[] };
      assert.deepEqual(present.sort(), [files.jpg.sha256, files.mov.sha256].sort());
      const many = Array.from({ length: 1000 }, (_, i) => sha256Hex(`h${i}`));
      const big = await vaultFetch(vault, '/api/v1/assets/check', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ sha256: [...many.slice(1), files.xmp.sha256] }),
      });
      assert.equal(big.status, 200, 'a batch of 1,000 is accepted');
      assert.deepEqual(((await big.json()) as { present: string[] }).present, [files.xmp.sha256]);
    });

    it('content the vault already holds is stored once and dedupSavedBytes grows by its size', async () => {
      const before = await getJson<Usage>(vault, '/api/v1/usage');
      const blobsBefore = await blobs.count(vault.dataDir);
      const again = await uploadBuffer(vault, files.jpg.data, {
        filename: 'copy-of-cookiezen.jpg',
      });
      assert.equal(again.res.status, 201, again.text);
      const afterUsage = await getJson<Usage>(vault, '/api/v1/usage');
      assert.equal(afterUsage.assets, before.assets);
      assert.equal(afterUsage.bytes, before.bytes);
      assert.equal(afterUsage.dedupSavedBytes, before.dedupSavedBytes + files.jpg.data.length);
      assert.equal(await blobs.count(vault.dataDir), blobsBefore, 'no second copy stored');
      const asset = await getJson<Asset>(vault, `/api/v1/assets/${files.jpg.sha256}`);
      assert.equal(asset.filename, 'cookiezen.jpg', 'the first upload names the asset');
    });

    it('the same new content uploaded twice at once is stored once and counted once as saved', async () => {
      const data = Buffer.alloc(TWIN_SIZE, 7);
      const before = await getJson<Usage>(vault, '/api/v1/usage');
      const [a, b] = await Promise.all([
        uploadBuffer(vault, data, { filename: 'twin-a.bin' }),
        uploadBuffer(vault, data, { filename: 'twin-b.bin' }),
      ]);
      assert.equal(a.res.status, 201, a.text);
      assert.equal(b.res.status, 201, b.text);
      const afterUsage = await getJson<Usage>(vault, '/api/v1/usage');
      assert.equal(afterUsage.assets, before.assets + 1);
      assert.equal(afterUsage.bytes, before.bytes + data.length);
      assert.equal(afterUsage.dedupSavedBytes, before.dedupSavedBytes + data.length);
      const content = await vaultFetch(vault, `/api/v1/assets/${a.sha256}/content`);
      assert.deepEqual(Buffer.from(await content.arrayBuffer()), data);
      // leave the set of assets as the later tests expect
      twins.push(a.sha256);
    });

    it('usage reports assets and bytes by type and the quota', async () => {
      const u = await getJson<Usage>(vault, '/api/v1/usage');
      assert.deepEqual(u.byType, {
        image: { assets: 1, bytes: files.jpg.data.length },
        video: { assets: 1, bytes: files.mov.data.length },
        other: { assets: 2, bytes: files.xmp.data.length + TWIN_SIZE },
      });
      assert.equal(u.assets, 4);
      assert.equal(
        u.bytes,
        files.jpg.data.length + files.mov.data.length + files.xmp.data.length + TWIN_SIZE,
      );
      assert.equal(u.quotaBytes, null);
    });

    it('lists every asset once, in upload order, page by page with the cursor', async () => {
      const extra: string[] = [];
      for (let i = 0; i < 5; i++) {
        const up = await uploadBuffer(vault, Buffer.from(`small file ${i}`), {
          filename: `s${i}.txt`,
        });
        extra.push(up.sha256);
      }
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      do {
        const page: { assets: Asset[]; next: string | null } = await getJson(
          vault,
          `/api/v1/assets?limit=3${after ? `&after=${after}` : ''}`,
        );
        assert.ok(page.assets.length <= 3);
        seen.push(...page.assets.map((a) => a.sha256));
        after = page.next;
        pages += 1;
      } while (after !== null && pages < 10);
      assert.deepEqual(seen, [
        files.jpg.sha256,
        files.mov.sha256,
        files.xmp.sha256,
        ...twins,
        ...extra,
      ]);
      assert.equal(pages, 3, '9 assets, 3 per page');
    });

    it('stores metadata validated against the wire format, and keeps it across a restart', async () => {
      const metadata = {
        captureTime: '2019-03-12T10:11:12.345+01:00',
        captureTimeSource: 'exif_original',
        timeZone: { offsetMinutes: 60, source: 'offset_time_original' },
        gps: { lat: 48.8584, lon: 2.2945, alt: 35 },
        camera: { make: 'Canon', model: 'Canon EOS 5D', lens: 'EF24-105mm f/4L IS USM' },
        width: 4368,
        height: 2912,
        durationSec: null,
        orientation: 1,
        mime: 'image/jpeg',
        originalPath: '/home/ana/Pictures/2019/cookiezen.jpg',
        device: 'ana-laptop',
      };
      const put = await vaultFetch(vault, `/api/v1/assets/${files.jpg.sha256}/metadata`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(metadata),
      });
      assert.equal(put.status, 200);
      assert.deepEqual(((await put.json()) as Asset).metadata, metadata);
      const token = vault.token;
      const before = await snapshotVault(vault);
      await vault.close();
      vault = await startTestVault({ dataDir: temp.dir, ...blobs.vaultOptions });
      assert.equal(vault.token, token, 'the generated token is reused after a restart');
      assert.equal(vault.tokenGenerated, false);
      const asset = await getJson<Asset>(vault, `/api/v1/assets/${files.jpg.sha256}`);
      assert.deepEqual(asset.metadata, metadata);
      assert.deepEqual(
        await snapshotVault(vault),
        before,
        'a restarted vault knows everything it knew',
      );
    });

    it('serves content whole and by Range, so a restore can resume', async () => {
      const path = `/api/v1/assets/${files.mov.sha256}/content`;
      const whole = await vaultFetch(vault, path);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers.get('accept-ranges'), 'bytes');
      assert.deepEqual(Buffer.from(await whole.arrayBuffer()), files.mov.data);

      const part = await vaultFetch(vault, path, { headers: { Range: 'bytes=100-199' } });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('content-range'), `bytes 100-199/${files.mov.data.length}`);
      assert.deepEqual(Buffer.from(await part.arrayBuffer()), files.mov.data.subarray(100, 200));

      const tail = await vaultFetch(vault, path, { headers: { Range: 'bytes=-50' } });
      assert.equal(tail.status, 206);
      assert.deepEqual(Buffer.from(await tail.arrayBuffer()), files.mov.data.subarray(-50));

      const rest = await vaultFetch(vault, path, {
        headers: { Range: `bytes=${files.mov.data.length - 10}-` },
      });
      assert.equal(rest.status, 206);
      assert.deepEqual(Buffer.from(await rest.arrayBuffer()), files.mov.data.subarray(-10));

      const beyond = await vaultFetch(vault, path, {
        headers: { Range: `bytes=${files.mov.data.length}-` },
      });
      assert.equal(beyond.status, 416);
      assert.equal(beyond.headers.get('content-range'), `bytes */${files.mov.data.length}`);
      assert.equal(((await beyond.json()) as { error: string }).error, 'range_not_satisfiable');

      const head = await vaultFetch(vault, path, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(files.mov.data.length));

      const missing = await vaultFetch(vault, `/api/v1/assets/${sha256Hex('nope')}/content`);
      assert.equal(missing.status, 404);
    });

    it('/metrics reports uploads, bytes, verification failures and request latency', async () => {
      const res = await vaultFetch(vault, '/metrics');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const text = await res.text();
      for (const name of [
        'keepsake_vault_uploads_started_total',
        'keepsake_vault_uploads_finished_total',
        'keepsake_vault_uploads_rejected_total{reason="checksum_mismatch"}',
        'keepsake_vault_bytes_received_total',
        'keepsake_vault_verification_failures_total',
        'keepsake_vault_request_duration_seconds_bucket',
        'keepsake_vault_assets 9',
      ]) {
        assert.ok(text.includes(name), `metrics has ${name}`);
      }
      assert.doesNotMatch(text, /cookiezen|[0-9a-f]{64}/, 'no file names or hashes in metrics');
    });
  });
}

describe('vault: quota and max size are enforced before a byte is stored', () => {
  let vault: TestVault;
  before(async () => {
    vault = await startTestVault({ quotaBytes: 1000, maxSizeBytes: 700 });
  });
  after(async () => {
    await vault?.close();
  });

  it('a creation that would exceed the quota gets 507 quota_exceeded and nothing is stored', async () => {
    const first = Buffer.alloc(600, 1);
    assert.equal((await uploadBuffer(vault, first, { filename: 'a.bin' })).res.status, 201);
    const before = await snapshotVault(vault);
    const second = Buffer.alloc(600, 2);
    const { res, text } = await tusCreate(vault, {
      size: second.length,
      metadata: { filename: 'b.bin', sha256: sha256Hex(second) },
      body: second,
    });
    assert.equal(res.status, 507);
    assert.equal((JSON.parse(text) as { error: string }).error, 'quota_exceeded');
    assert.deepEqual(await snapshotVault(vault), before);
    const usage = (await (await vaultFetch(vault, '/api/v1/usage')).json()) as Usage;
    assert.equal(usage.quotaBytes, 1000);
  });

  it('uploads in flight reserve their size against the quota, and a terminated one frees it', async () => {
    const a = Buffer.alloc(300, 3);
    const created = await tusCreate(vault, {
      size: a.length,
      metadata: { filename: 'c.bin', sha256: sha256Hex(a) },
    });
    assert.equal(created.res.status, 201);
    const b = Buffer.alloc(300, 4);
    const refused = await tusCreate(vault, {
      size: b.length,
      metadata: { filename: 'd.bin', sha256: sha256Hex(b) },
    });
    assert.equal(refused.res.status, 507, '600 held + 300 reserved + 300 > 1000');
    const del = await vaultFetch(vault, created.location!, {
      method: 'DELETE',
      headers: { ...TUS },
    });
    assert.equal(del.status, 204);
    const accepted = await tusCreate(vault, {
      size: b.length,
      metadata: { filename: 'd.bin', sha256: sha256Hex(b) },
    });
    assert.equal(accepted.res.status, 201, 'the terminated upload no longer counts');
    assert.equal((await tusPatch(vault, accepted.location!, 0, b)).res.status, 204);
  });

  it('content the vault already holds can be uploaded again at full quota (it costs nothing)', async () => {
    const again = await uploadBuffer(vault, Buffer.alloc(600, 1), { filename: 'a-again.bin' });
    assert.equal(again.res.status, 201, again.text);
  });

  it('a creation over --max-size gets 413 before a byte is stored', async () => {
    const before = await snapshotVault(vault);
    const big = Buffer.alloc(701, 5);
    const res = await vaultFetch(vault, '/files/', {
      method: 'POST',
      headers: {
        ...TUS,
        'Upload-Length': String(big.length),
        'Upload-Metadata': uploadMetadata({ filename: 'big.bin', sha256: sha256Hex(big) }),
        'Content-Type': 'application/offset+octet-stream',
      },
      body: big,
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: string }).error, 'payload_too_large');
    assert.deepEqual(await snapshotVault(vault), before);
  });
});
