// Bench 'backup' (issue 3): end-to-end `keepsake backup` of the corpus copied 20 times with
// unique bytes (so no copy dedups against another), files/s and MB/s, beside `cp -r` of the
// same tree on the same disk in the same run.
//
// Rates: Keepsake's files/s counts the files it backed up (media and sidecars, by its own
// extension list), its MB/s the bytes it uploaded; cp's count everything it copied.
// Keepsake is timed from the outside (process start to exit: scan, hash, metadata, dedup
// check, upload, verify), against a vault in its own process on loopback.
import { spawn } from 'node:child_process';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BenchCase } from '../harness.js';
import { type BackupSummary, describeRun, parseJsonOutput, runCli } from '../../support/cli.js';
import { corpusFile } from '../../support/paths.js';
import { isExpectedTracked, readManifest, uniqueVariant } from '../../support/tree.js';
import { spawnVaultProcess } from '../../support/vault.js';

function timeCommand(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve((performance.now() - t0) / 1000)
        : reject(new Error(`${cmd} exited ${String(code)}`)),
    );
  });
}

export const benchCase: BenchCase = {
  name: 'backup',
  description:
    'end-to-end keepsake backup of the corpus copied 20 times with unique bytes, beside cp -r of the same tree',
  async run(ctx) {
    const copies = ctx.small ? 2 : 20;
    const root = join(ctx.workDir, 'tree');
    const rows = readManifest();
    let allFiles = 0;
    let allBytes = 0;
    let trackedFiles = 0;
    let trackedBytes = 0;
    const t0 = performance.now();
    for (const row of rows) {
      const source = await readFile(corpusFile(row.path));
      for (let i = 0; i < copies; i++) {
        const bytes = uniqueVariant(source, `backup-bench:${i}:${row.path}`);
        const dest = join(root, `copy${String(i).padStart(2, '0')}`, row.path);
        await mkdir(dirname(dest), { recursive: true });
        await writeFile(dest, bytes);
        allFiles++;
        allBytes += bytes.length;
        if (isExpectedTracked(dest)) {
          trackedFiles++;
          trackedBytes += bytes.length;
        }
      }
    }
    ctx.log(
      `tree: ${copies} copies, ${allFiles} files, ${(allBytes / 1e6).toFixed(0)} MB (${trackedFiles} media/sidecar files, ${(trackedBytes / 1e6).toFixed(0)} MB) written in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    const cpSeconds = await timeCommand('cp', ['-r', root, join(ctx.workDir, 'cp-copy')]);
    ctx.log(`cp -r: ${cpSeconds.toFixed(2)} s`);

    const vault = await spawnVaultProcess({ dataDir: join(ctx.workDir, 'vault') });
    try {
      const run = await runCli(
        [
          'backup',
          root,
          '--to',
          vault.url,
          '--token',
          vault.token,
          '--data-dir',
          join(ctx.workDir, 'data'),
          '--json',
        ],
        { timeoutMs: 3_600_000 },
      );
      if (run.code !== 0) throw new Error(`keepsake backup failed: ${describeRun(run)}`);
      const s = parseJsonOutput<BackupSummary>(run);
      const seconds = run.ms / 1000;
      ctx.log(
        `keepsake backup: ${seconds.toFixed(2)} s wall (summary says ${s.seconds.toFixed(2)} s): ${s.files} files, ${s.backedUp} backed up, ${s.duplicates} duplicates, ${s.failed} failed, ${(s.bytesUploaded / 1e6).toFixed(0)} MB uploaded`,
      );
      const safeFiles = s.backedUp + s.duplicates;
      return {
        measurements: [
          {
            label: `${copies}x corpus: files/s`,
            keepsake: safeFiles / seconds,
            baseline: allFiles / cpSeconds,
            baselineName: 'cp -r',
            unit: 'files/s',
            higherIsBetter: true,
          },
          {
            label: `${copies}x corpus: MB/s`,
            keepsake: s.bytesUploaded / 1e6 / seconds,
            baseline: allBytes / 1e6 / cpSeconds,
            baselineName: 'cp -r',
            unit: 'MB/s',
            higherIsBetter: true,
          },
        ],
        extra: {
          copies,
          allFiles,
          allBytes,
          trackedFiles,
          trackedBytes,
          cpSeconds,
          keepsakeSeconds: seconds,
          summary: s,
        },
      };
    } finally {
      await vault.stop();
    }
  },
};
