// The peers the issue-8 targets are measured against (restic, rclone), and the one way every
// target case runs Keepsake: `keepsake backup` spawned as a person runs it (bin/keepsake.js,
// the compiled dist/), timed from the outside. See [Note: Keepsake runs compiled].
//
// Invariants:
// - a missing baseline binary is reported as missing (BaselineMissing), never replaced by a
//   made-up number; the case still measures Keepsake and says the ratio was skipped;
// - every restic repository, rclone server and cache lives under the case's workDir, so a run
//   leaves nothing behind in $HOME and starts from the same empty state each round;
// - peak RSS is the sum over the whole process tree (node and any exiftool it started),
//   sampled with ps, so helpers a run starts count against it.
//
// [Note: restic's cache in the benchmarks]
// restic keeps a local cache of repository metadata (index, snapshots, tree blobs). Keepsake's
// equivalent is its client index (SQLite under --data-dir), which it always uses. So restic
// runs with its cache ON (the default), pointed at a fresh --cache-dir inside the round's own
// directory: both tools start a first backup with empty local state, and both use their local
// state for a re-run, as a person running either would. --no-cache would slow restic's
// re-runs (it would read tree blobs back from the repository) and flatter Keepsake.
// Everything else is restic's default (compression auto, two file readers, pack size 16 MiB),
// and `restic init` happens outside the timing (Keepsake's vault is created inside its run,
// which costs it a few milliseconds).
//
// [Note: Keepsake runs compiled]
// The installed `keepsake` command is bin/keepsake.js running dist/ (tsc output); tsx is a
// development tool that compiles every module on load (~1 s of start-up on this machine
// against ~0.4 s compiled, and an esbuild child process in the RSS). So the bench compiles
// dist/ from the current sources once per bench process (ensureCompiled, outside every
// timing) and times bin/keepsake.js. BENCH_FROM_SOURCE=1 times the tsx path instead.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { type BackupSummary, parseJsonOutput } from '../support/cli.js';
import { repoRoot } from '../support/paths.js';

export const resticBin = process.env.BENCH_RESTIC ?? '/usr/bin/restic';
export const rcloneBin = process.env.BENCH_RCLONE ?? '/usr/bin/rclone';

/** null when the binary is there, else why the baseline is skipped. */
export function missingBinary(path: string): string | null {
  return existsSync(path) ? null : `${path} not found: baseline skipped, no ratio`;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Rounds per measurement: median of 3 at full size, 1 at SIZE=small. */
export function roundsFor(small: boolean): number {
  const env = Number(process.env.BENCH_ROUNDS);
  return Number.isInteger(env) && env > 0 ? env : small ? 1 : 3;
}

// ---- peak RSS of a process tree ------------------------------------------------------------

/** Sum of RSS (bytes) of `pid` and all its descendants, from one `ps` snapshot. */
function treeRssBytes(pid: number): number {
  const out = spawnSync('ps', ['-e', '-o', 'pid=,ppid=,rss='], { encoding: 'utf8' });
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const line of out.stdout.split('\n')) {
    const [p, pp, r] = line.trim().split(/\s+/).map(Number);
    if (!p || pp === undefined || r === undefined) continue;
    rss.set(p, r * 1024);
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  let sum = 0;
  const visit = (p: number) => {
    sum += rss.get(p) ?? 0;
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return sum;
}

/** Samples a process tree's RSS every `intervalMs` until stop(); returns the peak seen. */
export function sampleTreeRss(pid: number, intervalMs = 200): { stop(): number } {
  let peak = treeRssBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRssBytes(pid));
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

// ---- running commands ----------------------------------------------------------------------

export interface CommandRun {
  seconds: number;
  /** the exit code (0, or one of okCodes) */
  code: number;
  stdout: string;
  stderr: string;
  peakRssBytes: number;
}

/** Runs a command to completion (non-zero exit rejects), timing it and sampling its tree RSS. */
export function runCommand(
  cmd: string,
  args: string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    cwd?: string;
    group?: boolean;
    /** exit codes besides 0 that resolve instead of rejecting */
    okCodes?: number[];
  } = {},
): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // its own process group, so helpers it leaves (exiftool) are killed with it below
      detached: opts.group === true,
    });
    const killGroup = () => {
      if (opts.group !== true || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    process.once('exit', killGroup);
    const sampler = child.pid === undefined ? null : sampleTreeRss(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 3_600_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      sampler?.stop();
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      killGroup();
      process.off('exit', killGroup);
      const peakRssBytes = sampler?.stop() ?? Number.NaN;
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0 && !(code !== null && opts.okCodes?.includes(code))) {
        reject(
          new Error(
            `${cmd} ${args.join(' ')} exited ${String(code)}/${String(signal)}\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`,
          ),
        );
        return;
      }
      resolve({ seconds, stdout, stderr, peakRssBytes, code: code ?? -1 });
    });
  });
}

