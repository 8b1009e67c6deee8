// Runs the `keepsake` CLI from source as a child process (`node --import tsx main/cli/main.ts`,
// cwd = repo root), the way a person runs it, and reads a vault through its HTTP API so tests
// can check what really arrived there.
//
// Invariants:
// - every child runs in its own process group and is remembered until it exits;
//   killAllChildren() (call it in after()) SIGKILLs every group still alive, so a failing
//   test never leaves a daemon, or the exiftool it started, behind; a process exit hook does
//   the same as a last resort;
// - every run has a bounded timeout: a hung CLI fails its test instead of hanging the suite;
// - nothing here parses a human-readable message: JSON output and exit codes only.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileRow } from '../../common/contract.js';
import type { Engine } from '../../main/engine/api.js';
import { repoRoot } from './paths.js';

const cliEntry = join(repoRoot, 'main/cli/main.ts');
const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

process.on('exit', () => {
  for (const child of live) killGroup(child);
});

/** SIGKILLs every CLI child (and its process group) this module started that is still alive. */
export async function killAllChildren(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      waits.push(new Promise((resolve) => child.once('exit', resolve)));
    }
    killGroup(child);
  }
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 5000))]);
  live.clear();
}

export interface RunOptions {
  /** default 120 s; on expiry the process group is SIGKILLed and `timedOut` is set */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** run as the `nobody` user (uid/gid 65534) through setpriv: to test unreadable files as root */
  asNobody?: boolean;
  /** bytes written to stdin, then closed */
  input?: string;
  /** called with the child's pid once it is spawned (e.g. to watch /proc/<pid>/fd) */
  onSpawn?: (pid: number) => void;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

function spawnCli(args: string[], opts: RunOptions): ChildProcess {
  const nodeArgs = ['--import', 'tsx', cliEntry, ...args];
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...opts.env };
  const [cmd, cmdArgs] = opts.asNobody
    ? [
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          ...nodeArgs,
        ] as string[],
      ]
    : [process.execPath, nodeArgs];
  if (opts.asNobody) env.HOME = '/tmp';
  const child = spawn(cmd, cmdArgs, {
    cwd: repoRoot,
    env,
    detached: true, // own process group: see killGroup
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  else child.stdin?.end();
  return child;
}

/** Runs `keepsake <args>` to completion (or timeout) and returns its output and exit code. */
export function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  const started = performance.now();
  const child = spawnCli(args, opts);
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, opts.timeoutMs ?? 120_000);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // the CLI may leave helpers (exiftool) in its group: never let them outlive the run
      killGroup(child);
      resolve({ code, signal, stdout, stderr, timedOut, ms: performance.now() - started });
    });
  });
}

/** The last line of stdout that parses as a JSON object (what `--json` prints). */
export function parseJsonOutput<T = Record<string, unknown>>(result: CliResult): T {
  const lines = result.stdout.trim().split('\n').reverse();
  for (const line of lines) {
    const t = line.trim();
    if (!t.startsWith('{') && !t.startsWith('[')) continue;
    try {
      return JSON.parse(t) as T;
    } catch {
      // not this line
    }
  }
  // a pretty-printed object spanning several lines
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(
      `no JSON object in stdout (exit ${String(result.code)}):\n${result.stdout}\n--- stderr:\n${result.stderr}`,
    );
  }
}

/** A description of a finished run, for assertion messages. */
export function describeRun(r: CliResult): string {
  return `exit ${String(r.code)} signal ${String(r.signal)}${r.timedOut ? ' (TIMED OUT)' : ''}\n--- stdout:\n${r.stdout.slice(-4000)}\n--- stderr:\n${r.stderr.slice(-4000)}`;
}

export interface DaemonHandle {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout+stderr match, rejects after the timeout or if the daemon exits. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGKILL of the daemon process itself (its helpers are left as a real crash leaves them). */
  kill9(): void;
  /** SIGTERM: the daemon should stop cleanly. */
  terminate(): void;
  /** Resolves with the exit code/signal; SIGKILLs the group and rejects after the timeout. */
  waitForExit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL of the whole process group (daemon and anything it started): for cleanup. */
  killGroup(): void;
}

