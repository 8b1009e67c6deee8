// What the `keepsake` commands share: parsing the vault, data-dir, bandwidth, chunk-size and
// concurrency options into what main/host/ starts (the engine, and the embedded vault when no
// --to is given), and turning bad input into one clear line and exit code 2 (UsageError).
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultDataDir } from '../engine/data-dir.js';
import type { EngineOptions } from '../engine/api.js';
import type { EmbeddedVault } from '../host/embedded-vault.js';
import { KeepsakeError } from '../engine/errors.js';
import { jsonLogger, type Logger } from '../engine/ports.js';
import { parseBandwidthLimit, parseChunkSize } from '../engine/vault/bandwidth.js';
import { lockedMessage, type LockableKey, type Policy } from '../../common/policy.js';
import {
  describePolicyProblem,
  readPolicy,
  systemPolicyLocations,
  type PolicyLocations,
} from '../engine/policy/read-policy.js';

/** Bad input from the person: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** KeepsakeError codes that mean "the input was wrong", not "something failed". */
export const usageErrorCodes: ReadonlySet<string> = new Set([
  'folder_not_found',
  'folder_not_a_directory',
  'folder_overlaps',
  'data_dir_locked',
  'database_newer',
  'invalid_argument',
  // a flag (or folder) the organisation's policy locks
  'setting_locked',
]);

/** Exit code and one line for anything a command throws. */
export function describeFailure(err: unknown): { code: number; line: string } {
  if (err instanceof UsageError) return { code: 2, line: err.message };
  if (err instanceof KeepsakeError) {
    return { code: usageErrorCodes.has(err.code) ? 2 : 1, line: err.message };
  }
  return { code: 1, line: err instanceof Error ? err.message : String(err) };
}

export interface EngineCliOptions {
  dataDir?: string;
  to?: string;
  token?: string;
  caFile?: string;
  bwlimit?: string;
  chunkSize?: string;
  concurrency?: string;
  /** a one-time enrolment code to exchange at --to for this device's own token */
  enroll?: string;
}

export interface ParsedEngineCliOptions {
  dataDir: string;
  vault: { url: string; token: string; caFile?: string } | null;
  /** --enroll CODE --to URL: exchanged before the host opens (see enrol.ts) */
  enrol: { url: string; code: string } | null;
  overrides: NonNullable<EngineOptions['overrides']>;
}

/**
 * A vault named on the command line (`--to` of backup, daemon and verify, `--from` of
 * restore): an http(s) URL without trailing slashes, and the token it needs.
 */
export function vaultFlag(
  flag: string,
  value: string,
  token: string | undefined,
): { url: string; token: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag}: "${value}" is not a URL (expected e.g. http://nas.local:7418)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${flag}: "${value}" must be an http:// or https:// URL`);
  }
  if (!token) {
    throw new UsageError(`${flag} needs --token TOKEN (or KEEPSAKE_TOKEN in the environment)`);
  }
  return { url: value.replace(/\/+$/, ''), token };
}

