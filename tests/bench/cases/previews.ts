// Bench 'previews' (issue 11 section 2 "Benchmark"):
// 1. Pictures per second for the shared corpus's decodable photos (JPEG, PNG, TIFF, WebP,
//    GIF, AVIF): the vault's renderer making the 1440 px preview AND the 256 px thumbnail
//    of each, one at a time as the vault does, beside `vipsthumbnail -s 256` (one process
//    for all files) or ImageMagick `convert -auto-orient -thumbnail 256x256` (one process
//    per file) on the same files, which make the thumbnail only. With neither installed the
//    baseline is reported missing.
// 2. The vault's upload rate (a `keepsake vault` process on loopback, batches of corpus
//    photos made unique by bytes after the JPEG's end) with previews on and off, rounds
//    interleaved; aim: on is at most 10 % slower. The upload rate is what clients see: the
//    time to the last batch's answer; previews still being made after that are not counted.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import {
  RECOMMENDED_BATCH_BYTES,
  RECOMMENDED_BATCH_FILES,
} from '../../../common/vault-protocol.js';
import { createPreviewRenderer } from '../../../server/preview-render.js';
import { median, roundsFor } from '../baselines.js';
import type { BenchCase, BenchMeasurement } from '../harness.js';
import { corpusRoot } from '../../support/paths.js';
import { type BatchFile, batchBody, spawnVaultProcess, vaultFetch } from '../../support/vault.js';

const DECODABLE = new Set(['JPEG', 'PNG', 'TIFF', 'WEBP', 'Extended WEBP', 'GIF', 'AVIF']);

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    if (dir !== '' && existsSync(p)) return p;
  }
  return null;
}

/** vipsthumbnail, else a real ImageMagick convert (not a stand-in script), else null. */
function thumbnailBaseline(): { name: string; path: string } | null {
  const vips = onPath('vipsthumbnail');
  if (vips) return { name: 'vipsthumbnail -s 256', path: vips };
  const convert = onPath('convert');
  if (convert && !readFileSync(convert).includes('Stands in for ImageMagick')) {
    return { name: 'convert -auto-orient -thumbnail 256x256 (a process per file)', path: convert };
  }
  return null;
}

/** Corpus photos that decode (by the manifest's format), each content once. */
async function corpusPhotos(): Promise<{ path: string; bytes: number }[]> {
  const manifest = await readFile(join(corpusRoot, 'MANIFEST.tsv'), 'utf8');
  const seen = new Set<string>();
  const out: { path: string; bytes: number }[] = [];
  for (const line of manifest.split('\n').slice(1)) {
    const [path, bytes, sha256, format] = line.split('\t');
    if (!path || !sha256 || !format || seen.has(sha256) || !DECODABLE.has(format)) continue;
    if (path.includes('ImageTestSuite') || path.includes('/invalid/')) continue;
    seen.add(sha256);
    out.push({ path: join(corpusRoot, path), bytes: Number(bytes) });
  }
  return out;
}

function timeBaseline(
  tool: { name: string; path: string },
  files: string[],
  outDir: string,
): number {
  const t0 = performance.now();
  if (tool.name.startsWith('vipsthumbnail')) {
    spawnSync(tool.path, ['-s', '256', '-o', join(outDir, '%s.jpg'), ...files], {
      stdio: 'ignore',
    });
  } else {
    files.forEach((f, i) =>
      spawnSync(
        tool.path,
        [`${f}[0]`, '-auto-orient', '-thumbnail', '256x256', join(outDir, `${i}.jpg`)],
        {
          stdio: 'ignore',
        },
      ),
    );
  }
  return (performance.now() - t0) / 1000;
}

