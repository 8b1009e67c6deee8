// The Store: what the pipeline stages, the runtime and the commands may ask of the engine's
// database and do to it. The SQLite implementation is store.ts; nothing else holds SQL.
//
// Invariants: a file's state changes only through apply() with a named transition
// (pipeline/transitions.ts) or insertFile(); writes are grouped (see [Note: Group commit] in
// store.ts) and onCommitted() announces a change only once it is durable, so a listener never
// acts on (or shows) a state a crash could still take back.
import type { ActivityEvent, FileState } from '../../../common/contract.js';
import type { KeepsakeError } from '../errors.js';
import type { Transition, TransitionName } from '../pipeline/transitions.js';
import type { VerifyQueries } from './verify-queries.js';
import type { GroupQueries } from './group-queries.js';

export interface FolderRecord {
  id: number;
  path: string;
  include: string[];
  exclude: string[];
  addedAt: number;
  lastScanAt: number | null;
  /** The person allowed freeing up space in this folder (off by default; issue 15 section 2). */
  freeUp: boolean;
}

/** A folder (a watched root or a sub-folder) the last scan could not list. */
export interface FolderProblemRecord {
  folderId: number;
  /** Relative to the folder root, forward slashes; '' = the root itself. */
  relPath: string;
  path: string;
  code: string;
  message: string;
  /** unix ms of the first scan (in this run of problems) that could not list it */
  since: number;
}

/** A place on the vault of a file of a removed folder, to be marked gone there. */
export interface LocationTombstone {
  id: number;
  /** the removed folder's label on the vault */
  folder: string;
  /** the exact bytes of the path inside that folder, '/'-separated */
  path: Buffer;
  sha256: string;
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
  /** inode change time as last seen, unix ms; 0 = not known yet (a row from before 0008) */
  ctimeMs: number;
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
  /** The content the vault records at this file's place from our last registration; null = none. */
  locationSha256: string | null;
  /** The mtime sent with that registration (unix ms). */
  locationMtimeMs: number | null;
  /**
   * Bytes the file had when it was last backed up, when it is now 0 bytes (possible damage:
   * its place on the vault keeps the earlier version); null = not emptied.
   */
  emptiedFrom: number | null;
  /** The vault's words when it refused to record this file's place; null = none. */
  locationRefused: string | null;
}

/** Columns a transition (or a plain update) may set besides the state. */
export interface FilePatch {
  relPath?: string;
  size?: number;
  mtimeMs?: number;
  ino?: number;
  dev?: number;
  ctimeMs?: number;
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
  locationSha256?: string | null;
  locationMtimeMs?: number | null;
  emptiedFrom?: number | null;
  locationRefused?: string | null;
}

export interface NewFile {
  folderId: number;
  path: string;
  relPath: string;
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
  ctimeMs?: number;
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

/** A committed change of one file: the transition (or insert) and the row after it. */
export interface FileChange {
  cause: TransitionName | 'inserted';
  file: FileRecord;
}

export type CommittedListener = (changes: readonly FileChange[]) => void;

/**
 * Just what a reconcile pass compares against the disk: a folder's rows kept small (a full
 * FileRecord of 100,000 files would not be). A FileRecord is a ScanRow too.
 */
export type ScanRow = Pick<
  FileRecord,
  | 'id'
  | 'path'
  | 'relPath'
  | 'size'
  | 'mtimeMs'
  | 'ino'
  | 'dev'
  | 'ctimeMs'
  | 'state'
  | 'excludedBy'
  | 'uploadUrl'
> & { error: { code: string } | null };

export interface Store {
  // ---- files: reads (they see every applied change, committed or not) ----
  getFile(id: number): FileRecord | null;
  getFileByPath(path: string): FileRecord | null;
  filesOfFolder(folderId: number): FileRecord[];
  /** Every file row, in id order, read in pages (bounded memory): `keepsake files`. */
  everyFile(): Iterable<FileRecord>;
  /** A folder's rows reduced to what reconcile compares, in pages (bounded memory). */
  scanRowsOfFolder(folderId: number): Iterable<ScanRow>;
  /** Discovered files whose identity held still since `now - settleMs`, in upload order. */
  nextToHash(now: number, settleMs: number, limit: number): FileRecord[];
  /** unix ms when the next discovered file will have held still for settleMs, or null. */
  nextSettleAt(settleMs: number): number | null;
  /** Hashed files not yet asked about on the vault. */
  dedupPending(limit: number): FileRecord[];
  /** Queued, dedup-checked files up to maxSize bytes, in upload order. */
  nextToUpload(now: number, limit: number, maxSize?: number): FileRecord[];
  /** Queued, dedup-checked files of at least minSize bytes, in upload order. */
  nextLargeToUpload(now: number, limit: number, minSize: number): FileRecord[];
  nextRetryAt(now: number): number | null;
  /** EXPLAIN QUERY PLAN of a frequent query (tests assert which index serves it). */
  explain(
    name:
      | 'nextToUpload'
      | 'nextLargeToUpload'
      | 'nextToHash'
      | 'dedupPending'
      | 'metadataPending'
      | 'emptyFileCount',
  ): string[];
  /** Another row with the same (ino, dev, size, mtime) and a known hash: a rename or move. */
  findSameContent(file: {
    id: number;
    ino: number;
    dev: number;
    size: number;
    mtimeMs: number;
  }): FileRecord | null;
  isShaSafe(sha256: string): boolean;
  /** Another file here that was uploaded with this content (backed_up), or null. */
  uploadedCopyOf(sha256: string, exceptId: number): string | null;
  /** Whether another row has exactly this size (a possible copy: hash before sending). */
  hasOtherOfSize(size: number, id: number): boolean;
  /** Files a crash left hashing or uploading. */
  interruptedFiles(): FileRecord[];
  /** Files with work ahead (dry run: not yet hashed and dedup-checked). */
  pendingCount(dryRun?: boolean): number;
  safeFileIds(): number[];
  failedFileIds(): number[];
  listFiles(query: FileQuery): { files: FileRecord[]; total: number };
  summary(): StateSummary[];
  oldestUnsafeMtime(): number | null;
  /**
   * unix ms since which the longest-waiting unsafe file has waited (the later of its mtime and
   * when Keepsake first saw it); null when every file is safe. The fleet's "behind" verdict.
   */
  oldestUnsafeSince(): number | null;
  /**
   * Safe (backed_up, duplicate) files of 0 bytes, in id order: empty photos, and photos that
   * were backed up and are now empty (emptiedFrom set). Each is a problem shown to the person.
   */
  emptyFiles(limit: number): FileRecord[];
  emptyFileCount(): number;
  /** Files whose place the vault refused to record (locationRefused set), in id order. */
  locationRefusedFiles(limit: number): FileRecord[];
  locationRefusedCount(): number;