/** Starts `keepsake daemon <args>` (add --data-dir etc. yourself) and returns a handle. */
export function startDaemon(args: string[], opts: RunOptions = {}): DaemonHandle {
  const child = spawnCli(['daemon', ...args], opts);
  const pid = child.pid;
  if (pid === undefined) throw new Error('daemon did not start');
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const poke = () => {
    for (const w of waiters) w();
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    poke();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    poke();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      poke();
      resolve({ code, signal });
    }),
  );
  return {
    child,
    pid,
    stdout: () => out,
    stderr: () => err,
    waitForOutput(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = (out + err).match(pattern);
          if (m) {
            done();
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(
              new Error(
                `daemon exited (${String(child.exitCode)}/${String(child.signalCode)}) before ${String(pattern)}\n${out}\n${err}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${String(pattern)} from daemon\n${out}\n${err}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    kill9() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
    terminate() {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
    async waitForExit(timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          killGroup(child);
          reject(new Error(`daemon did not exit within ${timeoutMs} ms\n${out}\n${err}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    killGroup: () => killGroup(child),
  };
}

/** Polls `probe` until it returns a truthy value or the deadline passes (then throws `what`). */
export async function waitFor<T>(
  probe: () => Promise<T> | T,
  opts: { timeoutMs?: number; intervalMs?: number; what: string | (() => string) },
): Promise<NonNullable<T>> {
  const deadline = performance.now() + (opts.timeoutMs ?? 60_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      const what = typeof opts.what === 'function' ? opts.what() : opts.what;
      throw new Error(
        `timed out waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

// ---------------------------------------------------------------------------------------------
// Reading a vault through its API (issue 2): what it holds, with the sha256 it computed.

export interface VaultAsset {
  sha256: string;
  size: number;
  [key: string]: unknown;
}

export interface VaultUsageBody {
  assets: number;
  bytes: number;
  dedupSavedBytes: number;
  [key: string]: unknown;
}

export class VaultReader {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(new URL(path, this.url), {
      ...init,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string> | undefined),
      },
      signal: AbortSignal.timeout(30_000),
    });
    return res;
  }

  private async json<T>(path: string, init?: RequestInit): Promise<T> {
    const res = await this.request(path, init);
    const text = await res.text();
    if (!res.ok) throw new Error(`vault ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }

  /** Every asset the vault holds (follows the paging cursor). */
  async listAssets(): Promise<VaultAsset[]> {
    const all: VaultAsset[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100_000; page++) {
      const q = new URLSearchParams({ limit: '500' });
      if (after) q.set('after', after);
      const body: { assets: VaultAsset[]; next: string | null } = await this.json(
        `/api/v1/assets?${q.toString()}`,
      );
      all.push(...body.assets);
      if (!body.next) return all;
      after = body.next;
    }
    throw new Error('vault asset listing did not end');
  }

  /** sha256 -> asset. */
  async assetsBySha(): Promise<Map<string, VaultAsset>> {
    return new Map((await this.listAssets()).map((a) => [a.sha256, a]));
  }

  async getAsset(sha256: string): Promise<VaultAsset | null> {
    const res = await this.request(`/api/v1/assets/${sha256}`);
    if (res.status === 404) return null;
    const text = await res.text();
    if (!res.ok) throw new Error(`vault asset ${sha256}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as VaultAsset;
  }

  /** The subset of `sha256s` the vault holds (POST /api/v1/assets/check, 1,000 at a time). */
  async check(sha256s: string[]): Promise<Set<string>> {
    const present = new Set<string>();
    for (let i = 0; i < sha256s.length; i += 1000) {
      const body: { present: string[] } = await this.json('/api/v1/assets/check', {
        method: 'POST',
        body: JSON.stringify({ sha256: sha256s.slice(i, i + 1000) }),
      });
      for (const s of body.present) present.add(s);
    }
    return present;
  }

  /** The bytes of one asset, as the vault serves them. */
  async content(sha256: string): Promise<Buffer> {
    const res = await this.request(`/api/v1/assets/${sha256}/content`);
    if (!res.ok) throw new Error(`vault content ${sha256}: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  async usage(): Promise<VaultUsageBody> {
    return this.json('/api/v1/usage');
  }

  async metricsText(): Promise<string> {
    const res = await this.request('/metrics');
    return res.text();
  }
}

/** Sum of every sample of a Prometheus metric whose name matches (labels ignored). */
export function metricSum(text: string, name: RegExp): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && name.test(m[1]!)) sum += Number(m[3]);
  }
  return sum;
}

/** What `keepsake backup --json` prints (issue 3 "CLI"). */
export interface BackupSummary {
  files: number;
  backedUp: number;
  duplicates: number;
  excluded: number;
  failed: number;
  bytesUploaded: number;
  seconds: number;
  [key: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// Process accounting from /proc (Linux), for the benchmarks: CPU time and peak memory.

let clockTicks: number | null = null;
function ticksPerSecond(): number {
  if (clockTicks === null) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clockTicks = Number(out.stdout.trim()) || 100;
  }
  return clockTicks;
}

/** user+system CPU seconds a live process has used (/proc/<pid>/stat utime+stime). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name (field 2) may contain spaces: fields after the closing paren
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); utime is field 14, stime 15 => index 11, 12
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** Peak resident set size of a live process in bytes (/proc/<pid>/status VmHWM). */
export function processPeakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+)\s+kB/.exec(status);
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Pids of a process and all its descendants (exiftool, workers run as threads not processes). */
export function processTree(pid: number): number[] {
  const out = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  const children = new Map<number, number[]>();
  for (const line of out.stdout.split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (!p || pp === undefined) continue;
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const all: number[] = [];
  const visit = (p: number) => {
    all.push(p);
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return all;
}

// ---------------------------------------------------------------------------------------------
// The engine in-process, through its API (main/engine/api.ts): for tests that need per-file
// states. One place builds it, so the tests do not depend on createEngine's option names.

export interface EngineVault {
  url: string;
  token: string;
}

/** createEngine on `dataDir` against `vault` (not started: call engine.start() yourself). */
export async function openEngine(
  dataDir: string,
  vault: EngineVault | null,
  extra: Record<string, unknown> = {},
): Promise<Engine> {
  const { createEngine } = await import('../../main/engine/engine.js');
  return createEngine({
    dataDir,
    ...(vault ? { vault: { url: vault.url, token: vault.token } } : {}),
    ...extra,
  });
}

/** Every file row an engine knows (pages through files.list). */
export async function listFiles(engine: Engine): Promise<FileRow[]> {
  const rows: FileRow[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page = await engine.api['files.list']({ limit: 1000, cursor });
    rows.push(...page.files);
    if (!page.next) return rows;
    cursor = page.next;
  }
}

/** The file rows of a data directory that no engine is using right now (e.g. after a CLI run). */
export async function listEngineFiles(dataDir: string): Promise<FileRow[]> {
  const engine = await openEngine(dataDir, null);
  try {
    return await listFiles(engine);
  } finally {
    await engine.close();
  }
}
