// Several real `keepsake vault` processes on loopback sharing one index, one bucket and one
// partial-uploads directory, behind the round-robin test proxy (issue 14): the scaled
// deployment (stateless nodes, PostgreSQL, an S3-compatible store, NFS for partials) on one
// machine, for tests and the load benchmark.
//
// Each node is started as the CLI runs it (spawnVaultProcess: node + tsx + main/cli/main.ts),
// with its own --data-dir (its token file and anything node-local), the shared
// `--index postgres://…`, `--blobs s3://…`, `--uploads DIR` and `--previews-dir DIR`, and the admin token in
// KEEPSAKE_VAULT_TOKEN (never on the command line, as an operator would run it).
//
// Invariants:
// - close() stops every node (SIGKILL: a cluster node must survive that, and it is what the
//   tests check anyway), the proxy, and whatever the cluster started itself (PostgreSQL,
//   s3rver, temp directories); a PostgreSQL or S3 server passed in is left running;
// - a node is never restarted behind the test's back: kill9(i) leaves node i dead, and the
//   proxy then skips it;
// - if the test process exits without close(), every node still alive is SIGKILLed.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, repoRoot } from './paths.js';
import { type TestPostgres, startTestPostgres } from './postgres.js';
import { type RoundRobinProxy, startRoundRobinProxy } from './round-robin-proxy.js';
import { type TestS3Server, startTestS3Server } from './s3-server.js';
import { type VaultProcess, spawnVaultProcess } from './vault.js';

export interface ClusterNode {
  /** 0-based, as the proxy's backend index */
  index: number;
  /** the node's own address (bypassing the proxy) */
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  process: VaultProcess;
  alive: boolean;
}

export interface VaultCluster {
  /** the proxy: what clients are given */
  url: string;
  token: string;
  nodes: readonly ClusterNode[];
  proxy: RoundRobinProxy;
  /** the shared index, blobs and uploads as each node was given them */
  indexUrl: string;
  blobs: string;
  uploadsDir: string;
  s3: TestS3Server;
  /** the key prefix of this cluster's objects in s3.bucket (e.g. `cluster-1/`) */
  s3Prefix: string;
  /** SIGKILL one node and wait until it is gone */
  kill9(index: number): Promise<void>;
  /** CPU seconds (user + system) a node's process has used so far, from /proc/<pid>/stat */
  cpuSeconds(index: number): Promise<number>;
  close(): Promise<void>;
}

export interface VaultClusterOptions {
  /** default 3 */
  nodes?: number;
  /** default: random */
  token?: string;
  /** a running PostgreSQL to make this cluster's database in (else one is started) */
  postgres?: TestPostgres;
  /** a running S3 server to use (else one is started) */
  s3?: TestS3Server;
  /** more `keepsake vault` arguments for every node */
  extraArgs?: string[];
  /** how long each node may take to start, ms (default 60 s: the machine is shared) */
  startTimeoutMs?: number;
}

let clusters = 0;
const liveNodes = new Set<VaultProcess>();
process.on('exit', () => {
  for (const node of liveNodes) {
    try {
      node.child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
});

/**
 * Why this build of `keepsake vault` cannot run as a cluster node, or null when it can: the
 * flags a node needs (`--index`, `--blobs`, `--uploads`) are read from its --help.
 */
export function clusterUnsupportedReason(): string | null {
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'main/cli/main.ts', 'vault', '--help'],
    { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 },
  );
  const help = `${res.stdout}${res.stderr}`;
  const missing = ['--index', '--blobs', '--uploads'].filter(
    (flag) => !new RegExp(`${flag} `).test(help),
  );
  if (missing.length === 0) return null;
  return `keepsake vault has no ${missing.join(', ')} option yet, so its nodes cannot share an index, a bucket and the partial uploads`;
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
const CLOCK_TICKS = (() => {
  const res = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(res.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** utime + stime of a live process, seconds (all its threads). */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS;
}

export async function startVaultCluster(opts: VaultClusterOptions = {}): Promise<VaultCluster> {
  const count = opts.nodes ?? 3;
  const token = opts.token ?? `cluster-${Math.random().toString(36).slice(2)}${Date.now()}`;
  const cleanups: (() => Promise<void>)[] = [];
  const runCleanups = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {
        // keep cleaning up
      }
    }
  };
  const nodes: ClusterNode[] = [];
  try {
    const postgres = opts.postgres ?? (await startTestPostgres());
    if (opts.postgres === undefined) cleanups.push(() => postgres.close());
    const s3 = opts.s3 ?? (await startTestS3Server());
    if (opts.s3 === undefined) cleanups.push(() => s3.close());
    const temp = await makeTempDir('keepsake-cluster-');
    cleanups.push(temp.cleanup);
    const uploadsDir = join(temp.dir, 'shared-uploads');
    await mkdir(uploadsDir);
    const previewsDir = join(temp.dir, 'shared-previews');
    await mkdir(previewsDir);
    const indexUrl = await postgres.createDatabase();
    clusters += 1;
    const s3Prefix = `cluster-${process.pid}-${clusters}/`;
    const blobs = s3.locationOf(s3Prefix);

    const startNode = async (index: number): Promise<ClusterNode> => {
      const dataDir = join(temp.dir, `node-${index}`);
      await mkdir(dataDir);
      const child = await spawnVaultProcess({
        dataDir,
        extraArgs: [
          '--index',
          indexUrl,
          '--blobs',
          blobs,
          '--uploads',
          uploadsDir,
          '--previews-dir',
          previewsDir,
          ...(opts.extraArgs ?? []),
        ],
        env: { ...s3.env, KEEPSAKE_VAULT_TOKEN: token },
        startTimeoutMs: opts.startTimeoutMs ?? 60_000,
      });
      liveNodes.add(child);
      cleanups.push(async () => {
        await child.kill9();
        liveNodes.delete(child);
      });
      const url = new URL(child.url);
      return {
        index,
        url: child.url,
        port: Number(url.port),
        pid: child.child.pid ?? 0,
        dataDir,
        process: child,
        alive: true,
      };
    };
    // The first node runs the index's migrations alone; the others then start together.
    nodes.push(await startNode(0));
    nodes.push(
      ...(await Promise.all(Array.from({ length: count - 1 }, (_, i) => startNode(i + 1)))),
    );

    const proxy = await startRoundRobinProxy(nodes.map((n) => ({ port: n.port })));
    cleanups.push(() => proxy.close());

    return {
      url: proxy.url,
      token,
      nodes,
      proxy,
      indexUrl,
      blobs,
      uploadsDir,
      s3,
      s3Prefix,
      async kill9(index) {
        const node = nodes[index];
        if (node === undefined) throw new Error(`no node ${index}`);
        node.alive = false;
        await node.process.kill9();
        liveNodes.delete(node.process);
      },
      cpuSeconds(index) {
        const node = nodes[index];
        if (node === undefined) throw new Error(`no node ${index}`);
        return processCpuSeconds(node.pid);
      },
      close: runCleanups,
    };
  } catch (err) {
    const said = nodes
      .map((n) => `node ${n.index}:\n${n.process.output().stderr.slice(-2000)}`)
      .join('\n');
    await runCleanups();
    if (said && err instanceof Error) err.message += `\n${said}`;
    throw err;
  }
}