// ---- Keepsake ------------------------------------------------------------------------------

export interface KeepsakeRun {
  seconds: number;
  peakRssBytes: number;
  summary: BackupSummary;
}

const fromSource = process.env.BENCH_FROM_SOURCE === '1';
let compiled: Promise<void> | null = null;

/** Compiles dist/ from the current sources, once per process. See [Note: Keepsake runs compiled]. */
export function ensureCompiled(): Promise<void> {
  if (fromSource) return Promise.resolve();
  compiled ??= runCommand(
    process.execPath,
    [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: repoRoot, timeoutMs: 600_000 },
  ).then(() => undefined);
  return compiled;
}

/** node arguments that run `keepsake <args>`: bin/keepsake.js, or main/cli/main.ts under tsx. */
export function keepsakeArgs(args: string[], nodeFlags: string[] = []): string[] {
  return fromSource
    ? [...nodeFlags, '--import', 'tsx', join(repoRoot, 'main/cli/main.ts'), ...args]
    : [...nodeFlags, join(repoRoot, 'bin/keepsake.js'), ...args];
}

/**
 * `keepsake backup DIR --data-dir D --json [extra]` (see [Note: Keepsake runs compiled]),
 * timed from spawn to exit, with the peak RSS of its process tree (helpers such as exiftool
 * included, killed with it). Exit 1 (some file failed) is tolerated and reported through
 * summary.failed; anything else throws. `nodeFlags` go before the script (e.g. --cpu-prof,
 * which NODE_OPTIONS does not accept).
 */
export async function keepsakeBackup(
  dir: string,
  dataDir: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
  nodeFlags: string[] = [],
): Promise<KeepsakeRun> {
  await ensureCompiled();
  const run = await runCommand(
    process.execPath,
    keepsakeArgs(['backup', dir, '--data-dir', dataDir, '--json', ...extra], nodeFlags),
    {
      cwd: repoRoot,
      group: true,
      okCodes: [1],
      timeoutMs: 4 * 3_600_000,
      env: { NO_COLOR: '1', FORCE_COLOR: '0', ...env },
    },
  );
  const summary = parseJsonOutput<BackupSummary>({
    code: run.code,
    signal: null,
    stdout: run.stdout,
    stderr: run.stderr,
    timedOut: false,
    ms: run.seconds * 1000,
  });
  return { seconds: run.seconds, peakRssBytes: run.peakRssBytes, summary };
}

/** Seconds `keepsake --help` takes: the start-up every Keepsake timing includes. */
export async function keepsakeStartupSeconds(): Promise<number> {
  await ensureCompiled();
  const run = await runCommand(process.execPath, keepsakeArgs(['--help']), {
    cwd: repoRoot,
    timeoutMs: 60_000,
  });
  return run.seconds;
}

/** Files Keepsake settled in a run (backed up, found on the vault, or excluded). */
export function settledFiles(s: BackupSummary): number {
  return s.backedUp + s.duplicates;
}

