// Bench 'rerun' (issue 8, target e): an unchanged re-run of 100,000 files (5,000 at
// SIZE=small): the second `keepsake backup` (embedded vault, same data dir) beside restic's
// second `restic backup` (same repository, parent snapshot found automatically), in the same
// run. Aim: <= 1 x restic's time. The first backups are made once, untimed; then the re-runs
// interleave (Keepsake, restic, ...) and the median is reported.
//
// The tree is the 'scan' bench's: tiny unique JPEGs in 1,000 folders, so after the first run
// every file is backed_up, as in a real library. BENCH_RERUN_FILES=N sets another count (the
// untimed first backup of 100,000 files takes as long as the engine needs for that).
import { join } from 'node:path';
import { repoRoot } from '../../support/paths.js';
import type { BenchCase } from '../harness.js';
import {
  describeKeepsake,
  describeRestic,
  keepsakeArgs,
  keepsakeBackup,
  median,
  missingBinary,
  resticBackup,
  resticBin,
  resticInit,
  roundsFor,
  runCommand,
} from '../baselines.js';
import { generateScanTree } from './scan.js';

export const benchCase: BenchCase = {
  name: 'rerun',
  description:
    'unchanged re-run of 100,000 files: second keepsake backup beside restic backup into the same repo (seconds)',
  async run(ctx) {
    const root = join(ctx.workDir, 'tree');
    const count = Number(process.env.BENCH_RERUN_FILES) || undefined;
    const tree = await generateScanTree(ctx, root, true, count);
    const missing = missingBinary(resticBin);
    const dataDir = join(ctx.workDir, 'keepsake');
    // The untimed first backup waits for every file's metadata too (by default backup stops
    // waiting after a grace period and leaves the rest queued for the next run): otherwise the
    // timed re-run would be doing the first run's leftover metadata, not an unchanged re-run.
    const first = await keepsakeBackup(root, dataDir, [], {
      KEEPSAKE_METADATA_GRACE_MS: String(4 * 3_600_000),
    });
    ctx.log(`first keepsake backup (untimed): ${describeKeepsake(first)}`);
    if (first.summary.failed > 0) throw new Error('the first keepsake backup left failed files');
    // The embedded vault makes thumbnails and previews in the background and backup does not
    // wait for them: left alone, the timed re-runs would render the first run's leftovers
    // (sharp, libvips, on the same 2 cores), which is not an unchanged re-run. Make them all
    // now, untimed.
    const previews = await runCommand(
      process.execPath,
      keepsakeArgs([
        'vault',
        'previews',
        '--rebuild',
        '--data-dir',
        join(dataDir, 'vault'),
        '--json',
      ]),
      { cwd: repoRoot, timeoutMs: 4 * 3_600_000 },
    );
    ctx.log(
      `previews made (untimed) in ${previews.seconds.toFixed(1)} s: ${previews.stdout.trim()}`,
    );
    const repo = missing ? null : await resticInit(join(ctx.workDir, 'restic'));
    if (repo)
      ctx.log(`first restic backup (untimed): ${describeRestic(await resticBackup(repo, root))}`);

    const rounds = roundsFor(ctx.small);
    const kSeconds: number[] = [];
    const rSeconds: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const k = await keepsakeBackup(root, dataDir);
      kSeconds.push(k.seconds);
      ctx.log(`round ${round + 1} keepsake re-run: ${describeKeepsake(k)}`);
      if (repo) {
        const r = await resticBackup(repo, root);
        rSeconds.push(r.seconds);
        ctx.log(`round ${round + 1} restic re-run: ${describeRestic(r)}`);
      }
    }
    return {
      measurements: [
        {
          label: `${tree.files} files, unchanged re-run: seconds`,
          keepsake: median(kSeconds),
          baseline: missing ? Number.NaN : median(rSeconds),
          baselineName: 'restic backup (second run)',
          unit: 's',
          higherIsBetter: false,
          aim: '>= 1 (no slower than restic)',
          ...(missing ? { baselineMissing: missing } : {}),
        },
      ],
      extra: { tree, rounds, firstKeepsakeSeconds: first.seconds, kSeconds, rSeconds },
    };
  },
};
