// Bench 'dry-run' (issue 8, target d): `keepsake backup --dry-run` of 100,000 tiny unique
// files in 1,000 folders (5,000 in 50 at SIZE=small; the tree the 'scan' bench uses), beside
// `restic backup --dry-run` of the same tree into a fresh, initialised local repository, in
// the same run. Both read and hash every file and store nothing. Aims: time <= 2 x restic's,
// and Keepsake's peak RSS <= 300 MB, summed over its whole process tree (node and any
// exiftool), sampled with ps every 200 ms. Files are a day old when timing starts (see
// settledTree in ../trees.ts). Rounds interleave (Keepsake, restic, ...), each with
// a fresh data dir / repository; medians are reported.
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
} from '../baselines.js';
import { settledTree } from '../trees.js';
import { generateScanTree } from './scan.js';

export const benchCase: BenchCase = {
  name: 'dry-run',
  description:
    'backup --dry-run of 100,000 tiny files, beside restic backup --dry-run (seconds, peak RSS of the process tree)',
  async run(ctx) {
    const root = join(ctx.workDir, 'tree');
    const tree = await generateScanTree(ctx, root);
    await settledTree(root);
    const missing = missingBinary(resticBin);
    const rounds = roundsFor(ctx.small);
    const kSeconds: number[] = [];
    const kRss: number[] = [];
    const rSeconds: number[] = [];
    const rRss: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const dir = join(ctx.workDir, `round${round}`);
      const k = await keepsakeBackup(root, join(dir, 'keepsake'), ['--dry-run']);
      kSeconds.push(k.seconds);
      kRss.push(k.peakRssBytes / 1e6);
      ctx.log(`round ${round + 1} keepsake --dry-run: ${describeKeepsake(k)}`);
      if (!missing) {
        const repo = await resticInit(join(dir, 'restic'));
        const r = await resticBackup(repo, root, ['--dry-run']);
        rSeconds.push(r.seconds);
        rRss.push(r.peakRssBytes / 1e6);
        ctx.log(`round ${round + 1} restic --dry-run: ${describeRestic(r)}`);
      }
      await rm(dir, { recursive: true, force: true });
    }
    const base = {
      baselineName: 'restic backup --dry-run',
      higherIsBetter: false,
      ...(missing ? { baselineMissing: missing } : {}),
    };
    return {
      measurements: [
        {
          ...base,
          label: `${tree.files} tiny files, backup --dry-run: seconds`,
          keepsake: median(kSeconds),
          baseline: missing ? Number.NaN : median(rSeconds),
          unit: 's',
          aim: '>= 0.5 (within 2x restic)',
        },
        {
          ...base,
          label: `${tree.files} tiny files, backup --dry-run: peak RSS of the process tree`,
          keepsake: Math.max(...kRss),
          baseline: missing ? Number.NaN : Math.max(...rRss),
          unit: 'MB',
          aim: 'keepsake <= 300 MB',
        },
      ],
      extra: { tree, rounds, kSeconds, kRss, rSeconds, rRss },
    };
  },
};
