// Every query the engine runs, as prepared statements with typed row mappers: the only place
// with SQL (besides migrations.ts). The engine and queue speak FileRecord/FolderRecord.
//
// Invariant: a file's `state` changes only through transition()/insertFile(), each one
// SQLite transaction that checks the move against transitions.ts first.
import type Database from 'better-sqlite3';
import type { ActivityEvent, FileState } from '../../../common/contract.js';
import type { Clock } from '../ports.js';
import type { SqliteDatabase } from './database.js';
import { assertTransition } from './transitions.js';

export interface FolderRecord {
  id: number;
  path: string;
  include: string[];
  exclude: string[];
  addedAt: number;
  lastScanAt: number | null;
}

export interface StoredError {
  code: string;
  message: string;
  retryable: boolean;
}

export type MetadataState = 'pending' | 'read' | 'sent';
export type MediaKind = 'media' | 'sidecar';

export interface FileRecord {
  id: number;
  folderId: number;
  path: string;
  relPath: string;
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
  seenAt: number;
  sha256: string | null;
  state: FileState;
  dedupChecked: boolean;
  error: StoredError | null;
  excludedBy: string | null;
  attempts: number;
  verifyFailures: number;
  nextAttemptAt: number | null;
  uploadUrl: string | null;
  uploadOffset: number | null;
  priority: number;
  mediaKind: MediaKind;
  mime: string | null;
  captureTime: string | null;
  metadataProblems: string[];
  metadataState: MetadataState;
  createdAt: number;
  updatedAt: number;
  uploadedAt: number | null;
}

/** Columns a transition (or a plain update) may set besides the state. */
export interface FilePatch {
  relPath?: string;
  size?: number;
  mtimeMs?: number;
  ino?: number;
  dev?: number;
  seenAt?: number;
  sha256?: string | null;
  dedupChecked?: boolean;
  error?: StoredError | null;
  excludedBy?: string | null;
  attempts?: number;
  verifyFailures?: number;
  nextAttemptAt?: number | null;
  uploadUrl?: string | null;
  uploadOffset?: number | null;
  priority?: number;
  mediaKind?: MediaKind;
  mime?: string | null;
  captureTime?: string | null;
  metadataProblems?: string[];
  metadataState?: MetadataState;
  uploadedAt?: number | null;
}

export interface NewFile {
  folderId: number;
  path: string;
  relPath: string;
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
  state: FileState;
  sha256?: string | null;
  excludedBy?: string | null;
  error?: StoredError | null;
  priority?: number;
  mediaKind?: MediaKind;
  mime?: string | null;
}

export interface FileQuery {
  state?: FileState;
  folderId?: number;
  search?: string;
  limit: number;
  afterId?: number;
}

export interface StateSummary {
  state: FileState;
  folderId: number;
  files: number;
  bytes: number;
}

interface FileRow {
  id: number;
  folder_id: number;
  path: string;
  rel_path: string;
  size: number;
  mtime_ms: number;
  ino: number;
  dev: number;
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
}

interface FolderRow {
  id: number;
  path: string;
  include_globs: string;
  exclude_globs: string;
  added_at: number;
  last_scan_at: number | null;
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
    path: row.path,
    relPath: row.rel_path,
    size: row.size,
    mtimeMs: row.mtime_ms,
    ino: row.ino,
    dev: row.dev,
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
  };
}

/** FilePatch key -> column, and how the value is stored. */
const patchColumns: { [K in keyof FilePatch]-?: string } = {
  relPath: 'rel_path',
  size: 'size',
  mtimeMs: 'mtime_ms',
  ino: 'ino',
  dev: 'dev',
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
    if (key === 'dedupChecked') params[column] = value ? 1 : 0;
    else if (key === 'metadataProblems') params[column] = JSON.stringify(value);
    else params[column] = value;
  }
  return { sets, params };
}

export type Store = ReturnType<typeof createStore>;

