// Benchmark `cluster` (issue 14): a load test of the scaled vault. Many concurrent tus clients
// upload small files plus a few large ones, against
//   - the single-machine vault (SQLite + filesystem, one process): the baseline;
//   - one node on PostgreSQL + S3 (s3rver) + a shared uploads directory, behind the proxy;
//   - three such nodes behind the round-robin proxy (each request to the next node),
// all in the same run, on the same work. Reported per setup: uploads/s, MB/s, p50/p99 request
// latency, errors (aim: 0) and the CPU seconds of each vault process (from /proc/<pid>/stat),
// and of PostgreSQL and s3rver where they run.
//
// Sizes (the machine is shared; the full size takes many minutes and ~1.3 GB of uploads per
// setup):
//   default            10 clients x 20 small files + 2 x 16 MiB
//   SIZE=small          5 clients x 10 small files + 1 x 8 MiB
//   CLUSTER_LOAD=full  50 clients x 200 small files + 5 x 256 MiB (the figure)
//   CLUSTER_LOAD=50x20+2x64  any other: clients x small files each + large files x MiB
//
// The clients speak tus directly (creation-with-upload for a small file: one request; POST
// then 8 MiB PATCHes for a large one), each on its own kept-alive connection, so a "request"
// is one HTTP exchange and its latency is what a client waits for. Every file is unique (no
// dedup shortcut). Every setup, the single machine too, is reached through the round-robin
// proxy (in this process), so they all pay the same extra hop. s3rver runs in its own
// process, so the load generator's event loop does not slow the object store down. The
// nodes' shared index and bucket are fresh per setup.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import type { BenchCase, BenchMeasurement } from '../harness.js';
import { repoRoot } from '../../support/paths.js';
import { startRoundRobinProxy } from '../../support/round-robin-proxy.js';
import pg from 'pg';
import { startTestPostgres, type TestPostgres } from '../../support/postgres.js';
import type { TestS3Server } from '../../support/s3-server.js';
import {
  clusterUnsupportedReason,
  processCpuSeconds,
  startVaultCluster,
} from '../../support/vault-cluster.js';
import { spawnVaultProcess } from '../../support/vault.js';

const MiB = 1024 * 1024;
const CHUNK = 8 * MiB;

interface Load {
  clients: number;
  smallPerClient: number;
  largeFiles: number;
  largeSize: number;
}

function loadFor(small: boolean): Load {
  const asked = process.env.CLUSTER_LOAD;
  if (asked === 'full') {
    return { clients: 50, smallPerClient: 200, largeFiles: 5, largeSize: 256 * MiB };
  }
  // CLIENTSxFILES+LARGExMIB, e.g. 50x20+2x64: any size between
  const m = /^(\d+)x(\d+)\+(\d+)x(\d+)$/.exec(asked ?? '');
  if (m) {
    const [clients, smallPerClient, largeFiles, largeMiB] = m.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
    ];
    return { clients, smallPerClient, largeFiles, largeSize: largeMiB * MiB };
  }
  if (asked !== undefined) throw new Error(`CLUSTER_LOAD: expected full or e.g. 50x20+2x64`);
  if (small) return { clients: 5, smallPerClient: 10, largeFiles: 1, largeSize: 8 * MiB };
  return { clients: 10, smallPerClient: 20, largeFiles: 2, largeSize: 16 * MiB };
}

/**
 * Unique content made on the fly from a shared random pool: file `stamp`'s block `n` is the
 * pool with (stamp, n) written at its start. Nothing is kept in memory or on disk.
 */
class Content {
  constructor(
    private readonly pool: Buffer,
    readonly stamp: number,
    readonly size: number,
  ) {}

  /** Bytes [start, end). */
  slice(start: number, end: number): Buffer {
    const out = Buffer.allocUnsafe(end - start);
    const header = Buffer.alloc(8);
    for (let at = start; at < end;) {
      const block = Math.floor(at / this.pool.length);
      const within = at - block * this.pool.length;
      const n = Math.min(this.pool.length - within, end - at);
      this.pool.copy(out, at - start, within, within + n);
      if (within < header.length) {
        header.writeUInt32LE(this.stamp, 0);
        header.writeUInt32LE(block, 4);
        header.copy(out, at - start, within, Math.min(header.length, within + n));
      }
      at += n;
    }
    return out;
  }

  sha256(): string {
    const hash = createHash('sha256');
    for (let at = 0; at < this.size; at += CHUNK) {
      hash.update(this.slice(at, Math.min(this.size, at + CHUNK)));
    }
    return hash.digest('hex');
  }
}

