// Lossless compression on the vault (issue 15 section 3 "Benchmark"): the vault's codec
// (brotli quality 5 in 1 MiB frames, See [Note: Compressed blobs] in server/blob-codec.ts)
// beside the `zstd` command line at levels 3, 9 and 19 on the same files: the corpus's
// compressible files (TIFF, DNG, PSD, RAW...: what the vault would consider, >= 4 KiB) and
// uncompressed TIFFs of real photo pixels (corpus JPEGs decoded by sharp: what a scanner or a
// RAW converter writes, and big enough to time). Saved bytes, compression and decompression
// MB/s on one core (zstd's own in-memory benchmark mode, -b, single-threaded; the vault's
// codec in this process, frame after frame as the background compressor runs it); then the
// vault's read throughput (GET .../content, whole, verified) of compressed assets beside the
// same files stored plain.
import { spawnSync } from 'node:child_process';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  CompressedBlobReader,
  compressFrame,
  encodeFrameHeader,
  encodeHeader,
  FRAME_BYTES,
} from '../../../server/blob-codec.js';
import { FsBlobStore } from '../../../server/blob-store.js';
import { skipReason } from '../../../server/compressor.js';
import { startVault } from '../../../server/vault.js';
import { waitFor } from '../../support/cli.js';
import { corpusFile, corpusRoot } from '../../support/paths.js';
import { sha256Hex, uploadBuffer, vaultFetch, type VaultEndpoint } from '../../support/vault.js';
import { missingBinary } from '../baselines.js';
import type { BenchCase, BenchContext, BenchMeasurement } from '../harness.js';

const MiB = 1024 * 1024;
const zstdBin = process.env.BENCH_ZSTD ?? '/usr/bin/zstd';

/** exiftool FileType values of formats stored as they came (uncompressed or lightly). */
const COMPRESSIBLE_TYPES =
  /^(TIFF|BMP|PSD|DNG|CR2|CRW|NEF|RW2|RAF|MRW|X3F|IIQ|RAW|XCF|DR4|VRD|MIE|R3D|LFP|DV|EXIF)$/;

async function corpusCompressible(): Promise<{ name: string; data: Buffer }[]> {
  const manifest = await readFile(join(corpusRoot, 'MANIFEST.tsv'), 'utf8');
  const out: { name: string; data: Buffer }[] = [];
  for (const line of manifest.split('\n').slice(1)) {
    const [path, bytes, , format] = line.split('\t');
    if (!path || !format || !COMPRESSIBLE_TYPES.test(format)) continue;
    const name = path.split('/').at(-1)!;
    if (skipReason({ size: Number(bytes), mime: null, filename: name }) !== null) continue;
    out.push({ name, data: await readFile(corpusFile(path)) });
  }
  return out;
}

/** Real photo pixels as uncompressed TIFFs (decoded corpus JPEGs), >= `minBytes` in all. */
async function photoTiffs(minBytes: number): Promise<{ name: string; data: Buffer }[]> {
  const sources = [
    'metadata-extractor-images/jpg/Android Depth Map.jpg',
    'ianare-exif-samples/jpg/Canon_40D.jpg',
    'osxphotos/wedding.jpg',
    'exifr-fixtures/cookiezen.jpg',
    'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg',
    'osxphotos/screenshot-really-a-png.jpeg',
  ];
  const out: { name: string; data: Buffer }[] = [];
  let total = 0;
  for (let i = 0; total < minBytes; i++) {
    const src = sources[i % sources.length]!;
    const data = await sharp(corpusFile(src))
      .rotate(90 * (Math.floor(i / sources.length) % 4))
      .tiff({ compression: 'none' })
      .toBuffer();
    out.push({ name: `scan-${i}.tif`, data });
    total += data.length;
  }
  return out;
}

/** The vault's stored form of a file: the bytes it would write, and how long that took. */
async function encode(data: Buffer): Promise<Buffer> {
  const parts = [encodeHeader(data.length)];
  for (let pos = 0; pos < data.length; pos += FRAME_BYTES) {
    const plain = data.subarray(pos, pos + FRAME_BYTES);
    const packed = await compressFrame(plain);
    parts.push(encodeFrameHeader(plain, packed), packed);
  }
  return Buffer.concat(parts);
}

interface CodecFigures {
  storedBytes: number;
  compressMBps: number;
  decompressMBps: number;
}

