// Reading a data directory without starting an engine: what `keepsake status` shows, and the
// vault a person configured in Settings (the CLI decides between it and the embedded vault
// before it builds an engine). Works beside a running daemon, which holds the data-directory
// lock: the database is opened read-only and nothing is written.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActivityEvent, Folder, StateCounts } from '../../../common/contract.js';
import { databasePath } from '../data-dir.js';
import { systemClock } from '../ports.js';
import { openDatabaseReadOnly } from '../store/database.js';
import { createStore, type Store } from '../store/store.js';
import { emptyCounts, tally, type Tally } from './status.js';

/** File in the data directory holding the vault token set through settings.set (mode 0600). */
export const vaultTokenFileName = 'vault-token';

export interface StatusSnapshot extends Omit<Tally, 'filesSafe'> {
  folders: {
    id: Folder['id'];
    path: string;
    counts: StateCounts;
    lastScanAt: number | null;
  }[];
  failedFiles: {
    path: string;
    relPath: string;
    code: string;
    message: string;
    retryable: boolean;
  }[];
  lastErrors: ActivityEvent[];
}

function withReadOnlyStore<T>(dataDir: string, read: (store: Store) => T): T | null {
  const dbFile = databasePath(dataDir);
  if (!existsSync(dbFile)) return null;
  const store = createStore(openDatabaseReadOnly(dbFile), systemClock);
  try {
    return read(store);
  } finally {
    store.close();
  }
}

/** Counts per state and folder, failed files and the last errors; all zero with no database. */
export function readStatusSnapshot(dataDir: string): StatusSnapshot {
  const snapshot = withReadOnlyStore(dataDir, (store) => {
    const summary = store.summary();
    const { filesSafe: _safe, ...totals } = tally(summary);
    return {
      ...totals,
      folders: store.listFolders().map((f) => ({
        id: f.id,
        path: f.path,
        counts: tally(summary, f.id).counts,
        lastScanAt: f.lastScanAt,
      })),
      failedFiles: store.listFiles({ state: 'failed', limit: 1000 }).files.map((f) => ({
        path: f.path,
        relPath: f.relPath,
        code: f.error?.code ?? 'internal',
        message: f.error?.message ?? 'failed',
        retryable: f.error?.retryable ?? false,
      })),
      lastErrors: store.lastErrors(20),
    };
  });
  return (
    snapshot ?? {
      counts: emptyCounts(),
      filesTotal: 0,
      bytesTotal: 0,
      bytesSafe: 0,
      bytesPending: 0,
      folders: [],
      failedFiles: [],
      lastErrors: [],
    }
  );
}

/**
 * The vault a person configured through settings.set (vaultUrl + vaultToken), read without
 * starting an engine. null when unset or unreadable.
 */
export function storedVaultConfig(dataDir: string): { url: string; token: string } | null {
  let url: unknown = null;
  try {
    url = withReadOnlyStore(dataDir, (store) => store.userSettings().get('vaultUrl') ?? null);
  } catch {
    return null;
  }
  if (typeof url !== 'string' || url === '') return null;
  let token = '';
  try {
    token = readFileSync(join(dataDir, vaultTokenFileName), 'utf8').trim();
  } catch {
    return null;
  }
  return token ? { url, token } : null;
}
