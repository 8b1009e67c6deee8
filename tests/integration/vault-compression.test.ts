// Lossless compression on the vault (issue 15 section 3): compressible content (TIFF, DNG,
// PSD, uncompressed pixels) is stored compressed in the background and read back byte-exact,
// whole and by Range; a JPEG stays as it came; scrub proves the original bytes and catches a
// damaged compressed object; a read of one fails loudly; kill -9 during compression leaves a
// readable asset; restore gives the original bytes. Real vaults on loopback, corpus files.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Usage } from '../../common/vault-protocol.js';
import { FRAME_BYTES } from '../../server/blob-codec.js';
import { FsBlobStore } from '../../server/blob-store.js';
import { VaultIndex } from '../../server/index/vault-index.js';
import { scrubDataDir } from '../../server/scrub.js';
import { describeRun, killAllChildren, parseJsonOutput, runCli, waitFor } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { flipByte, metricValue } from '../support/vault-damage.js';
import {
  sha256Hex,
  spawnVaultProcess,
  startTestVault,
  uploadBuffer,
  vaultFetch,
  type TestVault,
  type VaultEndpoint,
} from '../support/vault.js';

const CORPUS_COMPRESSIBLE = [
  ['ianare-exif-samples/tiff/Crémieux11.tiff', 'image/tiff'],
  ['exiftool-t-images/ExifTool.tif', 'image/tiff'],
  ['exiftool-t-images/CanonRaw.cr2', 'image/x-canon-cr2'],
  ['exiftool-t-images/DNG.dng', 'image/x-adobe-dng'],
  ['exiftool-t-images/Photoshop.psd', 'image/vnd.adobe.photoshop'],
] as const;
const CORPUS_JPEG = 'metadata-extractor-images/jpg/Apple iPhone 4.jpg';
/** A TIFF (with JPEG-compressed strips) that brotli shrinks by only 3 %: it stays plain. */
const CORPUS_TIFF_TOO_LITTLE = 'ianare-exif-samples/tiff/Jobagent.tiff';

/** Real photo pixels as uncompressed TIFFs (decoded corpus JPEGs), joined to >= `minBytes`. */
async function photoPixelsTiff(minBytes: number): Promise<Buffer> {
  const sources = [
    'metadata-extractor-images/jpg/Android Depth Map.jpg',
    'ianare-exif-samples/jpg/Canon_40D.jpg',
    'osxphotos/wedding.jpg',
    'exifr-fixtures/cookiezen.jpg',
  ];
  const parts: Buffer[] = [];
  let total = 0;
  for (let i = 0; total < minBytes; i++) {
    const tiff = await sharp(corpusFile(sources[i % sources.length]!))
      .rotate(90 * (i % 4))
      .tiff({ compression: 'none' })
      .toBuffer();
    parts.push(tiff);
    total += tiff.length;
  }
  return Buffer.concat(parts);
}

