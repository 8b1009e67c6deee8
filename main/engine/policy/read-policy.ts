// Reads an administrator's policy from where each OS keeps it (issue 13 §3), and watches it for
// changes. The keys and their checks are common/policy.ts's; this module only finds the
// documents and decodes their formats:
//   KEEPSAKE_POLICY_FILE   a JSON file (tests, and IT tools that prefer files); it replaces
//                          the OS location below when set;
//   Linux (and others)     /etc/keepsake/policy.json;
//   macOS                  /Library/Managed Preferences/<user>/<bundle id>.plist, then
//                          /Library/Managed Preferences/<bundle id>.plist (the computer's
//                          wins), as MDM profiles install them (XML or binary plists);
//   Windows                HKCU\SOFTWARE\Policies\Keepsake, then HKLM\... (the machine's
//                          wins), through `reg query KEY /s`.
//
// Invariant: reading never throws: a missing document is no policy, an unreadable one or a
// bad key is a problem naming the file (or registry key) and the key, and every other key of
// that policy still applies. System paths hang off `systemRoot` so tests use real files.
import { execFile } from 'node:child_process';
import { readFile, type Stats, unwatchFile, watchFile } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { parse as parsePlist, type PlistValue } from 'plist';
import {
  emptyPolicy,
  mergePolicies,
  validatePolicy,
  type Policy,
  type PolicyProblem,
} from '../../../common/policy.js';
import { KeepsakeError } from '../errors.js';
import { parseBandwidthLimit } from '../vault/bandwidth.js';
import { parseRegQuery, registryToRaw } from './registry.js';

/** The desktop app's bundle id (electron-builder.yml appId): the managed preferences domain. */
export const policyBundleId = 'app.keepsake.desktop';
export const registryPolicyKeys = [
  'HKEY_CURRENT_USER\\SOFTWARE\\Policies\\Keepsake',
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Keepsake',
] as const;

/** Runs `reg` with the arguments; resolves its exit code and output (never rejects). */
export type RunReg = (args: string[]) => Promise<{ code: number; stdout: string; error?: string }>;

export interface PolicyLocations {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** Prefix of every system path: '/' in production, a temp directory in tests. */
  systemRoot: string;
  /** macOS: the login name for per-user managed preferences. */
  userName: string;
  runReg: RunReg;
}

export const runRegTool: RunReg = (args) =>
  new Promise((resolve) => {
    execFile('reg', args, { windowsHide: true, timeout: 15_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({
        code,
        stdout,
        ...(err && typeof err.code !== 'number' ? { error: err.message } : {}),
      });
    });
  });

export function systemPolicyLocations(env: NodeJS.ProcessEnv = process.env): PolicyLocations {
  let userName = '';
  try {
    userName = userInfo().username;
  } catch {
    // No passwd entry (a container): no per-user managed preferences.
  }
  return { platform: process.platform, env, systemRoot: '/', userName, runReg: runRegTool };
}

/** The policy files read on this platform, in merge order (later wins). */
export function policyFiles(loc: PolicyLocations): string[] {
  const file = loc.env.KEEPSAKE_POLICY_FILE;
  if (file !== undefined && file !== '') return [file];
  if (loc.platform === 'win32') return [];
  if (loc.platform === 'darwin') {
    const dir = join(loc.systemRoot, 'Library', 'Managed Preferences');
    return [
      ...(loc.userName !== '' ? [join(dir, loc.userName, `${policyBundleId}.plist`)] : []),
      join(dir, `${policyBundleId}.plist`),
    ];
  }
  return [join(loc.systemRoot, 'etc', 'keepsake', 'policy.json')];
}

function readBytes(path: string): Promise<Buffer | null | Error> {
  return new Promise((resolve) => {
    readFile(path, (err, data) => {
      if (err === null) resolve(data);
      else if (err.code === 'ENOENT' || err.code === 'ENOTDIR') resolve(null);
      else resolve(err);
    });
  });
}

function problemPolicy(source: string, message: string): Policy {
  return { ...emptyPolicy, sources: [source], problems: [{ source, key: null, message }] };
}

function fromRaw(raw: unknown, source: string): Policy {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return problemPolicy(source, 'the policy is not a set of keys (an object / dictionary)');
  }
  const { values, locked, problems } = validatePolicy(raw as Record<string, unknown>, source);
  if (values.bandwidthLimit !== undefined) {
    try {
      parseBandwidthLimit(values.bandwidthLimit);
    } catch (err) {
      problems.push({
        source,
        key: 'bandwidthLimit',
        message: `"bandwidthLimit": ${err instanceof KeepsakeError ? err.message : String(err)}; ignored, the rest of the policy applies`,
      });
      delete values.bandwidthLimit;
    }
  }
  return { values, locked, sources: [source], problems };
}

/** A policy.json document. */
export function parseJsonPolicy(text: string, source: string): Policy {
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\ufeff/, ''));
  } catch (err) {
    return problemPolicy(
      source,
      `not valid JSON (${err instanceof Error ? err.message : String(err)}); no policy from this file applies`,
    );
  }
  return fromRaw(raw, source);
}