/** The typed gateway over an opened, migrated database. */
export function createStore(db: SqliteDatabase, clock: Pick<Clock, 'now'>) {
  const q = {
    fileById: db.prepare<[number], FileRow>('SELECT * FROM files WHERE id = ?'),
    fileByPath: db.prepare<[string], FileRow>('SELECT * FROM files WHERE path = ?'),
    filesOfFolder: db.prepare<[number], FileRow>('SELECT * FROM files WHERE folder_id = ?'),
    insertFile: db.prepare(
      `INSERT INTO files (folder_id, path, rel_path, size, mtime_ms, ino, dev, seen_at, sha256,
         state, excluded_by, error_code, error_message, error_retryable, priority, media_kind,
         mime, created_at, updated_at)
       VALUES (@folder_id, @path, @rel_path, @size, @mtime_ms, @ino, @dev, @now, @sha256,
         @state, @excluded_by, @error_code, @error_message, @error_retryable, @priority,
         @media_kind, @mime, @now, @now)
       RETURNING *`,
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
    setFolderRules: db.prepare(
      'UPDATE folders SET include_globs = @include, exclude_globs = @exclude WHERE id = @id',
    ),
    setFolderScanned: db.prepare<[number, number]>(
      'UPDATE folders SET last_scan_at = ? WHERE id = ?',
    ),
    nextToHash: db.prepare<{ cutoff: number; limit: number }, FileRow>(
      // Discovered rows always have dedup_checked = 0 (transition() sees to it), which lets
      // files_upload_order serve the order without sorting every discovered row.
      `SELECT * FROM files INDEXED BY files_upload_order
        WHERE state = 'discovered' AND dedup_checked = 0
          AND (mtime_ms <= @cutoff OR seen_at <= @cutoff)
        ORDER BY priority DESC, mtime_ms DESC LIMIT @limit`,
    ),
    nextSettleAt: db.prepare<[], { t: number | null }>(
      `SELECT min(min(mtime_ms, seen_at)) AS t FROM files WHERE state = 'discovered'`,
    ),
    dedupPending: db.prepare<[number], FileRow>(
      `SELECT * FROM files WHERE state = 'queued' AND dedup_checked = 0 LIMIT ?`,
    ),
    // The hot query (see [Note: Upload order] in queue/upload-queue.ts): index
    // files_upload_order gives the order without a sort (EXPLAIN-tested). INDEXED BY pins the
    // plan: without statistics SQLite may prefer files_upload_size and sort every queued row.
    nextToUpload: db.prepare<{ now: number; maxSize: number; limit: number }, FileRow>(
      `SELECT * FROM files INDEXED BY files_upload_order
        WHERE state = 'queued' AND dedup_checked = 1
          AND (next_attempt_at IS NULL OR next_attempt_at <= @now)
          AND size <= @maxSize
        ORDER BY priority DESC, mtime_ms DESC
        LIMIT @limit`,
    ),
    // Large files: few, so a range read on size and a small sort.
    nextLargeToUpload: db.prepare<{ now: number; minSize: number; limit: number }, FileRow>(
      `SELECT * FROM files INDEXED BY files_upload_size
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
      `SELECT * FROM files WHERE ino = @ino AND dev = @dev AND size = @size
         AND mtime_ms = @mtime AND sha256 IS NOT NULL AND id != @id LIMIT 1`,
    ),
    safeBySha: db.prepare<[string], { n: number }>(
      `SELECT count(*) AS n FROM files WHERE sha256 = ? AND state IN ('backed_up','duplicate')`,
    ),
    metadataPending: db.prepare<[number], FileRow>(
      `SELECT * FROM files WHERE metadata_state = 'pending' AND sha256 IS NOT NULL
         AND state IN ('queued','uploading','backed_up','duplicate') LIMIT ?`,
    ),
    metadataToSend: db.prepare<[number], FileRow & { metadata: string | null }>(
      `SELECT * FROM files WHERE metadata_state = 'read'
         AND state IN ('backed_up','duplicate') LIMIT ?`,
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
    oldestUnsafe: db.prepare<[], { t: number | null }>(
      `SELECT min(mtime_ms) AS t FROM files
        WHERE state IN ('discovered','hashing','queued','uploading','failed')`,
    ),
    interrupted: db.prepare<[], FileRow>(
      `SELECT * FROM files WHERE state IN ('hashing','uploading')`,
    ),
    pendingCount: db.prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM files
        WHERE state IN ('discovered','hashing','queued','uploading')`,
    ),
    pendingDryRun: db.prepare<[], { n: number }>(
      `SELECT (SELECT count(*) FROM files WHERE state IN ('discovered','hashing'))
            + (SELECT count(*) FROM files WHERE state = 'queued' AND dedup_checked = 0) AS n`,
    ),
    failedIds: db.prepare<[], { id: number }>(`SELECT id FROM files WHERE state = 'failed'`),
    safeIds: db.prepare<[], { id: number }>(
      `SELECT id FROM files WHERE state IN ('backed_up','duplicate')`,
    ),
    uploadedSince: db.prepare<[number, number], { files: number; bytes: number }>(
      `SELECT count(*) AS files, coalesce(sum(size), 0) AS bytes FROM files
        WHERE folder_id = ? AND uploaded_at >= ?`,
    ),
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
    pruneActivity: db.prepare<[number]>('DELETE FROM activity WHERE id <= ?'),
  };

  const updateCache = new Map<string, Database.Statement>();
  function updateStatement(sets: string[]): Database.Statement {
    const sql = `UPDATE files SET ${sets.join(', ')} WHERE id = @id RETURNING *`;
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
    return updateStatement(sets).get(params) as FileRow | undefined;
  }

  const transitionTx = db.transaction(
    (id: number, to: FileState, patch: FilePatch, from?: readonly FileState[]) => {
      const current = q.stateOf.get(id);
      if (current === undefined) return null;
      if (from !== undefined && !from.includes(current.state)) return null;
      assertTransition(current.state, to);
      // A file going back to discovered must be dedup-checked again once hashed.
      const row = applyPatch(
        id,
        to === 'discovered' ? { ...patch, dedupChecked: false } : patch,
        to,
      );
      return row === undefined ? null : toFile(row);
    },
  );

  const insertTx = db.transaction((file: NewFile): FileRow => {
    const now = clock.now();
    const row = q.insertFile.get({
      folder_id: file.folderId,
      path: file.path,
      rel_path: file.relPath,
      size: file.size,
      mtime_ms: file.mtimeMs,
      ino: file.ino,
      dev: file.dev,
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
    }) as FileRow | undefined;
    if (row === undefined) throw new Error(`inserting ${file.path} returned no row`);
    return row;
  });

  return {
    db,

    // ---- files ----
    getFile,
    getFileByPath(path: string): FileRecord | null {
      const row = q.fileByPath.get(path);
      return row === undefined ? null : toFile(row);
    },
    filesOfFolder(folderId: number): FileRecord[] {
      return q.filesOfFolder.all(folderId).map(toFile);
    },
    insertFile(file: NewFile): FileRecord {
      return toFile(insertTx(file));
    },
    /**
     * Moves a file to `to` and applies `patch`, in one transaction. With `from`, does nothing
     * (returns null) unless the file is currently in one of those states: the compare-and-set
     * that keeps a stale worker from overwriting a newer decision.
     */
    transition(
      id: number,
      to: FileState,
      patch: FilePatch = {},
      from?: readonly FileState[],
    ): FileRecord | null {
      return transitionTx(id, to, patch, from);
    },
    /** Updates columns that are not the state (upload URL/offset, priority): one statement. */
    update(id: number, patch: FilePatch): void {
      applyPatch(id, patch);
    },
    /** Runs fn in one transaction (for batches of transitions made by one scan). */
    batch<T>(fn: () => T): T {
      return db.transaction(fn)();
    },
    nextToHash(now: number, settleMs: number, limit: number): FileRecord[] {
      return q.nextToHash.all({ cutoff: now - settleMs, limit }).map(toFile);
    },
    /** unix ms when the next discovered file will have held still for settleMs, or null. */
    nextSettleAt(settleMs: number): number | null {
      const t = q.nextSettleAt.get()?.t ?? null;
      return t === null ? null : t + settleMs;
    },
    dedupPending(limit: number): FileRecord[] {
      return q.dedupPending.all(limit).map(toFile);
    },
    /** Queued, dedup-checked files up to maxSize bytes, in upload order. */
    nextToUpload(now: number, limit: number, maxSize = Number.MAX_SAFE_INTEGER): FileRecord[] {
      return q.nextToUpload.all({ now, maxSize, limit }).map(toFile);
    },
    /** Queued, dedup-checked files of at least minSize bytes, in upload order. */
    nextLargeToUpload(now: number, limit: number, minSize: number): FileRecord[] {
      return q.nextLargeToUpload.all({ now, minSize, limit }).map(toFile);
    },
    /** EXPLAIN QUERY PLAN of a frequent query (tests assert which index serves it). */
    explain(
      name:
        'nextToUpload' | 'nextLargeToUpload' | 'nextToHash' | 'dedupPending' | 'metadataPending',
    ): string[] {
      const params: Record<string, Record<string, number> | number[]> = {
        nextToUpload: { now: 0, maxSize: 1, limit: 1 },
        nextLargeToUpload: { now: 0, minSize: 1, limit: 1 },
        nextToHash: { cutoff: 0, limit: 1 },
        dedupPending: [1],
        metadataPending: [1],
      };
      const stmt = db.prepare(`EXPLAIN QUERY PLAN ${q[name].source}`);
      const p = params[name];
      const rows = (Array.isArray(p) ? stmt.all(...p) : stmt.all(p)) as { detail: string }[];
      return rows.map((r) => r.detail);
    },
    nextRetryAt(now: number): number | null {
      return q.nextRetryAt.get(now)?.t ?? null;
    },
    /** Another row with the same (ino, dev, size, mtime) and a known hash: a rename or move. */
    findSameContent(file: {
      id: number;
      ino: number;
      dev: number;
      size: number;
      mtimeMs: number;
    }): FileRecord | null {
      const row = q.byIdentity.get({
        ino: file.ino,
        dev: file.dev,
        size: file.size,
        mtime: file.mtimeMs,
        id: file.id,
      });
      return row === undefined ? null : toFile(row);
    },
    isShaSafe(sha256: string): boolean {
      return (q.safeBySha.get(sha256)?.n ?? 0) > 0;
    },
    interruptedFiles(): FileRecord[] {
      return q.interrupted.all().map(toFile);
    },
    /** Files with work ahead (dry run: not yet hashed and dedup-checked). */
    pendingCount(dryRun = false): number {
      return (dryRun ? q.pendingDryRun.get() : q.pendingCount.get())?.n ?? 0;
    },
    /** Files counted safe on the vault (backed_up, duplicate). */
    safeFileIds(): number[] {
      return q.safeIds.all().map((r) => r.id);
    },
    failedFileIds(): number[] {
      return q.failedIds.all().map((r) => r.id);
    },
    listFiles(query: FileQuery): { files: FileRecord[]; total: number } {
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
        .prepare(`SELECT * FROM files WHERE ${page.join(' AND ')} ORDER BY id LIMIT @limit`)
        .all(params) as FileRow[];
      return { files: rows.map(toFile), total };
    },
    summary(): StateSummary[] {
      return q.summary.all().map((r) => ({
        state: r.state,
        folderId: r.folder_id,
        files: r.files,
        bytes: r.bytes,
      }));
    },
    oldestUnsafeMtime(): number | null {
      return q.oldestUnsafe.get()?.t ?? null;
    },
    uploadedSince(folderId: number, since: number): { files: number; bytes: number } {
      return q.uploadedSince.get(folderId, since) ?? { files: 0, bytes: 0 };
    },

    // ---- metadata ----
    metadataPending(limit: number): FileRecord[] {
      return q.metadataPending.all(limit).map(toFile);
    },
    metadataToSend(limit: number): { file: FileRecord; metadataJson: string | null }[] {
      return q.metadataToSend
        .all(limit)
        .map((r) => ({ file: toFile(r), metadataJson: r.metadata }));
    },
    setMetadata(
      id: number,
      metadataJson: string,
      problems: string[],
      captureTime: string | null,
    ): void {
      q.setMetadata.run({
        id,
        metadata: metadataJson,
        problems: JSON.stringify(problems),
        capture_time: captureTime,
      });
    },
    setMetadataSent(id: number): void {
      q.setMetadataSent.run(id);
    },
    metadataJson(id: number): string | null {
      return q.metadataJson.get(id)?.metadata ?? null;
    },

    // ---- folders ----
    listFolders(): FolderRecord[] {
      return q.folders.all().map(toFolder);
    },
    getFolder(id: number): FolderRecord | null {
      const row = q.folderById.get(id);
      return row === undefined ? null : toFolder(row);
    },
    getFolderByPath(path: string): FolderRecord | null {
      const row = q.folderByPath.get(path);
      return row === undefined ? null : toFolder(row);
    },
    addFolder(path: string, include: string[], exclude: string[]): FolderRecord {
      const info = q.insertFolder.run({
        path,
        include: JSON.stringify(include),
        exclude: JSON.stringify(exclude),
        now: clock.now(),
      });
      const row = q.folderById.get(Number(info.lastInsertRowid));
      if (row === undefined) throw new Error('inserted folder vanished');
      return toFolder(row);
    },
    /** Forgets a folder and its files (never touches the vault or the disk). */
    removeFolder(id: number): void {
      q.deleteFolder.run(id);
    },
    setFolderRules(id: number, include: string[], exclude: string[]): void {
      q.setFolderRules.run({
        id,
        include: JSON.stringify(include),
        exclude: JSON.stringify(exclude),
      });
    },
    setFolderScanned(id: number, at: number): void {
      q.setFolderScanned.run(at, id);
    },

    // ---- settings ----
    userSettings(): Map<string, unknown> {
      return new Map(q.settings.all().map((r) => [r.key, JSON.parse(r.value) as unknown]));
    },
    setSetting(key: string, value: unknown): void {
      if (value === null || value === undefined) q.deleteSetting.run(key);
      else q.setSetting.run({ key, value: JSON.stringify(value), now: clock.now() });
    },

    // ---- activity ----
    addActivity(event: Omit<ActivityEvent, 'id' | 'at'>): ActivityEvent {
      const at = clock.now();
      const info = q.insertActivity.run({ at, ...event });
      const id = Number(info.lastInsertRowid);
      // Keep the log bounded: drop the oldest beyond 10,000 events.
      if (id % 1000 === 0 && id > 10_000) q.pruneActivity.run(id - 10_000);
      return { id, at, ...event };
    },
    listActivity(limit: number): ActivityEvent[] {
      return q.activity.all(limit);
    },
    lastErrors(limit: number): ActivityEvent[] {
      return q.lastErrors.all(limit);
    },

    close(): void {
      db.close();
    },
  };
}