interface Tally {
  latenciesMs: number[];
  errors: number;
  /** the first few errors, said */
  errorSamples: string[];
  filesDone: number;
  bytesDone: number;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP exchange, timed; a network error or an unexpected status counts as an error. */
function exchange(
  agent: Agent,
  base: URL,
  opts: { method: string; path: string; headers: Record<string, string>; body?: Buffer },
  tally: Tally,
): Promise<Answer | null> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        method: opts.method,
        path: opts.path,
        agent,
        headers: {
          ...opts.headers,
          'content-length': String(opts.body?.length ?? 0),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          tally.latenciesMs.push(performance.now() - started);
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
        });
      },
    );
    req.setTimeout(300_000, () => req.destroy(new Error('no answer in 300 s')));
    req.on('error', (err) => {
      tally.errors += 1;
      if (tally.errorSamples.length < 5) tally.errorSamples.push(`${opts.method}: ${err.message}`);
      resolve(null);
    });
    req.end(opts.body);
  });
}

function metadata(pairs: Record<string, string>): string {
  return Object.entries(pairs)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');
}

function fail(tally: Tally, what: string): void {
  tally.errors += 1;
  if (tally.errorSamples.length < 5) tally.errorSamples.push(what);
}

/** Uploads one content with tus; true when the vault confirmed all of it. */
async function tusUpload(
  agent: Agent,
  base: URL,
  token: string,
  content: Content,
  sha256: string,
  tally: Tally,
): Promise<boolean> {
  const common = { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' };
  const meta = metadata({ filename: `f${content.stamp}.bin`, sha256 });
  const single = content.size <= CHUNK;
  const created = await exchange(
    agent,
    base,
    {
      method: 'POST',
      path: '/files/',
      headers: {
        ...common,
        'upload-length': String(content.size),
        'upload-metadata': meta,
        ...(single ? { 'content-type': 'application/offset+octet-stream' } : {}),
      },
      ...(single ? { body: content.slice(0, content.size) } : {}),
    },
    tally,
  );
  if (created === null) return false;
  if (created.status !== 201 && created.status !== 200) {
    fail(tally, `POST answered ${created.status}`);
    return false;
  }
  if (single) {
    if (Number(created.headers['upload-offset']) !== content.size) {
      fail(tally, `POST with the body answered offset ${String(created.headers['upload-offset'])}`);
      return false;
    }
    return true;
  }
  const location = created.headers['location'];
  if (typeof location !== 'string') {
    fail(tally, 'POST answered no Location');
    return false;
  }
  const path = new URL(location, base).pathname;
  for (let offset = 0; offset < content.size;) {
    const end = Math.min(content.size, offset + CHUNK);
    const patched = await exchange(
      agent,
      base,
      {
        method: 'PATCH',
        path,
        headers: {
          ...common,
          'upload-offset': String(offset),
          'content-type': 'application/offset+octet-stream',
        },
        body: content.slice(offset, end),
      },
      tally,
    );
    if (patched === null) return false;
    if (patched.status !== 204 || Number(patched.headers['upload-offset']) !== end) {
      fail(tally, `PATCH at ${offset} answered ${patched.status}`);
      return false;
    }
    offset = end;
  }
  return true;
}

interface Work {
  small: { content: Content; sha256: string }[][];
  large: { content: Content; sha256: string }[];
  files: number;
  bytes: number;
}

function makeWork(load: Load, pool: Buffer, stampBase: number): Work {
  let stamp = stampBase;
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const small = Array.from({ length: load.clients }, () =>
    Array.from({ length: load.smallPerClient }, () => {
      // 30 KB - 500 KB: thumbnails, small JPEGs, sidecars
      const content = new Content(pool, stamp++, Math.floor(30_000 + rand() * 470_000));
      return { content, sha256: content.sha256() };
    }),
  );
  const large = Array.from({ length: load.largeFiles }, () => {
    const content = new Content(pool, stamp++, load.largeSize + stamp);
    return { content, sha256: content.sha256() };
  });
  const all = [...small.flat(), ...large];
  return { small, large, files: all.length, bytes: all.reduce((s, f) => s + f.content.size, 0) };
}

interface SetupResult {
  name: string;
  seconds: number;
  uploadsPerSecond: number;
  mbPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  errorSamples: string[];
  /** CPU seconds during the run, per process */
  cpu: Record<string, number>;
  /** requests each node served (cluster setups) */
  requestsPerNode?: number[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs the work against `url`: one task per client, plus one per large file. */
async function drive(
  name: string,
  url: string,
  token: string,
  work: Work,
  cpuOf: () => Promise<Record<string, number>>,
): Promise<SetupResult> {
  const base = new URL(url);
  const tally: Tally = { latenciesMs: [], errors: 0, errorSamples: [], filesDone: 0, bytesDone: 0 };
  const cpuBefore = await cpuOf();
  const agents: Agent[] = [];
  const client = () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    return agent;
  };
  const started = performance.now();
  try {
    await Promise.all([
      ...work.small.map(async (files) => {
        const agent = client();
        for (const f of files) {
          if (await tusUpload(agent, base, token, f.content, f.sha256, tally)) {
            tally.filesDone += 1;
            tally.bytesDone += f.content.size;
          }
        }
      }),
      ...work.large.map(async (f) => {
        if (await tusUpload(client(), base, token, f.content, f.sha256, tally)) {
          tally.filesDone += 1;
          tally.bytesDone += f.content.size;
        }
      }),
    ]);
  } finally {
    for (const a of agents) a.destroy();
  }
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = await cpuOf();
  const cpu = Object.fromEntries(
    Object.entries(cpuAfter).map(([k, v]) => [k, v - (cpuBefore[k] ?? 0)]),
  );
  const sorted = [...tally.latenciesMs].sort((a, b) => a - b);
  const missing = work.files - tally.filesDone;
  if (missing > 0 && tally.errors === 0) fail(tally, `${missing} files not confirmed`);
  return {
    name,
    seconds,
    uploadsPerSecond: tally.filesDone / seconds,
    mbPerSecond: tally.bytesDone / 1e6 / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    requests: sorted.length,
    errors: tally.errors,
    errorSamples: tally.errorSamples,
    cpu,
  };
}

/** What the vault says it holds, to check the run stored everything. */
async function heldAssets(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/api/v1/usage`, { headers: { authorization: `Bearer ${token}` } });
  const usage = (await res.json()) as { assets: number };
  return usage.assets;
}

/** Clock ticks per second of /proc/<pid>/stat's times. */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** ppid and the four CPU times (ticks) of /proc/<pid>/stat. */
async function procStat(pid: number): Promise<{ ppid: number; own: number; reaped: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // fields after the parenthesised name: [0] state (field 3), [1] ppid, [11] utime, [12]
  // stime, [13] cutime, [14] cstime (children waited for)
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { ppid: f[1]!, own: f[11]! + f[12]!, reaped: f[13]! + f[14]! };
}

/**
 * CPU seconds of a PostgreSQL server: the postmaster with its reaped children (backends that
 * ended) and every live child (the backends the nodes hold open). Found from the postmaster's
 * pid, since other tests on this machine may run PostgreSQL servers of their own.
 */
async function postgresCpuSeconds(postmaster: number): Promise<number> {
  const main = await procStat(postmaster);
  let ticks = main.own + main.reaped;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const child = await procStat(Number(entry));
      if (child.ppid === postmaster) ticks += child.own;
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks / CLOCK_TICKS;
}

/** The postmaster's pid: the parent of a backend serving us. */
async function postmasterPid(indexUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: indexUrl });
  await client.connect();
  try {
    const res = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const backend = res.rows[0]!.pid;
    return (await procStat(backend)).ppid;
  } finally {
    await client.end();
  }
}

/** s3rver in a process of its own (see the header); resolves once it listens. */
async function startS3rverProcess(): Promise<TestS3Server & { pid: number }> {
  const script = `
    import { startTestS3Server } from './tests/support/s3-server.ts';
    const s3 = await startTestS3Server();
    console.log(JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, env: s3.env, dir: s3.dir }));
    process.on('SIGTERM', () => void s3.close().then(() => process.exit(0)));
  `;
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const said = await new Promise<{
    endpoint: string;
    bucket: string;
    env: Record<string, string>;
    dir: string;
  }>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) resolve(JSON.parse(line) as never);
    });
    child.once('exit', (code) => reject(new Error(`s3rver process exited ${code}`)));
  });
  return {
    ...said,
    pid: child.pid ?? 0,
    locationOf: (prefix) =>
      `s3://${said.bucket}/${prefix}?endpoint=${encodeURIComponent(said.endpoint)}&region=us-east-1`,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

function describeSetup(r: SetupResult): string {
  const cpu = Object.entries(r.cpu)
    .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
    .join(', ');
  const perNode = r.requestsPerNode ? `; requests per node ${r.requestsPerNode.join('/')}` : '';
  return `${r.name}: ${r.seconds.toFixed(1)} s, ${r.uploadsPerSecond.toFixed(1)} uploads/s, ${r.mbPerSecond.toFixed(1)} MB/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms over ${r.requests} requests, ${r.errors} errors; CPU ${cpu}${perNode}`;
}

export const benchCase: BenchCase = {
  name: 'cluster',
  description:
    'load test: concurrent tus clients against 1 and 3 vault nodes (PostgreSQL + S3 + shared uploads) beside the single-machine vault',
  async run(ctx) {
    const load = loadFor(ctx.small);
    const pool = randomFillSync(Buffer.alloc(4 * MiB));
    const token = `bench-${Date.now()}`;
    ctx.log(
      `load: ${load.clients} clients x ${load.smallPerClient} small files (30-500 KB) + ${load.largeFiles} x ${load.largeSize / MiB} MiB`,
    );
    const results: SetupResult[] = [];

    // Baseline: the single-machine vault (SQLite + filesystem), one process.
    {
      const work = makeWork(load, pool, 1);
      const vault = await spawnVaultProcess({
        dataDir: join(ctx.workDir, 'single'),
        token,
        extraArgs: ['--no-previews', '--no-compression'],
      });
      // Behind the same proxy as the nodes, so every setup pays the same extra hop.
      const proxy = await startRoundRobinProxy([{ port: Number(new URL(vault.url).port) }]);
      try {
        const pid = vault.child.pid ?? 0;
        const r = await drive('single machine (SQLite + filesystem)', proxy.url, token, work, async () => ({
          vault: await processCpuSeconds(pid),
        })); // prettier-ignore
        const held = await heldAssets(vault.url, token);
        if (held !== work.files) r.errorSamples.push(`vault holds ${held} of ${work.files}`);
        results.push(r);
        ctx.log(describeSetup(r));
      } finally {
        await proxy.close();
        await vault.stop();
      }
    }

    const unsupported = clusterUnsupportedReason();
    if (unsupported !== null) {
      ctx.log(`cluster setups not run: ${unsupported}`);
    } else {
      let postgres: TestPostgres | undefined;
      let s3: (TestS3Server & { pid: number }) | undefined;
      try {
        postgres = await startTestPostgres();
        s3 = await startS3rverProcess();
        const s3Pid = s3.pid;
        for (const [n, stamp] of [
          [1, 1_000_000],
          [3, 2_000_000],
        ] as const) {
          const work = makeWork(load, pool, stamp);
          const cluster = await startVaultCluster({
            nodes: n,
            token,
            postgres,
            s3,
            extraArgs: ['--no-previews'],
          });
          const postmaster = await postmasterPid(cluster.indexUrl);
          try {
            const r = await drive(
              `${n} node${n > 1 ? 's' : ''} (PostgreSQL + S3 + shared uploads)`,
              cluster.url,
              token,
              work,
              async () => {
                const cpu: Record<string, number> = {};
                for (const node of cluster.nodes) {
                  cpu[`node ${node.index}`] = await cluster.cpuSeconds(node.index);
                }
                cpu.postgres = await postgresCpuSeconds(postmaster);
                cpu.s3rver = await processCpuSeconds(s3Pid);
                return cpu;
              },
            );
            r.requestsPerNode = cluster.proxy.countsByBackend();
            const held = await heldAssets(cluster.url, token);
            if (held !== work.files) r.errorSamples.push(`vault holds ${held} of ${work.files}`);
            results.push(r);
            ctx.log(describeSetup(r));
          } finally {
            await cluster.close();
          }
        }
      } finally {
        await s3?.close();
        await postgres?.close();
      }
    }

    const [single, ...clustered] = results;
    if (single === undefined) throw new Error('the single-machine run produced nothing');
    const measurements: BenchMeasurement[] = [];
    for (const r of clustered) {
      const vs = (label: string, keepsake: number, baseline: number, unit: string) => ({
        label: `${r.name}: ${label}`,
        keepsake,
        baseline,
        baselineName: 'single-machine vault',
        unit,
        higherIsBetter: unit === 'uploads/s',
        ...(unit === 'errors' ? { aim: '0' } : {}),
      });
      measurements.push(
        vs('uploads/s', r.uploadsPerSecond, single.uploadsPerSecond, 'uploads/s'),
        vs('p50 request latency', r.p50Ms, single.p50Ms, 'ms'),
        vs('p99 request latency', r.p99Ms, single.p99Ms, 'ms'),
        vs('errors', r.errors, single.errors, 'errors'),
      );
    }
    if (clustered.length === 0) {
      measurements.push({
        label: 'single machine: uploads/s',
        keepsake: single.uploadsPerSecond,
        baseline: 0,
        baselineName: 'cluster',
        unit: 'uploads/s',
        higherIsBetter: true,
        baselineMissing: 'not run (see the log)',
      });
    }
    const bad = results.filter((r) => r.errorSamples.length > 0);
    for (const r of bad) ctx.log(`${r.name}: ${r.errorSamples.join('; ')}`);
    return {
      measurements,
      extra: {
        load,
        results,
        loadAverageNote: 'CPU seconds are per process over the whole run of that setup',
        cores: spawnSync('nproc', { encoding: 'utf8' }).stdout.trim(),
      },
    };
  },
};