async function usage(vault: VaultEndpoint): Promise<Usage> {
  return (await (await vaultFetch(vault, '/api/v1/usage')).json()) as Usage;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Waits until the content is stored compressed only (the plain blob gone). */
function storedCompressed(dataDir: string, sha256: string, timeoutMs = 60_000) {
  const blobs = new FsBlobStore(join(dataDir, 'blobs'));
  return waitFor(
    async () =>
      (await exists(blobs.compressedPathOf(sha256))) && !(await exists(blobs.pathOf(sha256))),
    { what: `${sha256} stored compressed`, timeoutMs },
  );
}

async function get(vault: VaultEndpoint, sha256: string, range?: string) {
  const res = await vaultFetch(vault, `/api/v1/assets/${sha256}/content`, {
    headers: range ? { Range: range } : {},
  });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

/** A read that must not succeed: an error status, or a body cut short of what it declared. */
async function readFails(vault: VaultEndpoint, sha256: string, range?: string): Promise<void> {
  let got: { res: Response; body: Buffer } | null = null;
  try {
    got = await get(vault, sha256, range);
  } catch {
    return; // the connection was cut: a failed read
  }
  assert.ok(
    got.res.status >= 400 || got.body.length !== Number(got.res.headers.get('content-length')),
    `a read of damaged content failed (status ${got.res.status}, ${got.body.length} bytes)`,
  );
}

describe('vault: lossless compression of compressible content', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let vault: TestVault | undefined;
  const stored: { name: string; data: Buffer; sha256: string }[] = [];
  let jpeg: { data: Buffer; sha256: string };
  let little: Buffer;
  let big: { data: Buffer; sha256: string };

  before(async () => {
    temp = await makeTempDir('keepsake-vault-compress-');
    vault = await startTestVault({
      dataDir: temp.dir,
      compression: true,
      scrub: false,
      previews: false,
    });
    // The JPEG first: the compressor takes contents in upload order.
    const jpegData = await readFile(corpusFile(CORPUS_JPEG));
    little = await readFile(corpusFile(CORPUS_TIFF_TOO_LITTLE));
    await uploadBuffer(vault, little, { filename: 'Jobagent.tiff' });
    jpeg = {
      data: jpegData,
      sha256: (await uploadBuffer(vault, jpegData, { filename: 'a.jpg' })).sha256,
    };
    for (const [rel, mime] of CORPUS_COMPRESSIBLE) {
      const data = await readFile(corpusFile(rel));
      const name = rel.split('/').at(-1)!;
      const up = await uploadBuffer(vault, data, { filename: name, filetype: mime });
      assert.equal(up.res.status, 201, up.text);
      stored.push({ name, data, sha256: up.sha256 });
    }
    const bigData = await photoPixelsTiff(3 * FRAME_BYTES + 12345);
    const up = await uploadBuffer(vault, bigData, { filename: 'scan.tif' });
    assert.equal(up.res.status, 201, up.text);
    big = { data: bigData, sha256: up.sha256 };
    for (const s of [...stored, big]) await storedCompressed(temp.dir, s.sha256);
  });
  after(async () => {
    await vault?.close();
    await temp?.cleanup();
  });

  it('stores a TIFF, DNG and PSD from the corpus smaller on disk, and reads them back byte-exact', async () => {
    const blobs = new FsBlobStore(join(temp.dir, 'blobs'));
    for (const s of stored) {
      const onDisk = (await stat(blobs.compressedPathOf(s.sha256))).size;
      assert.ok(onDisk <= s.data.length * 0.95, `${s.name}: ${onDisk} of ${s.data.length} bytes`);
      const { res, body } = await get(vault!, s.sha256);
      assert.equal(res.status, 200);
      assert.ok(body.equals(s.data), `${s.name} read back byte-exact`);
    }
  });

  it('answers Ranges of a compressed asset byte-exact: first, last and middle bytes, across frames', async () => {
    const size = big.data.length;
    const ranges: [string, number, number][] = [
      ['bytes=0-0', 0, 0],
      [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
      [`bytes=-1`, size - 1, size - 1],
      [`bytes=${FRAME_BYTES - 10}-${FRAME_BYTES + 9}`, FRAME_BYTES - 10, FRAME_BYTES + 9],
      [
        `bytes=${(size >> 1) - 70_000}-${(size >> 1) + 70_000}`,
        (size >> 1) - 70_000,
        (size >> 1) + 70_000,
      ],
      [`bytes=${FRAME_BYTES >> 1}-${3 * FRAME_BYTES + 5}`, FRAME_BYTES >> 1, 3 * FRAME_BYTES + 5],
      [`bytes=${size - 5000}-`, size - 5000, size - 1],
    ];
    for (const [header, start, end] of ranges) {
      const { res, body } = await get(vault!, big.sha256, header);
      assert.equal(res.status, 206, header);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${size}`);
      assert.ok(body.equals(big.data.subarray(start, end + 1)), `${header} byte-exact`);
    }
    const whole = await get(vault!, big.sha256);
    assert.ok(whole.body.equals(big.data));
  });

  it('leaves a JPEG, and a TIFF compression would shrink by under 5 %, as they came', async () => {
    const blobs = new FsBlobStore(join(temp.dir, 'blobs'));
    for (const data of [jpeg.data, little]) {
      const sha256 = sha256Hex(data);
      assert.ok(await exists(blobs.pathOf(sha256)));
      assert.ok(!(await exists(blobs.compressedPathOf(sha256))));
      assert.ok((await readFile(blobs.pathOf(sha256))).equals(data));
    }
  });

  it('reports what the disk holds and what compression saved; the quota counts original bytes', async () => {
    const u = await usage(vault!);
    const blobs = new FsBlobStore(join(temp.dir, 'blobs'));
    let onDisk = jpeg.data.length + little.length;
    let original = onDisk;
    for (const s of [...stored, big]) {
      onDisk += (await stat(blobs.compressedPathOf(s.sha256))).size;
      original += s.data.length;
    }
    assert.equal(u.bytes, original);
    assert.equal(u.storedBytes, onDisk);
    assert.equal(u.compressionSavedBytes, original - onDisk);
    assert.ok(u.compressionSavedBytes > 0);
    assert.equal(
      await metricValue(vault!, 'keepsake_vault_compression_saved_bytes'),
      u.compressionSavedBytes,
    );
    assert.equal(await metricValue(vault!, 'keepsake_vault_stored_bytes'), onDisk);
  });

  it('scrub proves a compressed asset, catches a damaged compressed object, and a read of it fails loudly', async () => {
    await vault!.close();
    vault = undefined;
    let s = await scrubDataDir({ dataDir: temp.dir });
    assert.deepEqual([s.damaged, s.missing, s.ok], [[], [], stored.length + 3]);
    // one byte flipped inside the second frame's compressed bytes, on disk
    const blobs = new FsBlobStore(join(temp.dir, 'blobs'));
    const packed = blobs.compressedPathOf(big.sha256);
    const fh = await readFile(packed);
    const firstFrameLength = fh.readUInt32LE(24);
    await flipByte(packed, 24 + 8 + firstFrameLength + 8 + 100);
    vault = await startTestVault({
      dataDir: temp.dir,
      compression: true,
      scrub: false,
      previews: false,
    });
    // Range reads that touch the damaged frame fail; one that does not is still served.
    await readFails(vault, big.sha256, `bytes=${FRAME_BYTES + 10}-${FRAME_BYTES + 20}`);
    await readFails(vault, big.sha256);
    await vault.close();
    vault = undefined;
    s = await scrubDataDir({ dataDir: temp.dir });
    assert.deepEqual(s.damaged, [big.sha256]);
    assert.equal(s.ok, stored.length + 2);
  });
});

describe('vault: killed with SIGKILL while it compresses', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  before(async () => {
    temp = await makeTempDir('keepsake-vault-compress-kill-');
  });
  after(async () => {
    await killAllChildren();
    await temp?.cleanup();
  });

  it('restarts with the asset readable byte-exact, no leftover temps, and compresses it after', async () => {
    const dataDir = join(temp.dir, 'vault');
    const data = await photoPixelsTiff(24 * FRAME_BYTES);
    let proc = await spawnVaultProcess({ dataDir, extraArgs: ['--no-previews'] });
    try {
      const up = await uploadBuffer(proc, data, { filename: 'scan.tif' });
      assert.equal(up.res.status, 201, up.text);
      // Kill once the compressed object is being written.
      await waitFor(
        async () =>
          (await readdir(join(dataDir, 'uploads'))).some((n) => n.startsWith('compress-')),
        { what: 'the compressor writing its temp', timeoutMs: 60_000, intervalMs: 20 },
      );
      await proc.kill9();
      proc = await spawnVaultProcess({ dataDir, extraArgs: ['--no-previews', '--no-compression'] });
      assert.deepEqual(
        await readdir(join(dataDir, 'uploads')),
        [],
        'the start-up sweep removed temps',
      );
      const whole = await get(proc, up.sha256);
      assert.equal(whole.res.status, 200);
      assert.ok(whole.body.equals(data), 'read back byte-exact after the kill');
      await proc.stop();
      // With compression on again, it finishes the job.
      proc = await spawnVaultProcess({ dataDir, extraArgs: ['--no-previews'] });
      await storedCompressed(dataDir, up.sha256, 120_000);
      const again = await get(proc, up.sha256, `bytes=${data.length - 1}-`);
      assert.ok(again.body.equals(data.subarray(-1)));
    } finally {
      await proc.kill9();
    }
  });

  it('a crash between placing the compressed object and removing the plain one is settled at start', async () => {
    const dataDir = join(temp.dir, 'settle');
    const data = await readFile(corpusFile('ianare-exif-samples/tiff/Crémieux11.tiff'));
    const sha256 = sha256Hex(data);
    let vault = await startTestVault({ dataDir, compression: true, scrub: false, previews: false });
    await uploadBuffer(vault, data, { filename: 'c.tiff' });
    await storedCompressed(dataDir, sha256);
    await vault.close();
    // What kill -9 between steps 3 and 4 leaves: both objects, the index saying 'compressing'.
    const blobs = new FsBlobStore(join(dataDir, 'blobs'));
    await writeFile(blobs.pathOf(sha256), data);
    const index = await VaultIndex.open(join(dataDir, 'vault.db'));
    await index.encodings.compressingNow(sha256);
    await index.close();
    vault = await startTestVault({ dataDir, compression: false, scrub: false, previews: false });
    try {
      assert.ok(!(await exists(blobs.pathOf(sha256))), 'the plain copy went');
      assert.ok(await exists(blobs.compressedPathOf(sha256)));
      assert.ok((await get(vault, sha256)).body.equals(data));
      assert.ok(((await usage(vault)).compressionSavedBytes ?? 0) > 0, 'recorded as compressed');
    } finally {
      await vault.close();
    }
  });
});

describe('restore of a compressed asset', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  before(async () => {
    temp = await makeTempDir('keepsake-restore-compressed-');
  });
  after(async () => {
    await killAllChildren();
    await temp?.cleanup();
  });

  it('gives back the original bytes', async () => {
    const src = join(temp.dir, 'Scans');
    const dataDir = join(temp.dir, 'data');
    await mkdir(src, { recursive: true });
    await copyFile(corpusFile('ianare-exif-samples/tiff/Crémieux11.tiff'), join(src, 'j.tiff'));
    await copyFile(corpusFile('exiftool-t-images/DNG.dng'), join(src, 'd.dng'));
    const b = await runCli(['backup', src, '--data-dir', dataDir, '--json']);
    assert.equal(b.code, 0, describeRun(b));
    // The embedded vault lives as long as the backup; a vault process compresses them.
    const proc = await spawnVaultProcess({
      dataDir: join(dataDir, 'vault'),
      extraArgs: ['--no-previews'],
    });
    try {
      for (const name of ['j.tiff', 'd.dng']) {
        await storedCompressed(join(dataDir, 'vault'), sha256Hex(await readFile(join(src, name))));
      }
    } finally {
      await proc.stop();
    }
    const out = join(temp.dir, 'out');
    const r = await runCli(['restore', '--to', out, '--data-dir', dataDir, '--json']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(parseJsonOutput<{ restored: number }>(r).restored, 2);
    for (const name of ['j.tiff', 'd.dng']) {
      assert.ok(
        (await readFile(join(out, 'Scans', name))).equals(await readFile(join(src, name))),
        name,
      );
    }
  });
});
