// The SQLite implementation of the Store (types.ts): every query the engine runs, as prepared
// statements with typed row mappers, the only place with SQL (besides migrations.ts).
//
// Invariants: a file's `state` changes only through apply() (a named transition from
// pipeline/transitions.ts, checked against the state table) or insertFile(); a change is
// announced to onCommitted() listeners only after the transaction holding it committed.
//
// [Note: Group commit]
// A first backup makes several changes per file (discovered, hashing, queued, checked,
// uploading, backed up). Committing each one alone cost ~9 commits per file, most of the main
// thread on small files. Instead the store keeps ONE write transaction open and commits it
// when it holds commitEveryChanges changes or is commitEveryMs old, whichever comes first
// (and on close()). Reads on this connection see every applied change at once, so the stages
// decide on the newest state; other processes (`keepsake status`) see it at most
// commitEveryMs later. A crash loses at most the open group, and every state in it is one the
// next start continues from: the committed state is older but still true (a file not yet
// marked backed_up is asked about on the vault again and found there, never uploaded twice;
// an upload URL not yet committed costs a restart of that upload). Listeners hear of a change
// only after its commit, so "safe" is never shown or acted on before it is durable.
//
// [Note: Store statement costs]
// Every transition writes one row and announces the row as it now is, six or more times per
// file on a first backup, so these statements are the engine's hottest code. Measured with
// better-sqlite3 on a 5,000-row files table (CPU per statement): the hash transition's
// UPDATE ... RETURNING * cost 45-57 us, the same UPDATE followed by a SELECT by id 10-16 us
// (SQLite buffers RETURNING rows in an ephemeral table). So writes run plain and the row is
// read back by id. Rows are read without the `metadata` column (raw exiftool tags, up to
// 32 KB each) except where the metadata pump needs it.
//
// [Note: Store fault mode]
// A storage fault (a full disk, a damaged file: see [Note: Storage faults] in database.ts)
// puts the store in fault mode at once: the open group is rolled back (its changes were never
// durable, so nobody hears of them), onFault is told once, and from then on nothing is
// written. State changes (apply) answer null, as for a file no longer in the transition's
// source state, so every stage stops quietly; bookkeeping writes (offsets, metadata, activity)
// are dropped; the work lists (next to hash, dedup, upload, metadata) are empty, so no stage
// loops on work it cannot record; writes that must answer (a new file or folder) throw the
// fault. What is durable stays a state the engine continues from (see [Note: Group commit]).
// retryAfterFault() tries one small write; when it works (space was freed) the store writes
// again and the engine re-reads its work from the database. A damaged database (met by a
// write or a read) never leaves fault mode: it is set aside at the next open, which the
// daemon and the app do in-process (see [Note: Rebuilding while running] in host/).
import type Database from 'better-sqlite3';
import { KeepsakeError } from '../errors.js';
import type { FileState } from '../../../common/contract.js';
import type { Clock, TimerHandle } from '../ports.js';
import {
  assertTransition,
  hashedStates,
  pendingStates,
  safeStates,
  sqlStates,
  unsafeStates,
  type Transition,
} from '../pipeline/transitions.js';
import { displayPath } from '../raw-path.js';
import { exactPaths, relPathRaw } from './exact-paths.js';
import { roomToGoOn, storageFault, type SqliteDatabase } from './database.js';
import { createGroupQueries } from './group-queries.js';
import { createVerifyQueries } from './verify-queries.js';
import type {
  CommittedListener,
  FileChange,
  FilePatch,
  FileRecord,
  FolderProblemRecord,
  FolderRecord,
  MediaKind,
  MetadataState,
  NewFile,
  ScanRow,
  Store,
  StoredError,
} from './types.js';

export type * from './types.js';

interface FileRow {
  id: number;
  folder_id: number;
  path: string;
  rel_path: string;
  size: number;
  mtime_ms: number;
  ino: number;
  dev: number;
  ctime_ms: number;
  seen_at: number;
  sha256: string | null;
  state: FileState;
  dedup_checked: number;
  error_code: string | null;
  error_message: string | null;
  error_retryable: number | null;
  excluded_by: string | null;
  attempts: number;
  verify_failures: number;
  next_attempt_at: number | null;
  upload_url: string | null;
  upload_offset: number | null;
  priority: number;
  media_kind: MediaKind;
  mime: string | null;
  capture_time: string | null;
  metadata_problems: string;
  metadata_state: MetadataState;
  created_at: number;
  updated_at: number;
  uploaded_at: number | null;
  location_sha256: string | null;
  location_mtime_ms: number | null;
  rel_path_raw: Buffer | null;
  emptied_from: number | null;
  location_refused: string | null;
}

/**
 * The columns of a FileRow: every column but `metadata` (the raw tags, up to 32 KB of JSON),
 * which only the metadata pump reads. See [Note: Store statement costs].
 */
const fileColumns = `id, folder_id, path, rel_path, size, mtime_ms, ino, dev, seen_at, sha256, state,
  dedup_checked, error_code, error_message, error_retryable, excluded_by, attempts,
  verify_failures, next_attempt_at, upload_url, upload_offset, priority, media_kind, mime,
  capture_time, metadata_problems, metadata_state, created_at, updated_at, uploaded_at,
  location_sha256, location_mtime_ms, rel_path_raw, emptied_from, location_refused`;

interface ScanRowRow {
  id: number;
  path: string;
  rel_path: string;
  size: number;
  mtime_ms: number;
  ino: number;
  dev: number;
  ctime_ms: number;
  state: FileState;
  excluded_by: string | null;
  error_code: string | null;
  upload_url: string | null;
  rel_path_raw: Buffer | null;
}

