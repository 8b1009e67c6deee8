// The store's part for verify and healing (main/engine/verify/): which safe files a verify
// looks at, the receipts it keeps, and the content the vault lost that this computer is
// uploading again. Prepared statements over the tables of migration 0005; writes go through
// the store's group commit (the `write` it hands in), so they are durable with the file
// changes they accompany.
//
// Invariant: a vault_repairs row exists only while some file of that content is on its way
// back to the vault (the healer removes it when one arrives).
import type { FileState, VerifyProblem, VerifyReceipt } from '../../../common/contract.js';
import { safeStates, sqlStates } from '../pipeline/transitions.js';
import type { SqliteDatabase } from './database.js';
import { exactPaths } from './exact-paths.js';
import type { MediaKind } from './types.js';

/** A safe file as verify sees it: its identity when hashed, and its content. */
export interface VerifyCandidate {
  id: number;
  folderId: number;
  path: string;
  relPath: string;
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
  sha256: string;
  state: FileState;
  mime: string | null;
  mediaKind: MediaKind;
}

export type VaultProblem = 'damaged' | 'missing';

export interface RepairRecord {
  sha256: string;
  problem: VaultProblem;
  foundAt: number;
  foundBy: 'verify' | 'check';
}

export type NewReceipt = Omit<VerifyReceipt, 'id'>;

export interface VerifyQueries {
  /** Safe files with a hash, optionally only those under `folder` (an absolute path). */
  safeFiles(folder: string | null): VerifyCandidate[];
  /** Safe files holding this content. */
  safeFilesWithContent(sha256: string): VerifyCandidate[];
  /** Distinct content of every safe file. */
  safeContent(): string[];
  /** Every path this computer knows with this content (any state but missing). */
  localPaths(sha256: string): string[];
  /** Records that these files were proven at `at`. */
  setProven(ids: readonly number[], at: number): void;
  provenAt(id: number): number | null;
  addReceipt(receipt: NewReceipt): VerifyReceipt;
  lastReceipt(): VerifyReceipt | null;
  addRepair(repair: RepairRecord): void;
  repairs(): RepairRecord[];
  removeRepair(sha256: string): void;
}

interface CandidateRow {
  id: number;
  folder_id: number;
  path: string;
  rel_path: string;
  size: number;
  mtime_ms: number;
  ino: number;
  dev: number;
  sha256: string;
  state: FileState;
  mime: string | null;
  media_kind: MediaKind;
  rel_path_raw: Buffer | null;
}

interface ReceiptRow {
  id: number;
  started_at: number;
  finished_at: number;
  vault_url: string;
  embedded: number;
  scope: string;
  files: number;
  files_proven: number;
  bytes: number;
  bytes_proven: number;
  local_reread: number;
  local_gone: number;
  problems: string;
  problem_count: number;
}

/** Problems kept per receipt: enough to act on, bounded for a vault that lost everything. */
const maxStoredProblems = 1000;

function toCandidate(r: CandidateRow): VerifyCandidate {
  return {
    id: r.id,
    folderId: r.folder_id,
    ...exactPaths(r),
    size: r.size,
    mtimeMs: r.mtime_ms,
    ino: r.ino,
    dev: r.dev,
    sha256: r.sha256,
    state: r.state,
    mime: r.mime,
    mediaKind: r.media_kind,
  };
}

function toReceipt(r: ReceiptRow): VerifyReceipt {
  const scope = JSON.parse(r.scope) as { sample?: number | null; folder?: string | null };
  return {
    id: r.id,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    vault: { url: r.vault_url, embedded: r.embedded === 1 },
    sample: scope.sample ?? null,
    folder: scope.folder ?? null,
    files: r.files,
    filesProven: r.files_proven,
    bytes: r.bytes,
    bytesProven: r.bytes_proven,
    localReread: r.local_reread,
    localGone: r.local_gone,
    problemCount: r.problem_count,
    problems: JSON.parse(r.problems) as VerifyProblem[],
  };
}

