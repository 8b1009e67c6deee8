// Bench 'scan' (issue 3): the initial scan of a generated tree of 100,000 small files in 1,000
// folders: seconds to a settled index and the peak RSS, beside `find -type f` and a bare Node
// walk with lstat, measured in the same run on the same (warm-cache) tree.
//
// "Settled index" here means: the engine's store has a row for every file of the tree. We
// measure it through the engine API in a child process of its own (so its peak RSS is the
// engine's alone): createEngine on a fresh data dir with no vault (index and hash only) and no
// watchers, start(), folders.add, then poll status.get until the per-state counts add up to
// the number of files. Hashing starts as soon as rows exist and runs alongside (it is part of
// what the engine does while it scans, and what the person's machine pays for); with no vault
// there is no upload in the picture.
import { spawn } from 'node:child_process';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchCase, BenchContext } from '../harness.js';
import { processPeakRssBytes } from '../../support/cli.js';
import { repoRoot } from '../../support/paths.js';
import { cleanJpegs, generateUniqueFiles } from '../../support/tree.js';

const childRole = process.env.KEEPSAKE_BENCH_CHILD;

export interface ChildReport {
  seconds: number;
  files: number;
  peakRssBytes: number;
  [key: string]: unknown;
}

/** Runs `node --import tsx <file>` with a role; the child prints one JSON line as its report. */
export function runBenchChild(
  file: string,
  role: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: repoRoot,
      env: { ...process.env, ...env, KEEPSAKE_BENCH_CHILD: role },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      const line = out
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{"report"'));
      if (code !== 0 || !line) {
        reject(new Error(`bench child ${role} failed (exit ${String(code)}):\n${out}\n${err}`));
        return;
      }
      resolve((JSON.parse(line) as { report: ChildReport }).report);
    });
  });
}

/** Seconds for `find ROOT -type f` to list the tree (output counted, not printed). */
export function timeFind(root: string): Promise<{ seconds: number; files: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('find', [root, '-type', 'f'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lines = 0;
    child.stdout.on('data', (d: Buffer) => {
      for (const b of d) if (b === 10) lines++;
    });
    child.once('error', reject);
    child.once('close', () => resolve({ seconds: (performance.now() - t0) / 1000, files: lines }));
  });
}

/** The bare walk: readdir + lstat of every entry, one directory's stats at a time in parallel. */
async function bareWalk(root: string): Promise<number> {
  let files = 0;
  const visit = async (dir: string): Promise<void> => {
    const names = await readdir(dir);
    const stats = await Promise.all(
      names.map(async (n) => [n, await lstat(join(dir, n))] as const),
    );
    for (const [n, st] of stats) {
      if (st.isDirectory()) await visit(join(dir, n));
      else if (st.isFile()) files++;
    }
  };
  await visit(root);
  return files;
}

async function childBareWalk(): Promise<ChildReport> {
  const root = process.env.BENCH_ROOT!;
  const t0 = performance.now();
  const files = await bareWalk(root);
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, files, peakRssBytes: processPeakRssBytes(process.pid) };
}

