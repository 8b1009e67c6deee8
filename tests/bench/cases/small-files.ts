// Bench 'small-files' (issue 8, target a): first backup of 20,000 files of 4–64 KB (2,000 at
// SIZE=small), files/s, beside `restic backup` into a fresh local repository in the same run.
// Keepsake is measured twice per round: into its embedded vault (`keepsake backup DIR
// --data-dir D`, aim >= 0.5 x restic) and into a `keepsake vault` in another process on
// loopback (`--to URL`, aim >= 0.35 x restic). Rounds interleave (Keepsake embedded, restic,
// Keepsake remote, ...), each from empty state; the median of the rounds is reported.
// Keepsake's time is its process's wall clock from spawn to exit, start-up included (logged
// separately; see [Note: Keepsake runs compiled] in ../baselines.ts); restic's cache choice: see [Note: restic's cache in the
// benchmarks] in ../baselines.ts.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchCase, BenchMeasurement } from '../harness.js';
import {
  describeKeepsake,
  describeRestic,
  keepsakeBackup,
  keepsakeStartupSeconds,
  median,
  missingBinary,
  resticBackup,
  resticBin,
  resticInit,
  roundsFor,
  settledFiles,
} from '../baselines.js';
import { generateSmallFiles } from '../trees.js';
import { spawnVaultProcess } from '../../support/vault.js';

export const benchCase: BenchCase = {
  name: 'small-files',
  description:
    'first backup of 20,000 files of 4-64 KB into the embedded vault and into a vault process on loopback, beside restic backup into a local repo (files/s)',
  async run(ctx) {
    const count = ctx.small ? 2_000 : 20_000;
    const root = join(ctx.workDir, 'tree');
    const t0 = performance.now();
    const tree = await generateSmallFiles(root, count);
    ctx.log(
      `tree: ${tree.files} files, ${(tree.bytes / 1e6).toFixed(0)} MB, written in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const startup = await keepsakeStartupSeconds();
    ctx.log(`keepsake start-up (--help): ${startup.toFixed(2)} s, inside every timing`);

    const missing = missingBinary(resticBin);
    const rounds = roundsFor(ctx.small);
    const embedded: number[] = [];
    const remote: number[] = [];
    const restic: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const dir = join(ctx.workDir, `round${round}`);

      const k = await keepsakeBackup(root, join(dir, 'embedded'));
      embedded.push(settledFiles(k.summary) / k.seconds);
      ctx.log(`round ${round + 1} keepsake (embedded vault): ${describeKeepsake(k)}`);
      await rm(join(dir, 'embedded'), { recursive: true, force: true });

      if (!missing) {
        const repo = await resticInit(join(dir, 'restic'));
        const r = await resticBackup(repo, root);
        restic.push(r.summary.total_files_processed / r.seconds);
        ctx.log(`round ${round + 1} restic: ${describeRestic(r)}`);
        await rm(join(dir, 'restic'), { recursive: true, force: true });
      }

      const vault = await spawnVaultProcess({ dataDir: join(dir, 'vault') });
      try {
        const kr = await keepsakeBackup(root, join(dir, 'client'), [
          '--to',
          vault.url,
          '--token',
          vault.token,
        ]);
        remote.push(settledFiles(kr.summary) / kr.seconds);
        ctx.log(`round ${round + 1} keepsake (vault process): ${describeKeepsake(kr)}`);
      } finally {
        await vault.stop();
      }
      await rm(dir, { recursive: true, force: true });
    }
    const base = {
      baseline: missing ? Number.NaN : median(restic),
      baselineName: 'restic backup (local repo)',
      unit: 'files/s',
      higherIsBetter: true,
      ...(missing ? { baselineMissing: missing } : {}),
    } satisfies Partial<BenchMeasurement>;
    return {
      measurements: [
        {
          ...base,
          label: `${count} files of 4-64 KB, first backup, embedded vault: files/s`,
          keepsake: median(embedded),
          aim: '>= 0.5',
        },
        {
          ...base,
          label: `${count} files of 4-64 KB, first backup, vault process on loopback: files/s`,
          keepsake: median(remote),
          aim: '>= 0.35',
        },
      ],
      extra: { tree, rounds, startupSeconds: startup, embedded, remote, restic },
    };
  },
};