interface FolderRow {
  id: number;
  path: string;
  include_globs: string;
  exclude_globs: string;
  added_at: number;
  last_scan_at: number | null;
  free_up: number;
}

interface FolderProblemRow {
  folder_id: number;
  rel_path: string;
  path: string;
  code: string;
  message: string;
  since: number;
}

function toFolderProblem(row: FolderProblemRow): FolderProblemRecord {
  return {
    folderId: row.folder_id,
    relPath: row.rel_path,
    path: row.path,
    code: row.code,
    message: row.message,
    since: row.since,
  };
}

interface ActivityRow {
  id: number;
  at: number;
  level: 'info' | 'warning' | 'error';
  message: string;
  path: string | null;
  code: string | null;
}

function parseStringArray(json: string): string[] {
  const value: unknown = JSON.parse(json);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function toFile(row: FileRow): FileRecord {
  return {
    id: row.id,
    folderId: row.folder_id,
    ...exactPaths(row),
    size: row.size,
    mtimeMs: row.mtime_ms,
    ino: row.ino,
    dev: row.dev,
    ctimeMs: row.ctime_ms,
    seenAt: row.seen_at,
    sha256: row.sha256,
    state: row.state,
    dedupChecked: row.dedup_checked === 1,
    error:
      row.error_code === null
        ? null
        : {
            code: row.error_code,
            message: row.error_message ?? '',
            retryable: row.error_retryable === 1,
          },
    excludedBy: row.excluded_by,
    attempts: row.attempts,
    verifyFailures: row.verify_failures,
    nextAttemptAt: row.next_attempt_at,
    uploadUrl: row.upload_url,
    uploadOffset: row.upload_offset,
    priority: row.priority,
    mediaKind: row.media_kind,
    mime: row.mime,
    captureTime: row.capture_time,
    metadataProblems: parseStringArray(row.metadata_problems),
    metadataState: row.metadata_state,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    uploadedAt: row.uploaded_at,
    locationSha256: row.location_sha256,
    locationMtimeMs: row.location_mtime_ms,
    emptiedFrom: row.emptied_from,
    locationRefused: row.location_refused,
  };
}

function toScanRow(row: ScanRowRow): ScanRow {
  return {
    id: row.id,
    ...exactPaths(row),
    size: row.size,
    mtimeMs: row.mtime_ms,
    ino: row.ino,
    dev: row.dev,
    ctimeMs: row.ctime_ms,
    state: row.state,
    excludedBy: row.excluded_by,
    error: row.error_code === null ? null : { code: row.error_code },
    uploadUrl: row.upload_url,
  };
}

function toFolder(row: FolderRow): FolderRecord {
  return {
    id: row.id,
    path: row.path,
    include: parseStringArray(row.include_globs),
    exclude: parseStringArray(row.exclude_globs),
    addedAt: row.added_at,
    lastScanAt: row.last_scan_at,
    freeUp: row.free_up === 1,
  };
}

/** FilePatch key -> column, and how the value is stored. */
const patchColumns: { [K in keyof FilePatch]-?: string } = {
  relPath: 'rel_path',
  size: 'size',
  mtimeMs: 'mtime_ms',
  ino: 'ino',
  dev: 'dev',
  ctimeMs: 'ctime_ms',
  seenAt: 'seen_at',
  sha256: 'sha256',
  dedupChecked: 'dedup_checked',
  error: 'error_*',
  excludedBy: 'excluded_by',
  attempts: 'attempts',
  verifyFailures: 'verify_failures',
  nextAttemptAt: 'next_attempt_at',
  uploadUrl: 'upload_url',
  uploadOffset: 'upload_offset',
  priority: 'priority',
  mediaKind: 'media_kind',
  mime: 'mime',
  captureTime: 'capture_time',
  metadataProblems: 'metadata_problems',
  metadataState: 'metadata_state',
  uploadedAt: 'uploaded_at',
  locationSha256: 'location_sha256',
  locationMtimeMs: 'location_mtime_ms',
  emptiedFrom: 'emptied_from',
  locationRefused: 'location_refused',
};

function patchParams(patch: FilePatch): { sets: string[]; params: Record<string, unknown> } {
  const sets: string[] = [];
  const params: Record<string, unknown> = {};
  for (const key of Object.keys(patch) as (keyof FilePatch)[]) {
    const value = patch[key];
    if (value === undefined) continue;
    if (key === 'error') {
      const e = value as StoredError | null;
      sets.push('error_code = @error_code', 'error_message = @error_message');
      sets.push('error_retryable = @error_retryable');
      params.error_code = e?.code ?? null;
      params.error_message = e?.message ?? null;
      params.error_retryable = e === null ? null : e.retryable ? 1 : 0;
      continue;
    }
    const column = patchColumns[key];
    sets.push(`${column} = @${column}`);
    if (key === 'relPath') {
      sets.push('rel_path_raw = @rel_path_raw');
      params.rel_path_raw = relPathRaw(value as string);
    }
    if (key === 'dedupChecked') params[column] = value ? 1 : 0;
    else if (key === 'metadataProblems') params[column] = JSON.stringify(value);
    else params[column] = value;
  }
  return { sets, params };
}

export interface StoreOptions {
  /** Commit the open group once it is this old (ms). See [Note: Group commit]. */
  commitEveryMs?: number;
  /** Commit the open group once it holds this many changes. */
  commitEveryChanges?: number;
  /** Where a failing listener or a failed timed commit is reported (default: rethrown). */
  onError?: (err: unknown) => void;
  /** The database file, for the words of a storage fault (default: the connection's name). */
  file?: string;
  /** Told once when the store enters fault mode. See [Note: Store fault mode]. */
  onFault?: (fault: KeepsakeError) => void;
}

/** Wraps a statement's run/get/all so an error thrown by one passes through `fault` first. */
function reportFaultsOf(stmt: Database.Statement, fault: (err: unknown) => unknown): void {
  for (const method of ['run', 'get', 'all'] as const) {
    const original: unknown = Reflect.get(stmt, method);
    if (typeof original !== 'function') continue;
    Object.defineProperty(stmt, method, {
      value(...args: unknown[]): unknown {
        try {
          return Reflect.apply(original, stmt, args);
        } catch (err) {
          throw fault(err);
        }
      },
    });
  }
}

/** The typed gateway over an opened, migrated database. */
export function createStore(
  db: SqliteDatabase,
  clock: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>,
  options: StoreOptions = {},
): Store {
  const commitEveryMs = options.commitEveryMs ?? 50;
  const commitEveryChanges = options.commitEveryChanges ?? 200;
  const reportError =
    options.onError ??
    ((err: unknown) => {
      throw err;
    });
  const pending = sqlStates(pendingStates);
  const safe = sqlStates(safeStates);
  const q = {
    fileById: db.prepare<[number], FileRow>(`SELECT ${fileColumns} FROM files WHERE id = ?`),
    fileByPath: db.prepare<[string], FileRow>(`SELECT ${fileColumns} FROM files WHERE path = ?`),
    filesOfFolder: db.prepare<[number], FileRow>(
      `SELECT ${fileColumns} FROM files WHERE folder_id = ?`,
    ),
    filesPage: db.prepare<[number, number], FileRow>(
      `SELECT ${fileColumns} FROM files WHERE id > ? ORDER BY id LIMIT ?`,
    ),
    scanRows: db.prepare<[number, number, number], ScanRowRow>(
      `SELECT id, path, rel_path, size, mtime_ms, ino, dev, ctime_ms, state, excluded_by,
              error_code, upload_url, rel_path_raw
         FROM files WHERE folder_id = ? AND id > ? ORDER BY id LIMIT ?`,
    ),
    insertFile: db.prepare(
      `INSERT INTO files (folder_id, path, rel_path, size, mtime_ms, ino, dev, ctime_ms, seen_at,
         sha256, state, excluded_by, error_code, error_message, error_retryable, priority,
         media_kind, mime, created_at, updated_at, rel_path_raw)
       VALUES (@folder_id, @path, @rel_path, @size, @mtime_ms, @ino, @dev, @ctime_ms, @now,
         @sha256, @state, @excluded_by, @error_code, @error_message, @error_retryable, @priority,
         @media_kind, @mime, @now, @now, @rel_path_raw)`,
    ),
    stateOf: db.prepare<[number], { state: FileState }>('SELECT state FROM files WHERE id = ?'),
    folders: db.prepare<[], FolderRow>('SELECT * FROM folders ORDER BY id'),
    folderById: db.prepare<[number], FolderRow>('SELECT * FROM folders WHERE id = ?'),
    folderByPath: db.prepare<[string], FolderRow>('SELECT * FROM folders WHERE path = ?'),
    insertFolder: db.prepare(
      `INSERT INTO folders (path, include_globs, exclude_globs, added_at)
       VALUES (@path, @include, @exclude, @now)`,
    ),
    deleteFolder: db.prepare<[number]>('DELETE FROM folders WHERE id = ?'),
    buryLocations: db.prepare<[string, number, number]>(
      `INSERT INTO location_tombstones (folder, path, sha256, created_at)
       SELECT ?, coalesce(rel_path_raw, CAST(rel_path AS BLOB)), location_sha256, ? FROM files
        WHERE folder_id = ? AND location_sha256 IS NOT NULL ORDER BY id`,
    ),
    tombstones: db.prepare<[number], { id: number; folder: string; path: Buffer; sha256: string }>(
      'SELECT id, folder, path, sha256 FROM location_tombstones ORDER BY id LIMIT ?',
    ),
    dropTombstone: db.prepare<[number]>('DELETE FROM location_tombstones WHERE id = ?'),
    setFolderRules: db.prepare(
      'UPDATE folders SET include_globs = @include, exclude_globs = @exclude WHERE id = @id',
    ),
    setFolderFreeUp: db.prepare<[number, number]>('UPDATE folders SET free_up = ? WHERE id = ?'),
    setFolderScanned: db.prepare<[number, number]>(
      'UPDATE folders SET last_scan_at = ? WHERE id = ?',
    ),
    folderProblemsOf: db.prepare<[number], FolderProblemRow>(
      'SELECT * FROM folder_problems WHERE folder_id = ? ORDER BY rel_path',
    ),
    allFolderProblems: db.prepare<[], FolderProblemRow>(
      'SELECT * FROM folder_problems ORDER BY folder_id, rel_path',
    ),
    deleteFolderProblems: db.prepare<[number]>('DELETE FROM folder_problems WHERE folder_id = ?'),
    insertFolderProblem: db.prepare(
      `INSERT OR REPLACE INTO folder_problems (folder_id, rel_path, path, code, message, since)
       VALUES (@folder_id, @rel_path, @path, @code, @message, @since)`,
    ),
    nextToHash: db.prepare<{ cutoff: number; limit: number }, FileRow>(
      // Discovered rows always have dedup_checked = 0 (every transition into discovered clears
      // it), which lets files_upload_order serve the order without sorting every discovered row.
      `SELECT ${fileColumns} FROM files INDEXED BY files_upload_order
        WHERE state = 'discovered' AND dedup_checked = 0
          AND (mtime_ms <= @cutoff OR seen_at <= @cutoff)
        ORDER BY priority DESC, mtime_ms DESC LIMIT @limit`,
    ),
    nextSettleAt: db.prepare<[], { t: number | null }>(
      `SELECT min(min(mtime_ms, seen_at)) AS t FROM files WHERE state = 'discovered'`,
    ),
    dedupPending: db.prepare<[number], FileRow>(
      `SELECT ${fileColumns} FROM files WHERE state = 'queued' AND dedup_checked = 0 LIMIT ?`,
    ),
    // The hot query (see [Note: Upload order] in pipeline/upload-queue.ts): index
    // files_upload_order gives the order without a sort (EXPLAIN-tested). INDEXED BY pins the
    // plan: without statistics SQLite may prefer files_upload_size and sort every queued row.
    nextToUpload: db.prepare<{ now: number; maxSize: number; limit: number }, FileRow>(
      `SELECT ${fileColumns} FROM files INDEXED BY files_upload_order
        WHERE state = 'queued' AND dedup_checked = 1
          AND (next_attempt_at IS NULL OR next_attempt_at <= @now)
          AND size <= @maxSize
        ORDER BY priority DESC, mtime_ms DESC
        LIMIT @limit`,
    ),
    // Large files: few, so a range read on size and a small sort.
    nextLargeToUpload: db.prepare<{ now: number; minSize: number; limit: number }, FileRow>(
      `SELECT ${fileColumns} FROM files INDEXED BY files_upload_size
        WHERE state = 'queued' AND dedup_checked = 1 AND size >= @minSize
          AND (next_attempt_at IS NULL OR next_attempt_at <= @now)
        ORDER BY priority DESC, mtime_ms DESC
        LIMIT @limit`,
    ),
    nextRetryAt: db.prepare<[number], { t: number | null }>(
      `SELECT min(next_attempt_at) AS t FROM files
        WHERE state = 'queued' AND next_attempt_at > ?`,
    ),
    byIdentity: db.prepare<
      { ino: number; dev: number; size: number; mtime: number; id: number },
      FileRow
    >(
      `SELECT ${fileColumns} FROM files WHERE ino = @ino AND dev = @dev AND size = @size
         AND mtime_ms = @mtime AND sha256 IS NOT NULL AND id != @id LIMIT 1`,
    ),
    // No index serves this: it runs once per large file about to be sent unhashed.
    otherOfSize: db.prepare<[number, number], { one: number }>(
      'SELECT 1 AS one FROM files WHERE size = ? AND id != ? LIMIT 1',
    ),
    uploadedCopy: db.prepare<[string, number], { path: string }>(
      `SELECT path FROM files WHERE sha256 = ? AND id != ? AND state = 'backed_up' ORDER BY id LIMIT 1`,
    ),
    safeBySha: db.prepare<[string], { n: number }>(
      `SELECT count(*) AS n FROM files WHERE sha256 = ? AND state IN (${safe})`,
    ),
    metadataPending: db.prepare<[number], FileRow>(
      `SELECT ${fileColumns} FROM files WHERE metadata_state = 'pending' AND sha256 IS NOT NULL
         AND state IN (${sqlStates(hashedStates)}) LIMIT ?`,
    ),
    metadataToSend: db.prepare<[number], FileRow & { metadata: string | null }>(
      `SELECT ${fileColumns}, metadata FROM files
        WHERE metadata_state = 'read' AND state IN (${safe}) LIMIT ?`,
    ),
    countMetadataToSend: db.prepare<[number], { n: number }>(
      `SELECT count(*) AS n FROM (SELECT 1 FROM files
        WHERE metadata_state = 'read' AND state IN (${safe}) LIMIT ?)`,
    ),
    locationsPending: db.prepare<[number, number], FileRow>(
      `SELECT ${fileColumns} FROM files
        WHERE ((state IN (${safe}) AND sha256 IS NOT NULL AND emptied_from IS NULL
                AND (location_sha256 IS NOT sha256 OR location_mtime_ms IS NOT mtime_ms))
               OR (state = 'missing' AND location_sha256 IS NOT NULL))
          AND id > ? ORDER BY id LIMIT ?`,
    ),
    metadataJson: db.prepare<[number], { metadata: string | null }>(
      'SELECT metadata FROM files WHERE id = ?',
    ),
    setMetadata: db.prepare(
      `UPDATE files SET metadata = @metadata, metadata_problems = @problems,
         capture_time = @capture_time, metadata_state = 'read' WHERE id = @id`,
    ),
    setMetadataSent: db.prepare<[number]>(
      `UPDATE files SET metadata_state = 'sent' WHERE id = ? AND metadata_state = 'read'`,
    ),
    summary: db.prepare<[], { state: FileState; folder_id: number; files: number; bytes: number }>(
      `SELECT state, folder_id, count(*) AS files, coalesce(sum(size), 0) AS bytes
         FROM files GROUP BY state, folder_id`,
    ),
    // Served by the partial index files_empty (size = 0): rare rows, never a table scan.
    emptyFiles: db.prepare<[number], FileRow>(
      `SELECT ${fileColumns} FROM files WHERE size = 0 AND state IN (${safe}) ORDER BY id LIMIT ?`,
    ),
    // Served by the partial index files_location_refused: rare rows, never a table scan.
    locationRefusedFiles: db.prepare<[number], FileRow>(
      `SELECT ${fileColumns} FROM files WHERE location_refused IS NOT NULL ORDER BY id LIMIT ?`,
    ),
    locationRefusedCount: db.prepare<[], { n: number }>(
      'SELECT count(*) AS n FROM files WHERE location_refused IS NOT NULL',
    ),
    emptyFileCount: db.prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM files WHERE size = 0 AND state IN (${safe})`,
    ),
    oldestUnsafe: db.prepare<[], { t: number | null }>(
      `SELECT min(mtime_ms) AS t FROM files WHERE state IN (${sqlStates(unsafeStates)})`,
    ),
    // Waiting since: when the file appeared here or last changed, whichever is later (an old
    // photo found yesterday has waited a day, not since it was taken).
    oldestUnsafeSince: db.prepare<[], { t: number | null }>(
      `SELECT min(max(mtime_ms, created_at)) AS t FROM files WHERE state IN (${sqlStates(unsafeStates)})`,
    ),
    interrupted: db.prepare<[], FileRow>(
      `SELECT ${fileColumns} FROM files WHERE state IN ('hashing','uploading')`,
    ),
    pendingCount: db.prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM files WHERE state IN (${pending})`,
    ),
    pendingDryRun: db.prepare<[], { n: number }>(
      `SELECT (SELECT count(*) FROM files WHERE state IN ('discovered','hashing'))
            + (SELECT count(*) FROM files WHERE state = 'queued' AND dedup_checked = 0) AS n`,
    ),
    failedIds: db.prepare<[], { id: number }>(`SELECT id FROM files WHERE state = 'failed'`),
    safeIds: db.prepare<[], { id: number }>(`SELECT id FROM files WHERE state IN (${safe})`),
    settings: db.prepare<[], { key: string; value: string }>('SELECT key, value FROM settings'),
    setSetting: db.prepare(
      `INSERT INTO settings (key, value, updated_at) VALUES (@key, @value, @now)
       ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    ),
    deleteSetting: db.prepare<[string]>('DELETE FROM settings WHERE key = ?'),
    insertActivity: db.prepare(
      `INSERT INTO activity (at, level, message, path, code)
       VALUES (@at, @level, @message, @path, @code)`,
    ),
    activity: db.prepare<[number], ActivityRow>('SELECT * FROM activity ORDER BY id DESC LIMIT ?'),
    lastErrors: db.prepare<[number], ActivityRow>(
      `SELECT * FROM activity WHERE level = 'error' ORDER BY id DESC LIMIT ?`,
    ),
    problems: db.prepare<[number], ActivityRow>(
      `SELECT * FROM activity WHERE level IN ('warning', 'error') ORDER BY id DESC LIMIT ?`,
    ),
    pruneActivity: db.prepare<[number]>('DELETE FROM activity WHERE id <= ?'),
  };

  // A damaged page may be met by any query, a read as much as a write: every statement reports
  // it as the storage fault it is (a read of a damaged database pauses the engine as a write
  // does, and is rebuilt; see [Note: Store fault mode]).
  for (const stmt of Object.values(q)) reportFaultsOf(stmt, (err) => enterFault(err) ?? err);

  // ---- group commit: see [Note: Group commit] ----
  let groupOpen = false;
  let groupChanges = 0;
  let groupTimer: TimerHandle | null = null;
  let batchDepth = 0;
  let closed = false;
  /** Changes of the open group, announced once it commits. */
  let unannounced: FileChange[] = [];
  /** Changes committed whose announcement is queued (a microtask away). */
  let announcing = 0;
  /** The storage fault the store stopped writing on. See [Note: Store fault mode]. */
  let fault: KeepsakeError | null = null;
  const file = options.file ?? db.name;

  function isFault(err: unknown): err is KeepsakeError {
    return err instanceof KeepsakeError && err === fault;
  }

  /** Enters fault mode on a storage fault and returns it; null when `err` is not one. */
  function enterFault(err: unknown): KeepsakeError | null {
    if (fault !== null && err === fault) return fault;
    const found = storageFault(err, file);
    if (found === null) return null;
    if (groupTimer !== null) clock.clearTimeout(groupTimer);
    groupTimer = null;
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } catch {
      // SQLite may have rolled it back itself.
    }
    groupOpen = false;
    groupChanges = 0;
    unannounced = [];
    if (fault === null) {
      fault = found;
      options.onFault?.(found);
    }
    return fault;
  }

  /** A write that may be dropped in fault mode (bookkeeping the next run redoes). */
  function writeOrDrop(fn: () => void): void {
    try {
      write(fn);
    } catch (err) {
      if (!isFault(err)) throw err;
    }
  }
  const listeners = new Set<CommittedListener>();

  /** Every write goes through here: it opens the group if none is open. */
  function write<T>(fn: () => T): T {
    if (fault !== null) throw fault;
    try {
      return writeInGroup(fn);
    } catch (err) {
      throw enterFault(err) ?? err;
    }
  }

  function writeInGroup<T>(fn: () => T): T {
    if (!groupOpen) {
      db.exec('BEGIN IMMEDIATE');
      groupOpen = true;
      groupChanges = 0;
      groupTimer = clock.setTimeout(() => {
        groupTimer = null;
        try {
          commit();
        } catch (err) {
          if (enterFault(err) === null) reportError(err);
        }
      }, commitEveryMs);
      groupTimer.unref?.();
    }
    const result = fn();
    groupChanges++;
    if (batchDepth === 0 && groupChanges >= commitEveryChanges) commit();
    return result;
  }

  function commit(): void {
    if (!groupOpen || batchDepth > 0 || !db.open || fault !== null) return;
    if (groupTimer !== null) clock.clearTimeout(groupTimer);
    groupTimer = null;
    try {
      db.exec('COMMIT');
    } finally {
      // A failed COMMIT (disk full) may leave SQLite's transaction rolled back or still open.
      groupOpen = db.inTransaction;
      if (!groupOpen) groupChanges = 0;
    }
    const changes = unannounced;
    unannounced = [];
    if (changes.length > 0 && listeners.size > 0 && !closed) {
      // Asynchronously: a listener that applies transitions itself must not re-enter a caller
      // that is still in the middle of its own change.
      announcing += changes.length;
      queueMicrotask(() => announce(changes));
    }
  }

  function announce(changes: readonly FileChange[]): void {
    announcing -= changes.length;
    if (closed) return;
    for (const listener of [...listeners]) {
      try {
        listener(changes);
      } catch (err) {
        reportError(err);
      }
    }
  }

  const updateCache = new Map<string, Database.Statement>();
  function updateStatement(sets: string[]): Database.Statement {
    const sql = `UPDATE files SET ${sets.join(', ')} WHERE id = @id`;
    let stmt = updateCache.get(sql);
    if (stmt === undefined) {
      stmt = db.prepare(sql);
      updateCache.set(sql, stmt);
    }
    return stmt;
  }

  function getFile(id: number): FileRecord | null {
    const row = q.fileById.get(id);
    return row === undefined ? null : toFile(row);
  }

  function applyPatch(id: number, patch: FilePatch, state?: FileState): FileRow | undefined {
    const { sets, params } = patchParams(patch);
    if (state !== undefined) {
      sets.push('state = @state');
      params.state = state;
    }
    sets.push('updated_at = @updated_at');
    params.updated_at = clock.now();
    params.id = id;
    // No RETURNING: see [Note: Store statement costs].
    if (updateStatement(sets).run(params).changes === 0) return undefined;
    return q.fileById.get(id);
  }

  function apply(id: number, transition: Transition): FileRecord | null {
    if (fault !== null) return null;
    const current = q.stateOf.get(id);
    if (current === undefined || !transition.from.includes(current.state)) return null;
    assertTransition(current.state, transition.to);
    try {
      return applyInGroup(id, transition);
    } catch (err) {
      if (isFault(err)) return null;
      throw err;
    }
  }

  function applyInGroup(id: number, transition: Transition): FileRecord | null {
    return write(() => {
      // A file going back to discovered must be dedup-checked again once hashed (the hash
      // queue's index range relies on discovered rows having dedup_checked = 0).
      const patch =
        transition.to === 'discovered'
          ? { ...transition.patch, dedupChecked: false }
          : transition.patch;
      const row = applyPatch(id, patch, transition.to);
      if (row === undefined) return null;
      const file = toFile(row);
      unannounced.push({ cause: transition.name, file });
      return file;
    });
  }

  function insertFile(file: NewFile): FileRecord {
    return write(() => {
      const now = clock.now();
      const info = q.insertFile.run({
        folder_id: file.folderId,
        path: file.path,
        rel_path: file.relPath,
        rel_path_raw: relPathRaw(file.relPath),
        size: file.size,
        mtime_ms: file.mtimeMs,
        ino: file.ino,
        dev: file.dev,
        ctime_ms: file.ctimeMs ?? 0,
        now,
        sha256: file.sha256 ?? null,
        state: file.state,
        excluded_by: file.excludedBy ?? null,
        error_code: file.error?.code ?? null,
        error_message: file.error?.message ?? null,
        error_retryable: file.error ? (file.error.retryable ? 1 : 0) : null,
        priority: file.priority ?? 0,
        media_kind: file.mediaKind ?? 'media',
        mime: file.mime ?? null,
      });
      const row = q.fileById.get(Number(info.lastInsertRowid));
      if (row === undefined) throw new Error(`inserting ${file.path} returned no row`);
      const rec = toFile(row);
      unannounced.push({ cause: 'inserted', file: rec });
      return rec;
    });
  }

  let savepoints = 0;
  function batch<T>(fn: () => T): T {
    // In fault mode a batch is its parts: changes answer null, inserts throw the fault.
    if (fault !== null) return fn();
    return write(() => {
      const name = `batch${savepoints++}`;
      const mark = unannounced.length;
      db.exec(`SAVEPOINT ${name}`);
      batchDepth++;
      try {
        const result = fn();
        // A fault inside rolled back the whole group, this savepoint with it.
        if (fault !== null) return result;
        db.exec(`RELEASE ${name}`);
        return result;
      } catch (err) {
        if (fault === null) {
          db.exec(`ROLLBACK TO ${name}`);
          db.exec(`RELEASE ${name}`);
        }
        unannounced.length = Math.min(mark, unannounced.length);
        throw err;
      } finally {
        batchDepth--;
        savepoints--;
      }
    });
  }

  return {
    // ---- files ----
    getFile,
    getFileByPath(path) {
      const row = q.fileByPath.get(path);
      return row === undefined ? null : toFile(row);
    },
    filesOfFolder(folderId) {
      return q.filesOfFolder.all(folderId).map(toFile);
    },
    *everyFile() {
      const page = 1000;
      let after = 0;
      for (;;) {
        const rows = q.filesPage.all(after, page);
        for (const r of rows) yield toFile(r);
        const last = rows[rows.length - 1];
        if (last === undefined || rows.length < page) return;
        after = last.id;
      }
    },
    *scanRowsOfFolder(folderId) {
      const page = 5000;
      let after = 0;
      for (;;) {
        const rows = q.scanRows.all(folderId, after, page);
        for (const r of rows) yield toScanRow(r);
        const last = rows[rows.length - 1];
        if (last === undefined || rows.length < page) return;
        after = last.id;
      }
    },
    insertFile,
    insertFileIfNew(file) {
      try {
        return insertFile(file);
      } catch (err) {
        // path is the only unique column a new row can collide on (id is the rowid)
        if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') return null;
        throw err;
      }
    },
    apply,
    update(id, patch) {
      writeOrDrop(() => applyPatch(id, patch));
    },
    batch,
    onCommitted(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    commit() {
      try {
        commit();
      } catch (err) {
        throw enterFault(err) ?? err;
      }
    },
    unannouncedChanges: () => unannounced.length + announcing,
    fault: () => fault,
    retryAfterFault() {
      if (fault === null) return true;
      if (fault.code !== 'disk_full' || closed || !roomToGoOn(file)) return false;
      try {
        // One small durable write: it works again once there is room for the WAL to grow.
        db.exec('BEGIN IMMEDIATE');
        q.setSetting.run({
          key: 'engine.lastWriteCheck',
          value: String(clock.now()),
          now: clock.now(),
        });
        db.exec('COMMIT');
      } catch (err) {
        try {
          if (db.inTransaction) db.exec('ROLLBACK');
        } catch {
          // rolled back already
        }
        if (storageFault(err, file) === null) throw err;
        return false;
      }
      fault = null;
      return true;
    },
    nextToHash(now, settleMs, limit) {
      if (fault !== null) return [];
      return q.nextToHash.all({ cutoff: now - settleMs, limit }).map(toFile);
    },
    nextSettleAt(settleMs) {
      if (fault !== null) return null;
      const t = q.nextSettleAt.get()?.t ?? null;
      return t === null ? null : t + settleMs;
    },
    dedupPending(limit) {
      if (fault !== null) return [];
      return q.dedupPending.all(limit).map(toFile);
    },
    nextToUpload(now, limit, maxSize = Number.MAX_SAFE_INTEGER) {
      if (fault !== null) return [];
      return q.nextToUpload.all({ now, maxSize, limit }).map(toFile);
    },
    nextLargeToUpload(now, limit, minSize) {
      if (fault !== null) return [];
      return q.nextLargeToUpload.all({ now, minSize, limit }).map(toFile);
    },
    explain(name) {
      const params: Record<string, Record<string, number> | number[]> = {
        nextToUpload: { now: 0, maxSize: 1, limit: 1 },
        nextLargeToUpload: { now: 0, minSize: 1, limit: 1 },
        nextToHash: { cutoff: 0, limit: 1 },
        dedupPending: [1],
        metadataPending: [1],
        emptyFileCount: [],
      };
      const stmt = db.prepare(`EXPLAIN QUERY PLAN ${q[name].source}`);
      const p = params[name];
      const rows = (Array.isArray(p) ? stmt.all(...p) : stmt.all(p)) as { detail: string }[];
      return rows.map((r) => r.detail);
    },
    nextRetryAt(now) {
      if (fault !== null) return null;
      return q.nextRetryAt.get(now)?.t ?? null;
    },
    findSameContent(file) {
      const row = q.byIdentity.get({
        ino: file.ino,
        dev: file.dev,
        size: file.size,
        mtime: file.mtimeMs,
        id: file.id,
      });
      return row === undefined ? null : toFile(row);
    },
    hasOtherOfSize(size, id) {
      return q.otherOfSize.get(size, id) !== undefined;
    },
    uploadedCopyOf(sha256, exceptId) {
      return q.uploadedCopy.get(sha256, exceptId)?.path ?? null;
    },
    isShaSafe(sha256) {
      return (q.safeBySha.get(sha256)?.n ?? 0) > 0;
    },
    interruptedFiles() {
      return q.interrupted.all().map(toFile);
    },
    pendingCount(dryRun = false) {
      return (dryRun ? q.pendingDryRun.get() : q.pendingCount.get())?.n ?? 0;
    },
    safeFileIds() {
      return q.safeIds.all().map((r) => r.id);
    },
    failedFileIds() {
      return q.failedIds.all().map((r) => r.id);
    },
    listFiles(query) {
      const where: string[] = [];
      const params: Record<string, unknown> = {};
      if (query.state !== undefined) {
        where.push('state = @state');
        params.state = query.state;
      }
      if (query.folderId !== undefined) {
        where.push('folder_id = @folderId');
        params.folderId = query.folderId;
      }
      if (query.search !== undefined && query.search !== '') {
        where.push('instr(path, @search) > 0');
        params.search = query.search;
      }
      const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      const total = (
        db.prepare(`SELECT count(*) AS n FROM files ${filter}`).get(params) as { n: number }
      ).n;
      const page = [...where, 'id > @afterId'];
      params.afterId = query.afterId ?? 0;
      params.limit = query.limit;
      const rows = db
        .prepare(
          `SELECT ${fileColumns} FROM files WHERE ${page.join(' AND ')} ORDER BY id LIMIT @limit`,
        )
        .all(params) as FileRow[];
      return { files: rows.map(toFile), total };
    },
    summary() {
      return q.summary.all().map((r) => ({
        state: r.state,
        folderId: r.folder_id,
        files: r.files,
        bytes: r.bytes,
      }));
    },
    oldestUnsafeMtime() {
      return q.oldestUnsafe.get()?.t ?? null;
    },
    oldestUnsafeSince() {
      return q.oldestUnsafeSince.get()?.t ?? null;
    },
    emptyFiles(limit) {
      return q.emptyFiles.all(limit).map(toFile);
    },
    emptyFileCount() {
      return q.emptyFileCount.get()?.n ?? 0;
    },
    locationRefusedFiles(limit) {
      return q.locationRefusedFiles.all(limit).map(toFile);
    },
    locationRefusedCount() {
      return q.locationRefusedCount.get()?.n ?? 0;
    },

    // ---- metadata ----
    metadataPending(limit) {
      if (fault !== null) return [];
      return q.metadataPending.all(limit).map(toFile);
    },
    metadataToSend(limit) {
      if (fault !== null) return [];
      return q.metadataToSend
        .all(limit)
        .map((r) => ({ file: toFile(r), metadataJson: r.metadata }));
    },
    countMetadataToSend(limit) {
      if (fault !== null) return 0;
      return q.countMetadataToSend.get(limit)?.n ?? 0;
    },
    setMetadata(id, metadataJson, problems, captureTime) {
      writeOrDrop(() =>
        q.setMetadata.run({
          id,
          metadata: metadataJson,
          problems: JSON.stringify(problems),
          capture_time: captureTime,
        }),
      );
    },
    setMetadataSent(id) {
      writeOrDrop(() => q.setMetadataSent.run(id));
    },
    metadataJson(id) {
      return q.metadataJson.get(id)?.metadata ?? null;
    },

    // ---- locations ----
    locationsPending(afterId, limit) {
      return q.locationsPending.all(afterId, limit).map(toFile);
    },
    locationTombstones(limit) {
      return q.tombstones
        .all(limit)
        .map((r) => ({ id: r.id, folder: r.folder, path: r.path, sha256: r.sha256 }));
    },
    dropLocationTombstones(ids) {
      writeOrDrop(() => {
        for (const id of ids) q.dropTombstone.run(id);
      });
    },

    // ---- folders ----
    listFolders() {
      return q.folders.all().map(toFolder);
    },
    getFolder(id) {
      const row = q.folderById.get(id);
      return row === undefined ? null : toFolder(row);
    },
    getFolderByPath(path) {
      const row = q.folderByPath.get(path);
      return row === undefined ? null : toFolder(row);
    },
    addFolder(path, include, exclude) {
      const info = write(() =>
        q.insertFolder.run({
          path,
          include: JSON.stringify(include),
          exclude: JSON.stringify(exclude),
          now: clock.now(),
        }),
      );
      const row = q.folderById.get(Number(info.lastInsertRowid));
      if (row === undefined) throw new Error('inserted folder vanished');
      return toFolder(row);
    },
    removeFolder(id, vaultLabel) {
      write(() => {
        if (vaultLabel !== undefined) q.buryLocations.run(vaultLabel, clock.now(), id);
        q.deleteFolder.run(id);
      });
    },
    setFolderRules(id, include, exclude) {
      write(() =>
        q.setFolderRules.run({
          id,
          include: JSON.stringify(include),
          exclude: JSON.stringify(exclude),
        }),
      );
    },
    setFolderFreeUp(id, allowed) {
      write(() => q.setFolderFreeUp.run(allowed ? 1 : 0, id));
    },
    setFolderScanned(id, at) {
      writeOrDrop(() => q.setFolderScanned.run(at, id));
    },
    setFolderProblems(folderId, problems) {
      const before = new Map(q.folderProblemsOf.all(folderId).map((r) => [r.rel_path, r]));
      if (before.size === 0 && problems.length === 0) return []; // the common case writes nothing
      const now = clock.now();
      const added: FolderProblemRecord[] = [];
      write(() => {
        q.deleteFolderProblems.run(folderId);
        for (const p of problems) {
          // kept as a person reads it: a folder problem is only ever shown (two folders whose
          // names show alike share one line). See [Note: Names that are not UTF-8].
          const relPath = displayPath(p.relPath);
          const old = before.get(relPath);
          const row: FolderProblemRow = {
            folder_id: folderId,
            rel_path: relPath,
            path: displayPath(p.path),
            code: p.code,
            message: displayPath(p.message),
            since: old?.code === p.code ? old.since : now,
          };
          q.insertFolderProblem.run(row);
          if (old?.code !== p.code) added.push(toFolderProblem(row));
        }
      });
      return added;
    },
    folderProblems(folderId) {
      const rows =
        folderId === undefined ? q.allFolderProblems.all() : q.folderProblemsOf.all(folderId);
      return rows.map(toFolderProblem);
    },

    // ---- settings ----
    userSettings() {
      return new Map(q.settings.all().map((r) => [r.key, JSON.parse(r.value) as unknown]));
    },
    setSetting(key, value) {
      write(() => {
        if (value === null || value === undefined) q.deleteSetting.run(key);
        else q.setSetting.run({ key, value: JSON.stringify(value), now: clock.now() });
      });
    },

    // ---- activity ----
    addActivity(event) {
      const at = clock.now();
      // In fault mode the event is still told to listeners (id 0), only not kept.
      let id = 0;
      writeOrDrop(() => {
        // kept as a person reads it (see [Note: Names that are not UTF-8])
        const info = q.insertActivity.run({
          at,
          ...event,
          message: displayPath(event.message),
          path: event.path === null ? null : displayPath(event.path),
        });
        id = Number(info.lastInsertRowid);
        // Keep the log bounded: drop the oldest beyond 10,000 events.
        if (id % 1000 === 0 && id > 10_000) q.pruneActivity.run(id - 10_000);
      });
      return { id, at, ...event };
    },
    listActivity(limit) {
      return q.activity.all(limit);
    },
    lastErrors(limit) {
      return q.lastErrors.all(limit);
    },
    listProblems(limit) {
      return q.problems.all(limit);
    },

    // ---- verify and healing (verify-queries.ts) ----
    verify: createVerifyQueries(db, write),
    // ---- groups (group-queries.ts) ----
    groups: createGroupQueries(db, write),

    close() {
      if (closed) return;
      try {
        commit();
      } catch (err) {
        if (enterFault(err) === null) throw err;
      }
      closed = true;
      listeners.clear();
      db.close();
    },
  };
}