/** Uploads the prepared batch bodies; seconds to the last answer. */
async function uploadAll(
  previews: boolean,
  dataDir: string,
  bodies: { body: Buffer; count: number }[],
): Promise<number> {
  const vault = await spawnVaultProcess({
    dataDir,
    extraArgs: ['--partial-ttl', '1h', ...(previews ? [] : ['--no-previews'])],
  });
  try {
    const t0 = performance.now();
    for (const b of bodies) {
      const res = await vaultFetch(vault, '/api/v1/batch', {
        method: 'POST',
        headers: {
          'Content-Type': 'application/vnd.keepsake.batch',
          'Keepsake-Batch-Count': String(b.count),
        },
        body: b.body,
        signal: AbortSignal.timeout(300_000),
      });
      if (res.status !== 200) throw new Error(`batch: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
    return (performance.now() - t0) / 1000;
  } finally {
    await vault.stop();
  }
}

export const benchCase: BenchCase = {
  name: 'previews',
  description:
    'vault previews: corpus pictures/s beside vipsthumbnail or convert -thumbnail, and upload rate with previews on vs off',
  async run(ctx) {
    const photos = await corpusPhotos();
    const files = photos.map((p) => p.path);
    const totalMB = photos.reduce((s, p) => s + p.bytes, 0) / 1e6;
    ctx.log(`${files.length} decodable corpus photos, ${totalMB.toFixed(1)} MB`);

    // 1. pictures per second
    const renderer = createPreviewRenderer({ ffmpegPath: null });
    const renderOnce = async () => {
      const t0 = performance.now();
      let made = 0;
      for (const f of files) {
        const o = await renderer.render(f, { kind: 'image', mime: null, filename: f });
        if ('made' in o) made += 1;
      }
      return { seconds: (performance.now() - t0) / 1000, made };
    };
    const rounds = roundsFor(ctx.small);
    await renderOnce(); // page cache and exiftool warm
    const ours: number[] = [];
    let made = 0;
    for (let r = 0; r < rounds; r++) {
      const o = await renderOnce();
      made = o.made;
      ours.push(files.length / o.seconds);
      ctx.log(`round ${r + 1} keepsake: ${(files.length / o.seconds).toFixed(1)} files/s`);
    }
    await renderer.close();
    const tool = thumbnailBaseline();
    const theirs: number[] = [];
    if (tool) {
      const outDir = join(ctx.workDir, 'baseline-thumbs');
      await mkdir(outDir, { recursive: true });
      timeBaseline(tool, files, outDir);
      for (let r = 0; r < rounds; r++) {
        const s = timeBaseline(tool, files, outDir);
        theirs.push(files.length / s);
        ctx.log(`round ${r + 1} ${tool.name}: ${(files.length / s).toFixed(1)} files/s`);
      }
    }

    // 2. upload rate, previews on vs off (unique copies of the JPEGs: bytes after EOI)
    const copies = ctx.small ? 2 : 8;
    const jpegs = (
      await Promise.all(photos.map(async (p) => ({ path: p.path, data: await readFile(p.path) })))
    ).filter((p) => p.data[0] === 0xff && p.data[1] === 0xd8);
    const bodies: { body: Buffer; count: number }[] = [];
    let pending: BatchFile[] = [];
    let pendingBytes = 0;
    let uploadBytes = 0;
    const flush = () => {
      if (pending.length === 0) return;
      bodies.push({ body: batchBody(pending), count: pending.length });
      pending = [];
      pendingBytes = 0;
    };
    for (let c = 0; c < copies; c++) {
      for (const [i, p] of jpegs.entries()) {
        const data = Buffer.concat([p.data, randomBytes(16)]);
        if (
          pending.length >= RECOMMENDED_BATCH_FILES ||
          pendingBytes + data.length > RECOMMENDED_BATCH_BYTES
        )
          flush();
        pending.push({ data, filename: `IMG_${c}_${i}.jpg`, mime: 'image/jpeg' });
        pendingBytes += data.length;
        uploadBytes += data.length;
      }
    }
    flush();
    const uploadFiles = copies * jpegs.length;
    ctx.log(
      `upload: ${uploadFiles} unique JPEGs, ${(uploadBytes / 1e6).toFixed(0)} MB in ${bodies.length} batches`,
    );
    const on: number[] = [];
    const off: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const sOff = await uploadAll(false, join(ctx.workDir, `vault-off-${r}`), bodies);
      off.push(uploadFiles / sOff);
      const sOn = await uploadAll(true, join(ctx.workDir, `vault-on-${r}`), bodies);
      on.push(uploadFiles / sOn);
      ctx.log(
        `round ${r + 1} upload: previews off ${(uploadFiles / sOff).toFixed(0)} files/s, on ${(uploadFiles / sOn).toFixed(0)} files/s`,
      );
    }

    const missing = tool
      ? undefined
      : 'neither vipsthumbnail (Debian libvips-tools) nor ImageMagick convert is installed: baseline skipped, no ratio';
    const measurements: BenchMeasurement[] = [
      {
        label: `${files.length} corpus photos, preview (1440 px) + thumbnail (256 px) each vs thumbnail only: files/s`,
        keepsake: median(ours),
        baseline: tool ? median(theirs) : Number.NaN,
        baselineName: tool?.name ?? 'vipsthumbnail / convert -thumbnail',
        unit: 'files/s',
        higherIsBetter: true,
        ...(missing ? { baselineMissing: missing } : {}),
      },
      {
        label: `upload of ${uploadFiles} JPEGs in batches to a vault process, previews on vs off: files/s`,
        keepsake: median(on),
        baseline: median(off),
        baselineName: 'the same vault with --no-previews',
        unit: 'files/s',
        higherIsBetter: true,
        aim: '>= 0.90',
      },
    ];
    return {
      measurements,
      extra: {
        photos: files.length,
        made,
        totalMB,
        uploadFiles,
        uploadMB: uploadBytes / 1e6,
        rounds,
        on,
        off,
      },
    };
  },
};