async function keepsakeCodec(
  files: { data: Buffer }[],
  dir: string,
  rounds: number,
): Promise<CodecFigures> {
  const total = files.reduce((s, f) => s + f.data.length, 0);
  let best = { c: Infinity, d: Infinity };
  let stored = 0;
  for (let round = 0; round < rounds; round++) {
    const t0 = performance.now();
    const encoded: Buffer[] = [];
    for (const f of files) encoded.push(await encode(f.data));
    const c = (performance.now() - t0) / 1000;
    stored = encoded.reduce((s, e) => s + e.length, 0);
    const paths = await Promise.all(
      encoded.map(async (e, i) => {
        const p = join(dir, `enc-${i}.ksz`);
        await writeFile(p, e);
        return p;
      }),
    );
    const t1 = performance.now();
    const buf = Buffer.allocUnsafe(FRAME_BYTES);
    for (const p of paths) {
      const fh = await open(p, 'r');
      try {
        const reader = await CompressedBlobReader.open(fh);
        for (let pos = 0; pos < reader.size;) {
          pos += (await reader.read(buf, 0, buf.length, pos)).bytesRead;
        }
      } finally {
        await fh.close();
      }
    }
    const d = (performance.now() - t1) / 1000;
    best = { c: Math.min(best.c, c), d: Math.min(best.d, d) };
  }
  return {
    storedBytes: stored,
    compressMBps: total / 1e6 / best.c,
    decompressMBps: total / 1e6 / best.d,
  };
}

/** zstd's in-memory benchmark (-b) over the files, single-threaded; per-file sizes summed. */
function zstdCodec(paths: string[], level: number, seconds: number): CodecFigures | string {
  const res = spawnSync(zstdBin, [`-b${level}`, `-i${seconds}`, ...paths], { encoding: 'utf8' });
  const text = `${res.stdout}${res.stderr}`.replace(/\r/g, '\n');
  // one final line per file: " 3#name : 2359550 -> 1317427 (x1.791), 101.8 MB/s, 642.2 MB/s"
  const rows = [
    ...text.matchAll(/:\s+(\d+) ->\s+(\d+) \([^)]*\),\s+([\d.]+) MB\/s,\s+([\d.]+) MB\/s/g),
  ];
  if (res.status !== 0 || rows.length === 0) return `zstd -b failed: ${text.slice(-300)}`;
  // the last full row of each file; zstd prints progress rows before it
  const perFile = new Map<number, { orig: number; out: number; c: number; d: number }>();
  let fileIndex = -1;
  let lastOrig = -1;
  for (const r of rows) {
    const orig = Number(r[1]);
    if (orig !== lastOrig) fileIndex += 1;
    lastOrig = orig;
    perFile.set(fileIndex, { orig, out: Number(r[2]), c: Number(r[3]), d: Number(r[4]) });
  }
  const all = [...perFile.values()];
  const total = all.reduce((s, f) => s + f.orig, 0);
  // throughput over the set: time = sum(bytes / rate)
  const cTime = all.reduce((s, f) => s + f.orig / 1e6 / f.c, 0);
  const dTime = all.reduce((s, f) => s + f.orig / 1e6 / f.d, 0);
  return {
    storedBytes: all.reduce((s, f) => s + f.out, 0),
    compressMBps: total / 1e6 / cTime,
    decompressMBps: total / 1e6 / dTime,
  };
}

function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readAllMBps(vault: VaultEndpoint, files: { sha256: string; size: number }[]) {
  const total = files.reduce((s, f) => s + f.size, 0);
  const t0 = performance.now();
  for (const f of files) {
    const res = await vaultFetch(vault, `/api/v1/assets/${f.sha256}/content`);
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200 || body.length !== f.size) throw new Error(`read of ${f.sha256}`);
  }
  return total / 1e6 / ((performance.now() - t0) / 1000);
}

