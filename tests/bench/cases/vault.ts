// Benchmark `vault`: upload throughput into a Keepsake Vault with tus-js-client (the tus
// project's own client), beside `cp` of the same data on the same disk in the same run.
// - one large file (1 GiB; SIZE=small: 128 MiB), one PATCH;
// - many files of 1-5 MB (1,000; SIZE=small: 100), 4 uploads at a time.
// The vault runs as its own process (`keepsake vault`), as in production, so client and
// server do not share an event loop. Every file has unique content (no dedup shortcut).
// The vault fsyncs every blob before it counts it; plain cp does not, so a second baseline,
// cp followed by `sync` of the copies, is reported too.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { type BenchCase, type BenchMeasurement, runPool, timed } from '../harness.js';
import { type BenchFile, tusJsUpload } from '../tus-js-baseline.js';
import { spawnVaultProcess } from '../../support/vault.js';

const MiB = 1024 * 1024;
const MB = 1_000_000;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`)),
    );
  });
}

/** Writes `size` bytes of unique content: a random pool with the file's index stamped in. */
async function writeDataFile(
  path: string,
  size: number,
  pool: Buffer,
  stamp: number,
): Promise<string> {
  const fh = await open(path, 'w');
  const hash = createHash('sha256');
  try {
    let written = 0;
    let block = 0;
    while (written < size) {
      const n = Math.min(pool.length, size - written);
      const chunk = Buffer.from(pool.subarray(0, n));
      chunk.writeUInt32LE(stamp, 0);
      chunk.writeUInt32LE(block, 4 % n);
      hash.update(chunk);
      await fh.write(chunk, 0, n);
      written += n;
      block += 1;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

type DataFile = BenchFile;

/**
 * The floor of any HTTP upload on this machine: a bare Node HTTP server (its own process)
 * that writes a PUT body to a file and fsyncs it. No tus, no hashing, no index. The vault
 * against this isolates the vault's own overhead from the cost of HTTP on loopback.
 */
const BARE_RECEIVER = `
const http = require('node:http');
const fs = require('node:fs');
const { pipeline } = require('node:stream/promises');
const dir = process.argv[1];
const server = http.createServer(async (req, res) => {
  const path = dir + '/' + req.url.replace(/[^a-z0-9.]/gi, '_');
  await pipeline(req, fs.createWriteStream(path, { highWaterMark: 1 << 20 }));
  const fd = fs.openSync(path, 'r+'); fs.fdatasyncSync(fd); fs.closeSync(fd);
  res.statusCode = 204; res.end();
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

async function withBareReceiver<T>(dir: string, fn: (port: number) => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  const child = spawn(process.execPath, ['-e', BARE_RECEIVER, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        const m = /port (\d+)/.exec(out);
        if (m?.[1]) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`bare receiver exited ${code}`)));
    });
    return await fn(port);
  } finally {
    child.kill('SIGTERM');
  }
}

function bareUpload(port: number, file: DataFile): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: `/${file.name}`,
        headers: { 'Content-Length': file.size },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 204 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    createReadStream(file.path).on('error', reject).pipe(req);
  });
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

