// Bench 'big-file' (issue 8, target c): one 1 GiB file of random bytes (64 MiB at SIZE=small),
// MB/s, backed up with `keepsake backup --to URL` into a `keepsake vault` process on loopback,
// beside `rclone copy` of the same file into `rclone serve webdav` on loopback (both servers
// write under the case's workDir). Aim: >= 2 x rclone. Rounds interleave (Keepsake, rclone,
// ...), each into an empty vault / a new destination folder; the median is reported. The
// file sits in the page cache for both (it was just written). Keepsake's time is its
// process's wall clock (node + tsx start-up, hashing, upload and the vault's verification and
// fsync); rclone's is `rclone copy` from start to exit (its server does not fsync).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchCase } from '../harness.js';
import {
  describeKeepsake,
  keepsakeBackup,
  keepsakeStartupSeconds,
  median,
  missingBinary,
  rcloneBin,
  rcloneCopy,
  roundsFor,
  startRcloneWebdav,
} from '../baselines.js';
import { writeRandomFile } from '../trees.js';
import { spawnVaultProcess } from '../../support/vault.js';

const MiB = 1024 * 1024;

export const benchCase: BenchCase = {
  name: 'big-file',
  description:
    'one 1 GiB file backed up into a vault process on loopback, beside rclone copy into rclone serve webdav on loopback (MB/s)',
  async run(ctx) {
    const size = (ctx.small ? 64 : 1024) * MiB;
    const root = join(ctx.workDir, 'tree');
    const file = join(root, 'clip.mov');
    await mkdir(root, { recursive: true });
    await writeRandomFile(file, size);
    const MB = size / 1e6;
    ctx.log(`file: ${size / MiB} MiB of random bytes`);
    const startup = await keepsakeStartupSeconds();
    ctx.log(`keepsake start-up (node + tsx, --help): ${startup.toFixed(2)} s, inside every timing`);

    const missing = missingBinary(rcloneBin);
    const rcloneConfig = join(ctx.workDir, 'rclone.conf'); // never created: rclone's defaults
    const server = missing
      ? null
      : await startRcloneWebdav(join(ctx.workDir, 'webdav'), rcloneConfig);
    const rounds = roundsFor(ctx.small);
    const keepsake: number[] = [];
    const rclone: number[] = [];
    try {
      for (let round = 0; round < rounds; round++) {
        const dir = join(ctx.workDir, `round${round}`);
        const vault = await spawnVaultProcess({ dataDir: join(dir, 'vault') });
        try {
          const k = await keepsakeBackup(root, join(dir, 'client'), [
            '--to',
            vault.url,
            '--token',
            vault.token,
          ]);
          if (k.summary.backedUp !== 1)
            throw new Error(`keepsake did not back up the file: ${describeKeepsake(k)}`);
          keepsake.push(MB / k.seconds);
          ctx.log(
            `round ${round + 1} keepsake: ${describeKeepsake(k)}, ${(MB / k.seconds).toFixed(0)} MB/s`,
          );
        } finally {
          await vault.stop();
        }
        await rm(dir, { recursive: true, force: true });
        if (server) {
          const r = await rcloneCopy(server, file, `round${round}`, rcloneConfig);
          rclone.push(MB / r.seconds);
          ctx.log(
            `round ${round + 1} rclone copy: ${r.seconds.toFixed(2)} s, ${(MB / r.seconds).toFixed(0)} MB/s`,
          );
          await rm(join(ctx.workDir, 'webdav', `round${round}`), { recursive: true, force: true });
        }
      }
    } finally {
      await server?.stop();
    }
    return {
      measurements: [
        {
          label: `one ${size / MiB} MiB file into a server on loopback: MB/s`,
          keepsake: median(keepsake),
          baseline: missing ? Number.NaN : median(rclone),
          baselineName: 'rclone copy -> rclone serve webdav',
          unit: 'MB/s',
          higherIsBetter: true,
          aim: '>= 2',
          ...(missing ? { baselineMissing: missing } : {}),
        },
      ],
      extra: { bytes: size, startupSeconds: startup, rounds, keepsake, rclone },
    };
  },
};