export function createVerifyQueries(
  db: SqliteDatabase,
  write: <T>(fn: () => T) => T,
): VerifyQueries {
  const safe = sqlStates(safeStates);
  const columns = `id, folder_id, path, rel_path, size, mtime_ms, ino, dev, sha256, state, mime,
    media_kind, rel_path_raw`;
  const q = {
    safeFiles: db.prepare<[], CandidateRow>(
      `SELECT ${columns} FROM files WHERE state IN (${safe}) AND sha256 IS NOT NULL ORDER BY id`,
    ),
    // A folder and what is under it: the path itself, or a prefix ending in the separator.
    safeFilesUnder: db.prepare<{ folder: string; prefix: string }, CandidateRow>(
      `SELECT ${columns} FROM files WHERE state IN (${safe}) AND sha256 IS NOT NULL
         AND (path = @folder OR substr(path, 1, length(@prefix)) = @prefix) ORDER BY id`,
    ),
    safeWithSha: db.prepare<[string], CandidateRow>(
      `SELECT ${columns} FROM files WHERE sha256 = ? AND state IN (${safe})`,
    ),
    safeContent: db.prepare<[], { sha256: string }>(
      `SELECT DISTINCT sha256 FROM files WHERE state IN (${safe}) AND sha256 IS NOT NULL`,
    ),
    localPaths: db.prepare<[string], { path: string }>(
      `SELECT path FROM files WHERE sha256 = ? AND state != 'missing' ORDER BY path`,
    ),
    setProven: db.prepare<[number, number]>('UPDATE files SET proven_at = ? WHERE id = ?'),
    provenAt: db.prepare<[number], { proven_at: number | null }>(
      'SELECT proven_at FROM files WHERE id = ?',
    ),
    insertReceipt: db.prepare(
      `INSERT INTO verify_receipts (started_at, finished_at, vault_url, embedded, scope, files,
         files_proven, bytes, bytes_proven, local_reread, local_gone, problems, problem_count)
       VALUES (@started_at, @finished_at, @vault_url, @embedded, @scope, @files, @files_proven,
         @bytes, @bytes_proven, @local_reread, @local_gone, @problems, @problem_count)
       RETURNING *`,
    ),
    lastReceipt: db.prepare<[], ReceiptRow>(
      'SELECT * FROM verify_receipts ORDER BY id DESC LIMIT 1',
    ),
    addRepair: db.prepare(
      `INSERT INTO vault_repairs (sha256, problem, found_at, found_by)
       VALUES (@sha256, @problem, @found_at, @found_by)
       ON CONFLICT(sha256) DO UPDATE SET problem = excluded.problem`,
    ),
    repairs: db.prepare<
      [],
      { sha256: string; problem: VaultProblem; found_at: number; found_by: 'verify' | 'check' }
    >('SELECT * FROM vault_repairs ORDER BY found_at'),
    removeRepair: db.prepare<[string]>('DELETE FROM vault_repairs WHERE sha256 = ?'),
  };

  return {
    safeFiles(folder) {
      if (folder === null) return q.safeFiles.all().map(toCandidate);
      const sep = folder.includes('\\') && !folder.includes('/') ? '\\' : '/';
      const prefix = folder.endsWith(sep) ? folder : folder + sep;
      return q.safeFilesUnder.all({ folder, prefix }).map(toCandidate);
    },
    safeFilesWithContent: (sha256) => q.safeWithSha.all(sha256).map(toCandidate),
    safeContent: () => q.safeContent.all().map((r) => r.sha256),
    localPaths: (sha256) => q.localPaths.all(sha256).map((r) => r.path),
    setProven(ids, at) {
      if (ids.length === 0) return;
      write(() => {
        for (const id of ids) q.setProven.run(at, id);
      });
    },
    provenAt: (id) => q.provenAt.get(id)?.proven_at ?? null,
    addReceipt(r) {
      const row = write(
        () =>
          q.insertReceipt.get({
            started_at: r.startedAt,
            finished_at: r.finishedAt,
            vault_url: r.vault.url,
            embedded: r.vault.embedded ? 1 : 0,
            scope: JSON.stringify({ sample: r.sample, folder: r.folder }),
            files: r.files,
            files_proven: r.filesProven,
            bytes: r.bytes,
            bytes_proven: r.bytesProven,
            local_reread: r.localReread,
            local_gone: r.localGone,
            problems: JSON.stringify(r.problems.slice(0, maxStoredProblems)),
            problem_count: r.problemCount,
          }) as ReceiptRow | undefined,
      );
      if (row === undefined) throw new Error('inserting a verify receipt returned no row');
      return toReceipt(row);
    },
    lastReceipt() {
      const row = q.lastReceipt.get();
      return row === undefined ? null : toReceipt(row);
    },
    addRepair(r) {
      write(() =>
        q.addRepair.run({
          sha256: r.sha256,
          problem: r.problem,
          found_at: r.foundAt,
          found_by: r.foundBy,
        }),
      );
    },
    repairs: () =>
      q.repairs.all().map((r) => ({
        sha256: r.sha256,
        problem: r.problem,
        foundAt: r.found_at,
        foundBy: r.found_by,
      })),
    removeRepair(sha256) {
      write(() => q.removeRepair.run(sha256));
    },
  };
}
