// Real Keepsake Vaults for tests: in-process (startTestVault) or as a child process running
// `keepsake vault` from source (spawnVaultProcess), for tests that kill it with SIGKILL.
// Every vault listens on 127.0.0.1 with an ephemeral port and a temp data directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { startVault, type RunningVault, type VaultOptions } from '../../server/vault.js';
import { makeTempDir, repoRoot } from './paths.js';

export type TestVault = RunningVault & { dataDir: string };

/**
 * A vault in this process on a fresh temp dir (unless opts.dataDir is given) and port 0.
 * close() stops it and removes the temp dir it made (a given dataDir is left alone).
 */
export async function startTestVault(opts: Partial<VaultOptions> = {}): Promise<TestVault> {
  const temp = opts.dataDir === undefined ? await makeTempDir('keepsake-vault-') : undefined;
  const dataDir = opts.dataDir ?? temp!.dir;
  let vault: RunningVault;
  try {
    vault = await startVault({ port: 0, ...opts, dataDir });
  } catch (err) {
    await temp?.cleanup();
    throw err;
  }
  return {
    ...vault,
    dataDir,
    close: async () => {
      try {
        await vault.close();
      } finally {
        await temp?.cleanup();
      }
    },
  };
}

export interface VaultProcessOptions {
  dataDir: string;
  /** default 0 (ephemeral) */
  port?: number;
  host?: string;
  token?: string;
  quotaBytes?: number;
  maxSizeBytes?: number;
  /** extra environment */
  env?: NodeJS.ProcessEnv;
  /** how long to wait for "vault listening on", ms (default 30 s) */
  startTimeoutMs?: number;
}

export interface VaultProcess {
  url: string;
  token: string;
  child: ChildProcess;
  /** everything the process printed so far */
  output(): { stdout: string; stderr: string };
  /** SIGKILL, and resolves once the process is gone */
  kill9(): Promise<void>;
  /** SIGTERM, and resolves with the exit code once the process is gone */
  stop(): Promise<number | null>;
}

function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Runs `node --import tsx main/cli/main.ts vault ...` and resolves once it prints
 * `vault listening on URL`. The token is opts.token, else the one the vault printed on first
 * start, else the one stored in the data directory.
 */
export async function spawnVaultProcess(opts: VaultProcessOptions): Promise<VaultProcess> {
  const args = ['--import', 'tsx', 'main/cli/main.ts', 'vault', '--data-dir', opts.dataDir];
  args.push('--port', String(opts.port ?? 0));
  if (opts.host !== undefined) args.push('--host', opts.host);
  if (opts.token !== undefined) args.push('--token', opts.token);
  if (opts.quotaBytes !== undefined) args.push('--quota', String(opts.quotaBytes));
  if (opts.maxSizeBytes !== undefined) args.push('--max-size', String(opts.maxSizeBytes));
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const kill9 = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await waitForExit(child);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `vault did not start within ${opts.startTimeoutMs ?? 30_000} ms:\n${stdout}\n${stderr}`,
            ),
          ),
        opts.startTimeoutMs ?? 30_000,
      );
      const onData = () => {
        const m = /vault listening on (http:\/\/\S+)/.exec(stdout);
        if (m?.[1]) {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          child.off('exit', onExit);
          resolve(m[1]);
        }
      };
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`vault exited with ${code} before listening:\n${stdout}\n${stderr}`));
      };
      child.stdout.on('data', onData);
      child.once('exit', onExit);
    });
    let token = opts.token ?? /token: (\S+)/.exec(stdout)?.[1];
    if (token === undefined) {
      const { readFile } = await import('node:fs/promises');
      token = (await readFile(`${opts.dataDir}/token`, 'utf8')).trim();
    }
    return {
      url,
      token,
      child,
      output: () => ({ stdout, stderr }),
      kill9,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        return waitForExit(child);
      },
    };
  } catch (err) {
    await kill9();
    throw err;
  }
}

/** Removes a directory made for a vault process (after kill9/stop). */
export async function removeVaultDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