/** A managed preferences plist (XML or binary "bplist00", as MDM writes them). */
export function parsePlistPolicy(bytes: Uint8Array, source: string): Policy {
  let raw: PlistValue;
  try {
    const binary = Buffer.from(bytes.subarray(0, 6)).toString('latin1') === 'bplist';
    raw = parsePlist(binary ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    return problemPolicy(
      source,
      `not a readable property list (${err instanceof Error ? err.message : String(err)}); no policy from this file applies`,
    );
  }
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !(raw instanceof Date)) {
    // Profile bookkeeping some MDMs leave beside the keys is not policy.
    const keys = Object.fromEntries(
      Object.entries(raw).filter(([k]) => !k.startsWith('Payload') && k !== 'PolicyVersion'),
    );
    return fromRaw(keys, source);
  }
  return fromRaw(raw, source);
}

async function readFilePolicy(path: string): Promise<Policy | null> {
  const bytes = await readBytes(path);
  if (bytes === null) return null;
  if (bytes instanceof Error) {
    return problemPolicy(
      path,
      `cannot be read (${bytes.message}); no policy from this file applies`,
    );
  }
  return path.toLowerCase().endsWith('.plist')
    ? parsePlistPolicy(bytes, path)
    : parseJsonPolicy(bytes.toString('utf8'), path);
}

async function readRegistryPolicy(loc: PolicyLocations, key: string): Promise<Policy | null> {
  const out = await loc.runReg(['query', key, '/s']);
  // Exit code 1 with no output: the key does not exist, so no policy there.
  if (out.code !== 0) {
    return out.error !== undefined
      ? problemPolicy(key, `the registry could not be read (${out.error})`)
      : null;
  }
  const raw = registryToRaw(parseRegQuery(out.stdout), key);
  return raw === null ? null : fromRaw(raw, key);
}

/** Reads the policy that applies now (see the module header for where). Never throws. */
export async function readPolicy(loc: PolicyLocations): Promise<Policy> {
  const parts: (Policy | null)[] = [];
  const files = policyFiles(loc);
  if (loc.platform === 'win32' && files.length === 0) {
    for (const key of registryPolicyKeys) parts.push(await readRegistryPolicy(loc, key));
  } else {
    for (const file of files) parts.push(await readFilePolicy(file));
  }
  return mergePolicies(parts.filter((p): p is Policy => p !== null));
}

/** One line per problem, for logs, stderr and the activity list. */
export function describePolicyProblem(p: PolicyProblem): string {
  return `Policy ${p.source}: ${p.message}`;
}

/**
 * "~" and %VARIABLES% in a required folder (policy folders are written once for a fleet).
 * An unknown %VARIABLE% is left as written, so the folder check names it.
 */
export function expandPolicyPath(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): string {
  let out = path;
  if (out === '~' || out.startsWith('~/') || out.startsWith('~\\')) out = home + out.slice(1);
  out = out.replace(/%([A-Za-z0-9_()]+)%/g, (whole, name: string) => {
    const hit = Object.keys(env).find((k) => k.toLowerCase() === name.toLowerCase());
    return hit !== undefined ? (env[hit] ?? whole) : whole;
  });
  return out;
}

export interface PolicyWatch {
  close(): void;
}

/**
 * Calls onChange with the new policy whenever what applies changes: the files are polled by
 * stat (fs.watchFile, which also sees a file that did not exist yet, and survives the
 * rename-into-place editors and configuration tools use), the registry re-read on a timer
 * (`reg` has no change notification without native code).
 */
export function watchPolicy(
  loc: PolicyLocations,
  current: Policy,
  onChange: (policy: Policy) => void,
  options: {
    fileIntervalMs?: number;
    registryIntervalMs?: number;
    /** Keep the process alive while watching (default false: the caller's work does). */
    persistent?: boolean;
  } = {},
): PolicyWatch {
  let last = JSON.stringify(current);
  let closed = false;
  let reading = false;
  let again = false;
  const reread = async (): Promise<void> => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        const next = await readPolicy(loc);
        const text = JSON.stringify(next);
        if (!closed && text !== last) {
          last = text;
          onChange(next);
        }
      } while (again && !closed);
    } finally {
      reading = false;
    }
  };
  const files = policyFiles(loc);
  const listener = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) {
      void reread();
    }
  };
  for (const f of files) {
    watchFile(
      f,
      { interval: options.fileIntervalMs ?? 2000, persistent: options.persistent ?? false },
      listener,
    );
  }
  // fs.watchFile takes its first stat in the background: a file written between the caller's
  // read and that stat would be its baseline, and never a change. One read now, compared with
  // what the caller read, closes that gap (a test that wrote right after watchPolicy returned
  // waited forever in CI, 2026-11-29).
  void reread();
  let timer: ReturnType<typeof setInterval> | null = null;
  if (loc.platform === 'win32' && files.length === 0) {
    timer = setInterval(() => void reread(), options.registryIntervalMs ?? 5 * 60_000);
    timer.unref();
  }
  return {
    close() {
      closed = true;
      for (const f of files) unwatchFile(f, listener);
      if (timer !== null) clearInterval(timer);
    },
  };
}
