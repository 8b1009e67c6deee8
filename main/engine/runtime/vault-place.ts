// Where the backup physically is, as far as this computer can tell: the embedded vault's
// directory, and whether it shares a filesystem (a disk) with a watched folder. The Overview
// and `keepsake backup` use it so a copy on the same disk is never called plainly "safe"
// (issue 9 item 14). Invariant: an answer is at most `ttlMs` old, and a folder or directory
// that cannot be stat'ed is never reported as sharing a disk.
import { statSync } from 'node:fs';
import type { Clock } from '../ports.js';

export interface VaultPlace {
  /** The embedded vault's storage directory, or null for any other vault. */
  dir: string | null;
  /** The first of `folders` on the same filesystem as the vault's storage, or null. */
  sameDiskAs(folders: readonly string[]): string | null;
}

/** The device id of a path's filesystem, or null when it cannot be read. */
export function deviceOf(path: string): number | null {
  try {
    return statSync(path).dev;
  } catch {
    return null;
  }
}

/**
 * For an embedded vault in `dir` (null: a vault elsewhere, whose disk this computer cannot
 * see, so `sameDiskAs` is always null). Cached: the status is read several times a second.
 */
export function createVaultPlace(dir: string | null, clock: Clock, ttlMs = 60_000): VaultPlace {
  let cached: { key: string; at: number; answer: string | null } | null = null;
  return {
    dir,
    sameDiskAs(folders) {
      if (dir === null || folders.length === 0) return null;
      const key = folders.join('\0');
      const now = clock.now();
      if (cached && cached.key === key && now - cached.at < ttlMs) return cached.answer;
      const vaultDev = deviceOf(dir);
      const answer =
        vaultDev === null ? null : (folders.find((f) => deviceOf(f) === vaultDev) ?? null);
      cached = { key, at: now, answer };
      return answer;
    },
  };
}
