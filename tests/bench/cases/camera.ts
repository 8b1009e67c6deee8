// Bench 'camera' (issue 8, target b): first backup of 3,810 real camera files (the shared
// corpus's 381 media and sidecar files copied 10 times with unique bytes, ~540 MB; 1 copy at
// SIZE=small) into the embedded vault, files/s, beside `restic backup` of the same tree into
// a fresh local repository in the same run. Aim: >= 0.25 x restic. Rounds interleave
// (Keepsake, restic, ...), each from empty state; the median is reported. How the copies are
// made unique: generateCameraTree in ../trees.ts. Keepsake's time includes its start-up (see
// [Note: Keepsake runs compiled] in ../baselines.ts) and exiftool on every file (its metadata
// is part of its backup); restic reads the bytes only.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchCase } from '../harness.js';
import {
  describeKeepsake,
  describeRestic,
  keepsakeBackup,
  median,
  missingBinary,
  resticBackup,
  resticBin,
  resticInit,
  roundsFor,
  settledFiles,
} from '../baselines.js';
import { generateCameraTree } from '../trees.js';

export const benchCase: BenchCase = {
  name: 'camera',
  description:
    'first backup of the corpus copied 10 times with unique bytes (3,810 real camera files) into the embedded vault, beside restic backup into a local repo (files/s)',
  async run(ctx) {
    const copies = ctx.small ? 1 : 10;
    const root = join(ctx.workDir, 'tree');
    const t0 = performance.now();
    const tree = await generateCameraTree(root, copies);
    ctx.log(
      `tree: ${copies} copies, ${tree.files} files, ${(tree.bytes / 1e6).toFixed(0)} MB, written in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const missing = missingBinary(resticBin);
    const rounds = roundsFor(ctx.small);
    const keepsake: number[] = [];
    const keepsakeMBps: number[] = [];
    const restic: number[] = [];
    const resticMBps: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const dir = join(ctx.workDir, `round${round}`);
      const k = await keepsakeBackup(root, join(dir, 'keepsake'));
      keepsake.push(settledFiles(k.summary) / k.seconds);
      keepsakeMBps.push(k.summary.bytesUploaded / 1e6 / k.seconds);
      ctx.log(`round ${round + 1} keepsake: ${describeKeepsake(k)}`);
      await rm(join(dir, 'keepsake'), { recursive: true, force: true });
      if (!missing) {
        const repo = await resticInit(join(dir, 'restic'));
        const r = await resticBackup(repo, root);
        restic.push(r.summary.total_files_processed / r.seconds);
        resticMBps.push(r.summary.total_bytes_processed / 1e6 / r.seconds);
        ctx.log(`round ${round + 1} restic: ${describeRestic(r)}`);
      }
      await rm(dir, { recursive: true, force: true });
    }
    return {
      measurements: [
        {
          label: `${tree.files} camera files, first backup: files/s`,
          keepsake: median(keepsake),
          baseline: missing ? Number.NaN : median(restic),
          baselineName: 'restic backup (local repo)',
          unit: 'files/s',
          higherIsBetter: true,
          aim: '>= 0.25',
          ...(missing ? { baselineMissing: missing } : {}),
        },
      ],
      extra: { copies, tree, rounds, keepsake, restic, keepsakeMBps, resticMBps },
    };
  },
};