/** A one-line description of a Keepsake run for the log. */
export function describeKeepsake(r: KeepsakeRun): string {
  const s = r.summary;
  return `${r.seconds.toFixed(2)} s: ${s.files} files, ${s.backedUp} backed up, ${s.duplicates} duplicates, ${s.failed} failed, ${(s.bytesUploaded / 1e6).toFixed(1)} MB uploaded, peak RSS ${(r.peakRssBytes / 1e6).toFixed(0)} MB`;
}

// ---- restic --------------------------------------------------------------------------------

export interface ResticSummary {
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  data_added: number;
  total_files_processed: number;
  total_bytes_processed: number;
  [key: string]: unknown;
}

export interface ResticRun extends CommandRun {
  summary: ResticSummary;
}

export interface ResticRepo {
  repo: string;
  env: NodeJS.ProcessEnv;
}

/** `restic init` of a fresh local repository (and cache dir) under `dir`; not timed. */
export async function resticInit(dir: string): Promise<ResticRepo> {
  await mkdir(dir, { recursive: true });
  const repo = { repo: join(dir, 'repo'), env: { RESTIC_PASSWORD: 'keepsake-bench' } };
  await runCommand(resticBin, ['init', '--repo', repo.repo, '--cache-dir', join(dir, 'cache')], {
    env: repo.env,
  });
  return repo;
}

/** `restic backup DIR` into `repo` (cache dir beside it); `extra` e.g. ['--dry-run']. */
export async function resticBackup(
  repo: ResticRepo,
  dir: string,
  extra: string[] = [],
): Promise<ResticRun> {
  const run = await runCommand(
    resticBin,
    [
      'backup',
      '--repo',
      repo.repo,
      '--cache-dir',
      join(repo.repo, '..', 'cache'),
      '--json',
      '--quiet',
      ...extra,
      dir,
    ],
    { env: repo.env },
  );
  const line = run.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.includes('"message_type":"summary"'));
  if (!line) throw new Error(`no restic summary in output:\n${run.stdout.slice(-2000)}`);
  return { ...run, summary: JSON.parse(line) as ResticSummary };
}

export function describeRestic(r: ResticRun): string {
  const s = r.summary;
  return `${r.seconds.toFixed(2)} s: ${s.total_files_processed} files (${s.files_new} new, ${s.files_unmodified} unmodified), ${(s.total_bytes_processed / 1e6).toFixed(1)} MB read, ${(s.data_added / 1e6).toFixed(1)} MB added, peak RSS ${(r.peakRssBytes / 1e6).toFixed(0)} MB`;
}

// ---- rclone --------------------------------------------------------------------------------

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface WebdavServer {
  url: string;
  stop(): Promise<void>;
}

/** `rclone serve webdav ROOT --addr 127.0.0.1:PORT`; resolves once it answers HTTP. */
export async function startRcloneWebdav(root: string, configPath: string): Promise<WebdavServer> {
  await mkdir(root, { recursive: true });
  const port = await freePort();
  const child = spawn(
    rcloneBin,
    ['serve', 'webdav', root, '--addr', `127.0.0.1:${port}`, '--config', configPath],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const url = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  };
  const deadline = performance.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`rclone serve webdav exited:\n${stderr}`);
    try {
      await fetch(url, { method: 'OPTIONS', signal: AbortSignal.timeout(1000) });
      return { url, stop };
    } catch {
      if (performance.now() > deadline) {
        await stop();
        throw new Error(`rclone serve webdav did not answer on ${url}:\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** `rclone copy FILE :webdav:DEST` against `server` (an on-the-fly remote, no config). */
export function rcloneCopy(
  server: WebdavServer,
  file: string,
  dest: string,
  configPath: string,
): Promise<CommandRun> {
  return runCommand(rcloneBin, [
    'copy',
    file,
    `:webdav:${dest}`,
    '--webdav-url',
    server.url,
    '--config',
    configPath,
  ]);
}
