// Bench 'restore' (issue 10): `keepsake restore --from URL --token T` out of a `keepsake
// vault` process on loopback, beside `curl` downloading the same blobs from the same vault
// (GET /api/v1/assets/:sha256/content, which the vault verifies as it streams for both):
// - one 1 GiB file of random bytes (64 MiB at SIZE=small), MB/s. Aim: >= 0.8 x curl.
// - 5,000 small files of 4-64 KiB (500 at SIZE=small), files/s; curl fetches them over
//   keep-alive with --parallel-max 8, as many at once as the restore does.
// Rounds interleave (Keepsake, curl, ...), each into an empty folder; the median is reported.
// Keepsake's time is its process's wall clock (the compiled CLI's start-up, listing locations,
// download, SHA-256, fsync and rename of every file, mtimes); curl's is its process's.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchCase, BenchMeasurement } from '../harness.js';
import {
  ensureCompiled,
  keepsakeArgs,
  keepsakeBackup,
  keepsakeStartupSeconds,
  median,
  missingBinary,
  roundsFor,
  runCommand,
} from '../baselines.js';
import { generateSmallFiles, writeRandomFile } from '../trees.js';
import { parseJsonOutput } from '../../support/cli.js';
import { repoRoot } from '../../support/paths.js';
import { spawnVaultProcess, type VaultProcess } from '../../support/vault.js';

const MiB = 1024 * 1024;
const curlBin = process.env.BENCH_CURL ?? '/usr/bin/curl';

interface RestoreJson {
  files: number;
  restored: number;
  failed: number;
  bytesDownloaded: number;
}

/** Every content the vault holds (sha256 -> size). */
async function vaultContents(vault: VaultProcess): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let after: string | null = null;
  do {
    const url = new URL('/api/v1/assets', vault.url);
    url.searchParams.set('limit', '1000');
    if (after !== null) url.searchParams.set('after', after);
    const res = await fetch(url, { headers: { Authorization: `Bearer ${vault.token}` } });
    const page = (await res.json()) as {
      assets: { sha256: string; size: number }[];
      next: string | null;
    };
    for (const a of page.assets) out.set(a.sha256, a.size);
    after = page.next;
  } while (after !== null);
  return out;
}

async function keepsakeRestore(vault: VaultProcess, to: string): Promise<[number, RestoreJson]> {
  await ensureCompiled();
  const run = await runCommand(
    process.execPath,
    keepsakeArgs(['restore', '--to', to, '--from', vault.url, '--token', vault.token, '--json']),
    { cwd: repoRoot, group: true, timeoutMs: 3_600_000, env: { NO_COLOR: '1' } },
  );
  const summary = parseJsonOutput<RestoreJson>({
    code: run.code,
    signal: null,
    stdout: run.stdout,
    stderr: run.stderr,
    timedOut: false,
    ms: run.seconds * 1000,
  });
  return [run.seconds, summary];
}

/** curl fetching every content into `to` (one file per content), with a config file. */
async function curlAll(
  vault: VaultProcess,
  shas: readonly string[],
  to: string,
  configPath: string,
): Promise<number> {
  await mkdir(to, { recursive: true });
  const lines = [`header = "Authorization: Bearer ${vault.token}"`, 'fail', 'silent'];
  for (const sha of shas) {
    lines.push(`url = "${vault.url}/api/v1/assets/${sha}/content"`, `output = "${join(to, sha)}"`);
  }
  await writeFile(configPath, `${lines.join('\n')}\n`);
  const args = ['-K', configPath];
  if (shas.length > 1) args.push('--parallel', '--parallel-max', '8');
  return (await runCommand(curlBin, args)).seconds;
}

async function measure(
  ctx: Parameters<BenchCase['run']>[0],
  name: string,
  fill: (root: string) => Promise<void>,
): Promise<{ keepsake: number[]; curl: number[]; files: number; bytes: number }> {
  const root = join(ctx.workDir, `${name}-src`);
  await fill(root);
  const vault = await spawnVaultProcess({ dataDir: join(ctx.workDir, `${name}-vault`) });
  const keepsake: number[] = [];
  const curl: number[] = [];
  try {
    const b = await keepsakeBackup(root, join(ctx.workDir, `${name}-client`), [
      '--to',
      vault.url,
      '--token',
      vault.token,
    ]);
    if (b.summary.failed > 0) throw new Error(`the backup of ${name} failed`);
    const contents = await vaultContents(vault);
    const shas = [...contents.keys()];
    const bytes = [...contents.values()].reduce((n, s) => n + s, 0);
    ctx.log(`${name}: ${shas.length} files, ${(bytes / MiB).toFixed(1)} MiB on the vault`);
    for (let round = 0; round < roundsFor(ctx.small); round++) {
      const out = join(ctx.workDir, `${name}-out${round}`);
      const [seconds, summary] = await keepsakeRestore(vault, out);
      if (summary.restored !== shas.length) {
        throw new Error(`keepsake restored ${summary.restored} of ${shas.length}`);
      }
      keepsake.push(seconds);
      ctx.log(`round ${round + 1} keepsake restore: ${seconds.toFixed(2)} s`);
      await rm(out, { recursive: true, force: true });
      if (missingBinary(curlBin) === null) {
        const c = await curlAll(vault, shas, out, join(ctx.workDir, `${name}.curl`));
        curl.push(c);
        ctx.log(`round ${round + 1} curl: ${c.toFixed(2)} s`);
        await rm(out, { recursive: true, force: true });
      }
    }
    return { keepsake, curl, files: shas.length, bytes };
  } finally {
    await vault.stop();
    await rm(root, { recursive: true, force: true });
  }
}

export const benchCase: BenchCase = {
  name: 'restore',
  description:
    'keepsake restore from a vault process on loopback beside curl fetching the same blobs: one 1 GiB file (MB/s), 5,000 small files (files/s)',
  async run(ctx) {
    const startup = await keepsakeStartupSeconds();
    ctx.log(`keepsake start-up (node + tsx, --help): ${startup.toFixed(2)} s, inside every timing`);
    const missing = missingBinary(curlBin);
    const size = (ctx.small ? 64 : 1024) * MiB;
    const big = await measure(ctx, 'big', async (root) => {
      await mkdir(root, { recursive: true });
      await writeRandomFile(join(root, 'clip.mov'), size);
    });
    const count = ctx.small ? 500 : 5000;
    const small = await measure(ctx, 'small', async (root) => {
      await generateSmallFiles(root, count);
    });
    const MB = big.bytes / 1e6;
    const measurements: BenchMeasurement[] = [
      {
        label: `one ${size / MiB} MiB file from a vault on loopback: MB/s`,
        keepsake: MB / median(big.keepsake),
        baseline: missing ? Number.NaN : MB / median(big.curl),
        baselineName: 'curl',
        unit: 'MB/s',
        higherIsBetter: true,
        aim: '>= 0.8',
        ...(missing ? { baselineMissing: missing } : {}),
      },
      {
        label: `${small.files} files of 4-64 KiB from a vault on loopback: files/s`,
        keepsake: small.files / median(small.keepsake),
        baseline: missing ? Number.NaN : small.files / median(small.curl),
        baselineName: 'curl --parallel-max 8',
        unit: 'files/s',
        higherIsBetter: true,
        ...(missing ? { baselineMissing: missing } : {}),
      },
    ];
    return {
      measurements,
      extra: { startupSeconds: startup, big, small },
    };
  },
};
