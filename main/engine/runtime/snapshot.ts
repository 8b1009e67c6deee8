// Reading a data directory without starting an engine: what `keepsake status` and
// `keepsake files` show, and the
// vault URL a person set in Settings (the host decides between it and the embedded vault
// before it builds an engine). Works beside a running daemon, which holds the data-directory
// lock: the database is opened read-only and nothing is written.
import { existsSync } from 'node:fs';
import type {
  ActivityEvent,
  FileState,
  Folder,
  StateCounts,
  VerifyReceipt,
} from '../../../common/contract.js';
import { databasePath } from '../data-dir.js';
import { systemClock } from '../ports.js';
import { openDatabaseReadOnly } from '../store/database.js';
import { readChoices } from '../store/person-choices.js';
import { createStore, type FileRecord, type Store } from '../store/store.js';
import { emptyCounts, safeFileProblem, tally, type Tally } from './status.js';

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
  /**
   * Backed-up photos of 0 bytes: 'empty_file', or 'possible_damage' when one was backed up
   * with more bytes and is now empty (the earlier version stays on the vault).
   */
  emptyFiles: { path: string; relPath: string; code: string; message: string }[];
  /** Backed-up files whose place the vault refused to record ('place_not_recorded'). */
  placesNotRecorded: { path: string; relPath: string; code: string; message: string }[];
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
      emptyFiles: store.emptyFiles(1000).flatMap((f) => {
        const problem = safeFileProblem(f);
        return problem === null ? [] : [{ path: f.path, relPath: f.relPath, ...problem }];
      }),
      placesNotRecorded: store.locationRefusedFiles(1000).flatMap((f) => {
        const problem = safeFileProblem(f);
        return problem?.code !== 'place_not_recorded'
          ? []
          : [{ path: f.path, relPath: f.relPath, ...problem }];
      }),
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
      emptyFiles: [],
      placesNotRecorded: [],
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
    // A database too damaged to read is rebuilt with the copy of the person's choices: the
    // vault they set must be the one it backs up to, not an embedded one started meanwhile.
    const url = readChoices(dataDir)?.settings.vaultUrl;
    return typeof url === 'string' && url !== '' ? url : null;
  }
}

/** One line of `keepsake files`: a file, or a folder that could not be read ('unreadable'). */
export interface FileListing {
  path: string;
  state: FileState | 'unreadable';
  /** Why it is in this state, in words, when the state needs one (null: backed up, queued...). */
  reason: string | null;
  sha256: string | null;
  /** bytes; null for a folder */
  size: number | null;
}

/** What a freed-up file's state means, wherever it is listed. */
export const freedReason =
  "on the vault only: freed up at your request (moved to the system's trash); keepsake restore puts it back";

/** Why a file is where it is, for the states that need a word (and for an empty photo). */
export function reasonOf(f: FileRecord): string | null {
  switch (f.state) {
    case 'failed':
      return f.error?.message ?? 'failed';
    case 'excluded':
      return f.excludedBy ?? 'excluded by a rule';
    case 'skipped':
      return f.excludedBy ?? 'not a photo or video';
    case 'missing':
      return 'gone from disk (what the vault holds of it stays there)';
    case 'vault_only':
      return freedReason;
    case 'backed_up':
    case 'duplicate':
      return safeFileProblem(f)?.message ?? null;
    case 'discovered':
    case 'hashing':
    case 'queued':
    case 'uploading':
      return f.error?.message ?? null;
    default: {
      const never: never = f.state;
      return String(never);
    }
  }
}

/**
 * Every file Keepsake knows under the watched folders (skipped, excluded and missing ones
 * too), then every folder the last scan could not read, as FileListings in id order. Reads
 * the database read-only, so it works beside a running daemon. No database: nothing.
 */
export function listEveryFile(dataDir: string, visit: (line: FileListing) => void): void {
  withReadOnlyStore(dataDir, (store) => {
    for (const f of store.everyFile()) {
      visit({ path: f.path, state: f.state, reason: reasonOf(f), sha256: f.sha256, size: f.size });
    }
    for (const p of store.folderProblems()) {
      visit({ path: p.path, state: 'unreadable', reason: p.message, sha256: null, size: null });
    }
  });
}
