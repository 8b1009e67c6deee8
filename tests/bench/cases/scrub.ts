// Scrub rate (issue 10 "Benchmark"): `keepsake vault scrub` (scrubDataDir, the vault
// re-hashing every blob it stores) beside `openssl dgst -sha256` over the same blob
// directory, in the same run. The vault is filled through its own API (a few large files by
// tus, many small ones in batches), then stopped; both tools read from the page cache (each
// reads everything once before timing), so this measures the re-hash, not the disk. openssl
// runs on one core; the scrub reads two blobs at a time. Reported as wall-clock MB/s and as
// MB per CPU-second (the scrub's is the whole Node process).
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { scrubDataDir } from '../../../server/scrub.js';
import { startVault } from '../../../server/vault.js';
import { postBatch, uploadBuffer } from '../../support/vault.js';
import type { BenchCase, BenchContext } from '../harness.js';

const MiB = 1024 * 1024;

function randomBuffer(bytes: number): Buffer {
  return randomFillSync(Buffer.allocUnsafe(bytes));
}

async function blobFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** openssl's wall time and CPU time (user+sys, from /usr/bin/time when present). */
function timeOpenssl(files: string[]): { seconds: number; cpuSeconds: number } {
  const t0 = performance.now();
  const res = spawnSync(
    '/usr/bin/time',
    ['-f', 'cpu %U %S', 'openssl', 'dgst', '-sha256', ...files],
    {
      encoding: 'utf8',
      maxBuffer: 64 * MiB,
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  if (res.status !== 0) {
    const plain = spawnSync('openssl', ['dgst', '-sha256', ...files], { maxBuffer: 64 * MiB });
    if (plain.status !== 0) throw new Error(`openssl failed: ${String(plain.stderr)}`);
    return { seconds: (performance.now() - t0) / 1000, cpuSeconds: seconds };
  }
  const m = /cpu ([\d.]+) ([\d.]+)/.exec(res.stderr);
  return { seconds, cpuSeconds: m ? Number(m[1]) + Number(m[2]) : seconds };
}

async function timeScrub(dataDir: string): Promise<{ seconds: number; cpuSeconds: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const s = await scrubDataDir({ dataDir });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (s.damaged.length + s.missing.length > 0) throw new Error('the scrub found damage');
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

export const benchCase: BenchCase = {
  name: 'scrub',
  description:
    'vault scrub (re-hash of every stored blob) beside openssl dgst -sha256 over the blobs',
  async run(ctx: BenchContext) {
    const large = { count: ctx.small ? 2 : 4, size: (ctx.small ? 32 : 256) * MiB };
    const small = { count: ctx.small ? 200 : 2000, size: (ctx.small ? 64 : 256) * 1024 };
    const dataDir = join(ctx.workDir, 'vault');
    const vault = await startVault({ dataDir, host: '127.0.0.1', port: 0, scrub: false });
    try {
      for (let i = 0; i < large.count; i++) {
        const up = await uploadBuffer(vault, randomBuffer(large.size), {
          filename: `clip-${i}.mov`,
        });
        if (!up.res.ok) throw new Error(`tus upload: ${up.res.status} ${up.text}`);
      }
      const perBatch = Math.max(1, Math.floor((48 * MiB) / small.size));
      for (let i = 0; i < small.count; i += perBatch) {
        const n = Math.min(perBatch, small.count - i);
        const files = Array.from({ length: n }, (_, j) => ({
          data: randomBuffer(small.size),
          filename: `IMG_${i + j}.jpg`,
        }));
        const r = await postBatch(vault, files);
        if (r.status !== 200) throw new Error(`batch: ${r.status} ${JSON.stringify(r.json)}`);
      }
    } finally {
      await vault.close();
    }
    const files = await blobFiles(join(dataDir, 'blobs'));
    const totalMB = (large.count * large.size + small.count * small.size) / 1e6;
    ctx.log(
      `${files.length} blobs: ${large.count} x ${large.size / MiB} MiB + ${small.count} x ${small.size / 1024} KiB (${totalMB.toFixed(0)} MB)`,
    );

    // warm the page cache with both, then best of three, interleaved
    timeOpenssl(files);
    await timeScrub(dataDir);
    const best = {
      opensslWall: Infinity,
      opensslCpu: Infinity,
      scrubWall: Infinity,
      scrubCpu: Infinity,
    };
    for (let round = 0; round < 3; round++) {
      const o = timeOpenssl(files);
      const s = await timeScrub(dataDir);
      best.opensslWall = Math.min(best.opensslWall, o.seconds);
      best.opensslCpu = Math.min(best.opensslCpu, o.cpuSeconds);
      best.scrubWall = Math.min(best.scrubWall, s.seconds);
      best.scrubCpu = Math.min(best.scrubCpu, s.cpuSeconds);
      ctx.log(
        `round ${round + 1}: openssl ${(totalMB / o.seconds).toFixed(0)} MB/s, scrub ${(totalMB / s.seconds).toFixed(0)} MB/s (${(totalMB / s.cpuSeconds).toFixed(0)} MB/cpu-s)`,
      );
    }
    return {
      measurements: [
        {
          label: 'scrub of every blob, wall clock: MB/s',
          keepsake: totalMB / best.scrubWall,
          baseline: totalMB / best.opensslWall,
          baselineName: 'openssl dgst -sha256 (1 core)',
          unit: 'MB/s',
          higherIsBetter: true,
        },
        {
          label: 'scrub, rate per core used: MB per CPU-second',
          keepsake: totalMB / best.scrubCpu,
          baseline: totalMB / best.opensslCpu,
          baselineName: 'openssl dgst -sha256',
          unit: 'MB/cpu-s',
          higherIsBetter: true,
        },
      ],
      extra: {
        blobs: files.length,
        bytes: totalMB * 1e6,
        best,
        note: 'blobs in the page cache; best of three interleaved rounds; scrub = keepsake vault scrub (two reads at a time)',
      },
    };
  },
};