export const benchCase: BenchCase = {
  name: 'compression',
  description:
    "vault compression (brotli q5, 1 MiB frames) beside the zstd command line (-3/-9/-19): saved bytes, MB/s; the vault's reads of compressed vs plain assets",
  async run(ctx: BenchContext) {
    const corpus = await corpusCompressible();
    const photos = await photoTiffs((ctx.small ? 24 : 160) * MiB);
    const rounds = ctx.small ? 2 : 3;
    const measurements: BenchMeasurement[] = [];
    const extra: Record<string, unknown> = {};
    const zstdMissing = missingBinary(zstdBin);
    for (const [setName, files] of [
      ['corpus compressible files', corpus],
      ['photo-pixel TIFFs', photos],
    ] as const) {
      const total = files.reduce((s, f) => s + f.data.length, 0);
      const dir = join(ctx.workDir, setName.replace(/\W+/g, '-'));
      await mkdir(dir, { recursive: true });
      const paths = await Promise.all(
        files.map(async (f, i) => {
          const p = join(dir, `${i}-${f.name}`);
          await writeFile(p, f.data);
          return p;
        }),
      );
      ctx.log(`${setName}: ${files.length} files, ${(total / 1e6).toFixed(2)} MB`);
      const ours = await keepsakeCodec(files, dir, rounds);
      const saved = (s: number) => (100 * (total - s)) / total;
      ctx.log(
        `  keepsake brotli q5 framed: saved ${saved(ours.storedBytes).toFixed(1)} %, compress ${ours.compressMBps.toFixed(1)} MB/s, decompress ${ours.decompressMBps.toFixed(1)} MB/s`,
      );
      const zstd: Record<number, CodecFigures | string> = {};
      for (const level of [3, 9, 19]) {
        zstd[level] = zstdMissing ?? zstdCodec(paths, level, level === 19 ? 1 : rounds);
        const z = zstd[level];
        ctx.log(
          typeof z === 'string'
            ? `  zstd -${level}: ${z}`
            : `  zstd -${level}: saved ${saved(z.storedBytes).toFixed(1)} %, compress ${z.compressMBps.toFixed(1)} MB/s, decompress ${z.decompressMBps.toFixed(1)} MB/s`,
        );
      }
      extra[setName] = { files: files.length, bytes: total, keepsake: ours, zstd };
      const z3 = zstd[3]!;
      const base = (
        label: string,
        unit: string,
        mine: number,
        theirs: (z: CodecFigures) => number,
      ) =>
        measurements.push({
          label: `${setName}: ${label}`,
          keepsake: mine,
          baseline: typeof z3 === 'string' ? 0 : theirs(z3),
          baselineName: 'zstd -3 (command line, -b, 1 core)',
          unit,
          higherIsBetter: true,
          ...(typeof z3 === 'string' ? { baselineMissing: z3 } : {}),
        });
      base('bytes saved', '%', saved(ours.storedBytes), (z) => saved(z.storedBytes));
      base('compression', 'MB/s', ours.compressMBps, (z) => z.compressMBps);
      base('decompression', 'MB/s', ours.decompressMBps, (z) => z.decompressMBps);
    }

    // The vault's reads: the photo TIFFs stored compressed beside the same files stored plain.
    const reads: Record<string, number> = {};
    for (const compression of [true, false]) {
      const dataDir = join(ctx.workDir, `vault-${compression ? 'compressed' : 'plain'}`);
      const vault = await startVault({
        dataDir,
        host: '127.0.0.1',
        port: 0,
        scrub: false,
        previews: false,
        compression,
      });
      try {
        const held: { sha256: string; size: number }[] = [];
        for (const f of photos) {
          const up = await uploadBuffer(vault, f.data, { filename: f.name });
          if (!up.res.ok) throw new Error(`upload: ${up.res.status} ${up.text}`);
          held.push({ sha256: sha256Hex(f.data), size: f.data.length });
        }
        if (compression) {
          const blobs = new FsBlobStore(join(dataDir, 'blobs'));
          const compressedOnly = async (sha256: string) =>
            (await exists(blobs.compressedPathOf(sha256))) && !(await exists(blobs.pathOf(sha256)));
          await waitFor(
            async () =>
              (await Promise.all(held.map((h) => compressedOnly(h.sha256)))).every(Boolean),
            { what: 'every TIFF stored compressed', timeoutMs: 600_000, intervalMs: 500 },
          );
        }
        await readAllMBps(vault, held); // warm the page cache
        let best = 0;
        for (let round = 0; round < rounds; round++)
          best = Math.max(best, await readAllMBps(vault, held));
        reads[compression ? 'compressed' : 'plain'] = best;
        ctx.log(`vault reads, ${compression ? 'compressed' : 'plain'}: ${best.toFixed(1)} MB/s`);
      } finally {
        await vault.close();
      }
    }
    measurements.push({
      label: 'vault whole reads (GET content, verified) of photo-pixel TIFFs',
      keepsake: reads.compressed ?? 0,
      baseline: reads.plain ?? 0,
      baselineName: 'the same assets stored plain',
      unit: 'MB/s',
      higherIsBetter: true,
    });
    return {
      measurements,
      extra: {
        ...extra,
        reads,
        note: 'codec figures: best of rounds, one core, files in memory (keepsake) or zstd -b in memory; reads: page cache warm, one request at a time',
      },
    };
  },
};
