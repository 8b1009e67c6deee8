// Reading a data directory without starting an engine: what `keepsake status` shows, and the
// vault URL a person set in Settings (the host decides between it and the embedded vault
// before it builds an engine). Works beside a running daemon, which holds the data-directory
// lock: the database is opened read-only and nothing is written.
import { existsSync } from 'node:fs';
import type {
  ActivityEvent,
  Folder,
  StateCounts,
  VerifyReceipt,
} from '../../../common/contract.js';
import { databasePath } from '../data-dir.js';
import { systemClock } from '../ports.js';
import { openDatabaseReadOnly } from '../store/database.js';
import { createStore, type Store } from '../store/store.js';
import { emptyCounts, tally, type Tally } from './status.js';

export interface StatusSnapshot extends Omit<Tally, 'filesSafe'> {
  folders: {
    id: Folder['id'];
    path: string;
    counts: StateCounts;
    lastScanAt: number | null;
  }[];
  /** Folders (watched roots or sub-folders) the last scan could not read, with the reason. */
  unreadableFolders: { path: string; code: string; message: string }[];
  failedFiles: {
    path: string;
    relPath: string;
    code: string;
    message: string;
    retryable: boolean;
  }[];
  lastErrors: ActivityEvent[];
  /** The receipt of the last `keepsake verify` (or Verify now); null when never verified. */
  lastVerify: VerifyReceipt | null;
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
      unreadableFolders: store
        .folderProblems()
        .map((p) => ({ path: p.path, code: p.code, message: p.message })),
      failedFiles: store.listFiles({ state: 'failed', limit: 1000 }).files.map((f) => ({
        path: f.path,
        relPath: f.relPath,
        code: f.error?.code ?? 'internal',
        message: f.error?.message ?? 'failed',
        retryable: f.error?.retryable ?? false,
      })),
      lastErrors: store.lastErrors(20),
      lastVerify: store.verify.lastReceipt(),
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
      unreadableFolders: [],
      failedFiles: [],
      lastErrors: [],
      lastVerify: null,
    }
  );
}

/**
 * The vault URL a person set in Settings, read without starting an engine (the host pairs it
 * with the token from the SecretStore). null when unset or unreadable.
 */
export function storedVaultUrl(dataDir: string): string | null {
  try {
    const url = withReadOnlyStore(dataDir, (store) => store.userSettings().get('vaultUrl'));
    return typeof url === 'string' && url !== '' ? url : null;
  } catch {
    return null;
  }
}