export const benchCase: BenchCase = {
  name: 'vault',
  description:
    'tus-js-client uploads into a vault process (SHA-256 verified, fsynced, content-addressed) vs cp on the same disk',
  async run(ctx) {
    const bigSize = ctx.small ? 128 * MiB : 1024 * MiB;
    const manyCount = ctx.small ? 100 : 1000;
    const src = join(ctx.workDir, 'src');
    await mkdir(join(src, 'many'), { recursive: true });
    const pool = randomFillSync(Buffer.alloc(4 * MiB));

    ctx.log(`writing test data: one ${bigSize / MiB} MiB file and ${manyCount} files of 1-5 MB`);
    const big: DataFile = {
      path: join(src, 'big.bin'),
      name: 'big.bin',
      size: bigSize,
      sha256: await writeDataFile(join(src, 'big.bin'), bigSize, pool, 0xb16),
    };
    const many: DataFile[] = [];
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < manyCount; i++) {
      const size = Math.floor(1 * MB + rand() * 4 * MB);
      const name = `f${String(i).padStart(4, '0')}.bin`;
      const path = join(src, 'many', name);
      many.push({ path, name, size, sha256: await writeDataFile(path, size, pool, i + 1) });
    }
    const manyBytes = many.reduce((s, f) => s + f.size, 0);

    // Baselines: cp, and cp + sync (the vault's copies are durable when it answers).
    const cpBigS = await timed(() => run('cp', [big.path, join(ctx.workDir, 'cp-big.bin')]));
    const cpBigSyncS =
      cpBigS + (await timed(() => run('sync', ['-f', join(ctx.workDir, 'cp-big.bin')])));
    const cpManyS = await timed(() =>
      run('cp', ['-r', join(src, 'many'), join(ctx.workDir, 'cp-many')]),
    );
    const cpManySyncS =
      cpManyS + (await timed(() => run('sync', ['-f', join(ctx.workDir, 'cp-many')])));
    ctx.log(
      `cp: big ${cpBigS.toFixed(2)} s (+sync ${cpBigSyncS.toFixed(2)} s), many ${cpManyS.toFixed(2)} s (+sync ${cpManySyncS.toFixed(2)} s)`,
    );

    const bareBigS = await withBareReceiver(join(ctx.workDir, 'bare'), (port) =>
      timed(() => bareUpload(port, big)),
    );
    ctx.log(`bare HTTP receiver (no tus, no hashing): big ${bareBigS.toFixed(2)} s`);

    const dataDir = join(ctx.workDir, 'vault');
    const vault = await spawnVaultProcess({ dataDir });
    let vaultBigS: number;
    let vaultManyS: number;
    let metricsText = '';
    try {
      vaultBigS = await timed(() => tusJsUpload(big, vault.url, vault.token));
      vaultManyS = await timed(() =>
        runPool(many, 4, (f) => tusJsUpload(f, vault.url, vault.token)),
      );
      const res = await fetch(`${vault.url}/metrics`, {
        headers: { Authorization: `Bearer ${vault.token}` },
      });
      metricsText = await res.text();
      const usage = JSON.parse(
        await (
          await fetch(`${vault.url}/api/v1/usage`, {
            headers: { Authorization: `Bearer ${vault.token}` },
          })
        ).text(),
      ) as { assets: number; bytes: number };
      if (usage.assets !== manyCount + 1 || usage.bytes !== bigSize + manyBytes) {
        throw new Error(
          `vault holds ${usage.assets} assets / ${usage.bytes} bytes, expected ${manyCount + 1} / ${bigSize + manyBytes}`,
        );
      }
    } finally {
      await vault.stop();
    }
    const blobBytes = await dirBytes(join(dataDir, 'blobs'));
    ctx.log(
      `vault: big ${vaultBigS.toFixed(2)} s, many ${vaultManyS.toFixed(2)} s; blobs on disk ${blobBytes} bytes`,
    );
    const rebuilds = /keepsake_vault_hash_state_rebuilds_total (\d+)/.exec(metricsText)?.[1];

    const mbps = (bytes: number, s: number) => bytes / MB / s;
    const aim = '>= 0.70 of baseline';
    const measurements: BenchMeasurement[] = [
      {
        label: `large file (${bigSize / MiB} MiB): MB/s`,
        keepsake: mbps(bigSize, vaultBigS),
        baseline: mbps(bigSize, cpBigS),
        baselineName: 'cp',
        unit: 'MB/s',
        higherIsBetter: true,
        aim,
      },
      {
        label: `large file (${bigSize / MiB} MiB): MB/s vs durable copy`,
        keepsake: mbps(bigSize, vaultBigS),
        baseline: mbps(bigSize, cpBigSyncS),
        baselineName: 'cp + sync',
        unit: 'MB/s',
        higherIsBetter: true,
      },
      {
        label: `large file (${bigSize / MiB} MiB): MB/s vs a bare HTTP receiver (the vault's own overhead)`,
        keepsake: mbps(bigSize, vaultBigS),
        baseline: mbps(bigSize, bareBigS),
        baselineName: 'bare Node HTTP PUT + fsync',
        unit: 'MB/s',
        higherIsBetter: true,
      },
      {
        label: `${manyCount} files of 1-5 MB: MB/s`,
        keepsake: mbps(manyBytes, vaultManyS),
        baseline: mbps(manyBytes, cpManyS),
        baselineName: 'cp -r',
        unit: 'MB/s',
        higherIsBetter: true,
      },
      {
        label: `${manyCount} files of 1-5 MB: files/s`,
        keepsake: manyCount / vaultManyS,
        baseline: manyCount / cpManyS,
        baselineName: 'cp -r',
        unit: 'files/s',
        higherIsBetter: true,
      },
      {
        label: `${manyCount} files of 1-5 MB: files/s vs durable copy`,
        keepsake: manyCount / vaultManyS,
        baseline: manyCount / cpManySyncS,
        baselineName: 'cp -r + sync',
        unit: 'files/s',
        higherIsBetter: true,
      },
    ];
    return {
      measurements,
      extra: {
        bigBytes: bigSize,
        manyFiles: manyCount,
        manyBytes,
        parallelUploads: 4,
        hashStateRebuilds: rebuilds === undefined ? null : Number(rebuilds),
        seconds: { cpBigS, cpBigSyncS, cpManyS, cpManySyncS, bareBigS, vaultBigS, vaultManyS },
      },
    };
  },
};