async function childEngineScan(): Promise<ChildReport> {
  const root = process.env.BENCH_ROOT!;
  const dataDir = process.env.BENCH_DATA_DIR!;
  const expected = Number(process.env.BENCH_FILES);
  const { createEngine } = await import('../../../main/engine/engine.js');
  // no vault: the engine indexes and hashes only (EngineOptions.vault omitted)
  const engine = await createEngine({ dataDir, createWatcher: null, reconcileIntervalMs: 0 });
  const t0 = performance.now();
  await engine.start();
  await engine.api['folders.add']({ path: root });
  let indexed = 0;
  let lastLog = 0;
  for (;;) {
    const s = await engine.api['status.get']({});
    indexed = Object.values(s.counts).reduce((a, b) => a + b, 0);
    if (indexed >= expected) break;
    const now = performance.now();
    if (now - lastLog > 10_000) {
      lastLog = now;
      process.stderr.write(`indexed ${indexed}/${expected}\n`);
    }
    if (now - t0 > 900_000)
      throw new Error(`index not settled after 900 s: ${indexed}/${expected}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - t0) / 1000;
  const peakRssBytes = processPeakRssBytes(process.pid);
  await engine.close();
  return { seconds, files: indexed, peakRssBytes };
}

if (childRole === 'scan-walk' || childRole === 'scan-engine') {
  const report = childRole === 'scan-walk' ? await childBareWalk() : await childEngineScan();
  process.stdout.write(`${JSON.stringify({ report })}\n`);
  process.exit(0);
}

/** Generates the scan tree: `count` tiny unique JPEGs spread over `folders` folders. */
export async function generateScanTree(
  ctx: BenchContext,
  root: string,
  unique = true,
  files?: number,
): Promise<{ files: number; bytes: number; folders: number; sources: string[] }> {
  const count = files ?? (ctx.small ? 5_000 : 100_000);
  const folders = Math.max(1, Math.round(count / 100));
  const t0 = performance.now();
  const sources = cleanJpegs(3000).map((r) => r.path);
  const g = await generateUniqueFiles(root, {
    count,
    folders,
    sources,
    uniqueTag: unique ? `scan-${process.pid}-${Date.now()}` : null,
    keepHashes: false,
  });
  ctx.log(
    `generated ${count} files (${(g.bytes / 1e6).toFixed(1)} MB) in ${folders} folders in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return { files: count, bytes: g.bytes, folders, sources };
}

export const benchCase: BenchCase = {
  name: 'scan',
  description:
    'initial scan of 100,000 small files in 1,000 folders to a settled index (engine API, no vault: index and hash only), beside find -type f and a bare Node walk with lstat',
  async run(ctx) {
    const root = join(ctx.workDir, 'tree');
    const tree = await generateScanTree(ctx, root);
    const self = new URL(import.meta.url).pathname;

    const find = await timeFind(root);
    ctx.log(`find -type f: ${find.seconds.toFixed(2)} s (${find.files} files)`);
    const walk = await runBenchChild(self, 'scan-walk', { BENCH_ROOT: root }, 600_000);
    ctx.log(
      `bare Node walk: ${walk.seconds.toFixed(2)} s, peak RSS ${(walk.peakRssBytes / 1e6).toFixed(0)} MB`,
    );
    const engine = await runBenchChild(
      self,
      'scan-engine',
      {
        BENCH_ROOT: root,
        BENCH_DATA_DIR: join(ctx.workDir, 'data'),
        BENCH_FILES: String(tree.files),
      },
      1_000_000,
    );
    ctx.log(
      `keepsake: ${engine.seconds.toFixed(2)} s to a settled index of ${engine.files} rows, peak RSS ${(engine.peakRssBytes / 1e6).toFixed(0)} MB`,
    );
    return {
      measurements: [
        {
          label: `${tree.files} files: seconds to settled index`,
          keepsake: engine.seconds,
          baseline: walk.seconds,
          baselineName: 'bare Node walk + lstat',
          unit: 's',
          higherIsBetter: false,
          aim: '>= 0.5 (within 2x of the bare walk)',
        },
        {
          label: `${tree.files} files: seconds to settled index vs find`,
          keepsake: engine.seconds,
          baseline: find.seconds,
          baselineName: 'find -type f',
          unit: 's',
          higherIsBetter: false,
        },
        {
          label: 'peak RSS during the scan',
          keepsake: engine.peakRssBytes / 1e6,
          baseline: walk.peakRssBytes / 1e6,
          baselineName: 'bare Node walk',
          unit: 'MB',
          higherIsBetter: false,
          aim: 'keepsake < 300 MB',
        },
      ],
      extra: { tree, find, walk, engine },
    };
  },
};