/** Validates every option before anything starts (so bad input never half-starts a run). */
export function parseEngineCliOptions(
  opts: EngineCliOptions,
  env: NodeJS.ProcessEnv = process.env,
): ParsedEngineCliOptions {
  const dataDir = resolve(opts.dataDir ?? env.KEEPSAKE_DATA_DIR ?? defaultDataDir());
  let vault: ParsedEngineCliOptions['vault'] = null;
  const token = opts.token ?? env.KEEPSAKE_TOKEN;
  let enrol: ParsedEngineCliOptions['enrol'] = null;
  if (opts.enroll !== undefined) {
    if (opts.to === undefined) {
      throw new UsageError('--enroll needs --to URL (the vault that issued the code)');
    }
    if (opts.token !== undefined) {
      throw new UsageError('--enroll gets this computer its own token: leave out --token');
    }
    enrol = { url: vaultFlag('--to', opts.to, 'enrolling').url, code: opts.enroll };
  } else if (opts.to !== undefined) {
    vault = vaultFlag('--to', opts.to, token);
  } else if (opts.token !== undefined) {
    throw new UsageError('--token is only used with --to URL');
  }
  if (opts.caFile !== undefined) {
    if (!existsSync(opts.caFile) || !statSync(opts.caFile).isFile()) {
      throw new UsageError(`--ca-file: no such file ${opts.caFile}`);
    }
    if (vault) vault.caFile = resolve(opts.caFile);
    if (enrol) throw new UsageError('--enroll does not take --ca-file yet: enrol over trusted TLS');
  }
  const overrides: ParsedEngineCliOptions['overrides'] = {};
  if (opts.concurrency !== undefined) {
    const n = Number(opts.concurrency);
    if (!/^\d+$/.test(opts.concurrency) || n < 1 || n > 16) {
      throw new UsageError(
        `--concurrency: expected a whole number from 1 to 16, got "${opts.concurrency}"`,
      );
    }
    overrides.concurrency = n;
  }
  try {
    if (opts.bwlimit !== undefined) {
      parseBandwidthLimit(opts.bwlimit);
      overrides.bandwidthLimit = opts.bwlimit;
    }
    if (opts.chunkSize !== undefined) overrides.chunkSizeBytes = parseChunkSize(opts.chunkSize);
  } catch (err) {
    if (err instanceof KeepsakeError) {
      throw new UsageError(
        `${opts.bwlimit !== undefined && !overrides.bandwidthLimit ? '--bwlimit' : '--chunk-size'}: ${err.message}`,
      );
    }
    throw err;
  }
  return { dataDir, vault, enrol, overrides };
}

export function cliLogger(defaultLevel: 'debug' | 'info' | 'warn' | 'error'): Logger {
  const env = process.env.KEEPSAKE_LOG_LEVEL;
  const level =
    env === 'debug' || env === 'info' || env === 'warn' || env === 'error' ? env : defaultLevel;
  return jsonLogger((line) => process.stderr.write(line), level);
}

/**
 * The data directory's embedded vault for a one-off command (restore, verify): the one a
 * running daemon or the desktop app serves, else started in this process (the caller closes
 * `embedded`). See [Note: Finding a running embedded vault] in host/embedded-vault.ts.
 * `instead` names the flags that pick another vault, for when a process holds this one
 * without saying where it listens.
 */
export async function useEmbeddedVault(
  dataDir: string,
  instead: string,
): Promise<{ url: string; token: string; embedded: EmbeddedVault | null }> {
  // Loaded only here: the vault server is most of what a command would otherwise load.
  const { runningEmbeddedVault, startEmbeddedVault } = await import('../host/embedded-vault.js');
  const running = runningEmbeddedVault(dataDir);
  if (running?.url != null) return { url: running.url, token: running.token, embedded: null };
  if (running !== null) {
    throw new UsageError(
      `the vault in ${dataDir} is in use by process ${running.pid}, which does not say where it listens: stop that process and run this again, or give ${instead}`,
    );
  }
  const embedded = await startEmbeddedVault(dataDir);
  return { url: embedded.url, token: embedded.token, embedded };
}

/** Command-line flags and the policy key each one changes for a run. */
const lockableFlags: readonly (readonly [keyof EngineCliOptions, string, LockableKey])[] = [
  ['to', '--to', 'vaultUrl'],
  ['bwlimit', '--bwlimit', 'bandwidthLimit'],
  ['concurrency', '--concurrency', 'concurrency'],
  ['chunkSize', '--chunk-size', 'chunkSizeBytes'],
];

/**
 * The organisation's policy for a command that runs the engine: read once, its problems printed
 * as one line each (the rest of the policy applies), and every flag that would change a locked
 * setting refused with the reason (exit 2). See [Note: What a policy means] in common/policy.ts.
 */
export async function cliPolicy(
  command: string,
  opts: EngineCliOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ locations: PolicyLocations; current: Policy }> {
  const locations = systemPolicyLocations(env);
  const current = await readPolicy(locations);
  for (const problem of current.problems) {
    process.stderr.write(`keepsake ${command}: ${describePolicyProblem(problem)}\n`);
  }
  for (const [option, flag, key] of lockableFlags) {
    const value = opts[option];
    if (value === undefined || !current.locked.includes(key)) continue;
    const same =
      key === 'vaultUrl' &&
      current.values.vaultUrl !== undefined &&
      value.replace(/\/+$/, '') === current.values.vaultUrl.replace(/\/+$/, '');
    if (!same) throw new UsageError(`${flag}: ${lockedMessage(key)}`);
  }
  return { locations, current };
}