  // ---- files: changes ----
  insertFile(file: NewFile): FileRecord;
  /** insertFile, or null when a row for file.path exists already (nothing is written). */
  insertFileIfNew(file: NewFile): FileRecord | null;
  /**
   * Applies a named transition: does nothing (null) unless the file is in one of its
   * from-states; throws IllegalTransitionError if the move is not in the state table.
   */
  apply(id: number, transition: Transition): FileRecord | null;
  /** Columns that are not the state (upload URL/offset, priority): not announced. */
  update(id: number, patch: FilePatch): void;
  /** Runs fn as one unit: all its changes are kept, or none (it throws). */
  batch<T>(fn: () => T): T;
  /** Announces committed file changes, in commit order. Returns the unsubscribe. */
  onCommitted(listener: CommittedListener): () => void;
  /** Commits the open group now (before a read from another process, before exit). */
  commit(): void;
  /**
   * File changes this connection already sees that onCommitted() listeners have not heard of
   * yet (the open group, or a committed group whose announcement is queued). While it is not
   * 0, a stage's in-memory list may lag the database without anything being lost.
   */
  unannouncedChanges(): number;

  // ---- metadata ----
  metadataPending(limit: number): FileRecord[];
  metadataToSend(limit: number): { file: FileRecord; metadataJson: string | null }[];
  /** How many rows metadataToSend(limit) would answer, without reading them. */
  countMetadataToSend(limit: number): number;
  setMetadata(
    id: number,
    metadataJson: string,
    problems: string[],
    captureTime: string | null,
  ): void;
  setMetadataSent(id: number): void;
  metadataJson(id: number): string | null;

  // ---- locations (what this device told the vault about each file's place) ----
  /**
   * Files whose place the vault does not know as it is, after `afterId` in id order: safe
   * files not registered with their current sha256 and mtime, and missing files whose place
   * is still registered.
   */
  locationsPending(afterId: number, limit: number): FileRecord[];
  /** Places of removed folders the vault has not been told are gone, oldest first. */
  locationTombstones(limit: number): LocationTombstone[];
  /** The vault was told: forget these tombstones. */
  dropLocationTombstones(ids: readonly number[]): void;

  // ---- folders ----
  listFolders(): FolderRecord[];
  getFolder(id: number): FolderRecord | null;
  getFolderByPath(path: string): FolderRecord | null;
  addFolder(path: string, include: string[], exclude: string[]): FolderRecord;
  /**
   * Forgets a folder and its files (never touches the vault or the disk). With `vaultLabel`
   * (the folder's name on the vault), each file whose place the vault knows leaves a
   * tombstone, in the same transaction, for the location pump to mark gone.
   */
  removeFolder(id: number, vaultLabel?: string): void;
  setFolderRules(id: number, include: string[], exclude: string[]): void;
  /** Allows (or no longer allows) freeing up space in this folder. */
  setFolderFreeUp(id: number, allowed: boolean): void;
  setFolderScanned(id: number, at: number): void;
  /**
   * Replaces what a folder's last scan could not list (a completed scan is the truth). Returns
   * the problems that are new since the previous scan (to tell the person once, not hourly).
   */
  setFolderProblems(
    folderId: number,
    problems: readonly Omit<FolderProblemRecord, 'folderId' | 'since'>[],
  ): FolderProblemRecord[];
  /** Folders that could not be listed, of one watched folder or of all. */
  folderProblems(folderId?: number): FolderProblemRecord[];

  // ---- settings ----
  userSettings(): Map<string, unknown>;
  setSetting(key: string, value: unknown): void;

  // ---- activity ----
  addActivity(event: Omit<ActivityEvent, 'id' | 'at'>): ActivityEvent;
  listActivity(limit: number): ActivityEvent[];
  lastErrors(limit: number): ActivityEvent[];
  /** The newest warnings and errors, however many files were backed up since. */
  listProblems(limit: number): ActivityEvent[];

  // ---- verify receipts and healing ----
  verify: VerifyQueries;
  /** Groups: what grouping compares, and what was declared to the vault (issue 11). */
  groups: GroupQueries;
  /**
   * The storage fault (disk full, damaged file) the store stopped writing on, or null.
   * See [Note: Store fault mode].
   */
  fault(): KeepsakeError | null;
  /** After a disk-full fault: tries one write; true when the store writes again. */
  retryAfterFault(): boolean;

  /** Commits what is open and closes the database. */
  close(): void;
}
