// What the engine reports about itself, as pure functions of what the store summarises and
// what the runtime knows (pause, reachability, folder modes, uploads in flight). The daemon's
// status event, the UI's folder list and `keepsake status` (through snapshot.ts) all count
// with the same functions, so they never disagree.
//
// Invariant: excluded, missing and skipped files count in their state's number but never in
// the totals; only backed_up and duplicate count as safe; pending bytes never go below zero.
import {
  fileStates,
  type EngineStatus,
  type FileRow,
  type Folder,
  type PauseReason,
  type StateCounts,
  type UploadProgress,
  type ActivityEvent,
} from '../../../common/contract.js';
import type {
  FileRecord,
  FolderProblemRecord,
  FolderRecord,
  StateSummary,
  Store,
} from '../store/store.js';
import { pendingStates, safeStates } from '../pipeline/transitions.js';

/** "possible damage: this photo was backed up with N bytes and is now empty; ..." */
export function emptiedWords(bytes: number): string {
  return `possible damage: this photo was backed up with ${bytes.toLocaleString('en-US')} bytes and is now empty; the earlier version stays on the vault`;
}

/** "the vault did not record where this file is kept (WHY); ..." */
export function placeRefusedWords(why: string): string {
  return `the vault did not record where this file is kept (${why}); a restore would not bring it back under this name. Keepsake offers it again at its next start`;
}

/**
 * The problem with a file that is nevertheless safe on the vault, or null: a photo of 0 bytes
 * (an empty file holds no picture), or one that was backed up and is now empty (possible
 * damage), or one whose place the vault refused to record (place_not_recorded).
 * Each kind has its count in the status: `keepsake backup` lists the backed-up rows for their
 * problems only when one of those counts is not 0 (a new kind adds its count there too).
 */
export function safeFileProblem(
  f: Pick<FileRecord, 'state' | 'size' | 'emptiedFrom'> &
    Partial<Pick<FileRecord, 'locationRefused'>>,
): { code: 'empty_file' | 'possible_damage' | 'place_not_recorded'; message: string } | null {
  if (!safeStates.includes(f.state)) return null;
  if (f.size !== 0) {
    const refused = f.locationRefused ?? null;
    return refused === null
      ? null
      : { code: 'place_not_recorded', message: placeRefusedWords(refused) };
  }
  if (f.emptiedFrom !== null)
    return { code: 'possible_damage', message: emptiedWords(f.emptiedFrom) };
  return { code: 'empty_file', message: 'this photo is an empty file' };
}

export function emptyCounts(): StateCounts {
  return Object.fromEntries(fileStates.map((s) => [s, 0])) as StateCounts;
}

/**
 * A file as the UI shows it. `store` answers which other file here a duplicate copies; without
 * it (or for any other state) duplicateOf is null.
 */
export function toFileRow(f: FileRecord, store?: Pick<Store, 'uploadedCopyOf'>): FileRow {
  return {
    id: f.id,
    folderId: f.folderId,
    path: f.path,
    relPath: f.relPath,
    size: f.size,
    mtimeMs: f.mtimeMs,
    sha256: f.sha256,
    state: f.state,
    error: f.error ? { name: 'KeepsakeError', ...f.error } : null,
    excludedBy: f.excludedBy,
    duplicateOf:
      f.state === 'duplicate' && f.sha256 !== null && store
        ? store.uploadedCopyOf(f.sha256, f.id)
        : null,
    attempts: f.attempts,
    nextAttemptAt: f.nextAttemptAt,
    captureTime: f.captureTime,
    mime: f.mime,
    metadataProblems: f.metadataProblems,
    problem: safeFileProblem(f),
    updatedAt: f.updatedAt,
  };
}

export interface Tally {
  counts: StateCounts;
  filesTotal: number;
  bytesTotal: number;
  filesSafe: number;
  bytesSafe: number;
  /** Bytes of files with work ahead (before subtracting what is already sent). */
  bytesPending: number;
}

/** Counts and totals over the store's summary rows (all folders, or one when folderId is given). */
export function tally(summary: readonly StateSummary[], folderId?: number): Tally {
  const t: Tally = {
    counts: emptyCounts(),
    filesTotal: 0,
    bytesTotal: 0,
    filesSafe: 0,
    bytesSafe: 0,
    bytesPending: 0,
  };
  for (const row of summary) {
    if (folderId !== undefined && row.folderId !== folderId) continue;
    t.counts[row.state] += row.files;
    if (row.state === 'excluded' || row.state === 'missing' || row.state === 'skipped') continue;
    if (row.state === 'vault_only') continue; // freed up: not on this computer, by choice
    t.filesTotal += row.files;
    t.bytesTotal += row.bytes;
    if (safeStates.includes(row.state)) {
      t.filesSafe += row.files;
      t.bytesSafe += row.bytes;
    }
    if (pendingStates.includes(row.state)) t.bytesPending += row.bytes;
  }
  return t;
}

export interface StatusInput {
  summary: readonly StateSummary[];
  current: UploadProgress[];
  /** Bytes per second over the last few seconds across all uploads (the one speed shown). */
  throughput: number;
  pauseReason: PauseReason | null;
  pausedUntil: number | null;
  vaultReachable: boolean;
  anyFolderOffline: boolean;
  /** Scans or hint batches being applied right now. */
  reconciling: number;
  oldestUnsafeMtimeMs: number | null;
  /** Folders the last scans could not read (each a problem the person must see). */
  unreadableFolders: number;
  /** Safe files of 0 bytes (empty photos, possible damage): see safeFileProblem. */
  emptyFiles: number;
  /** Files whose place the vault refused to record: see safeFileProblem. */
  placesNotRecorded: number;
  lastErrors: ActivityEvent[];
  vault: EngineStatus['vault'];
}

export function engineStatus(input: StatusInput): EngineStatus {
  const { counts, filesTotal, bytesTotal, filesSafe, bytesSafe, ...t } = tally(input.summary);
  const current = input.current;
  const sentInFlight = current.reduce((n, c) => n + c.bytesSent, 0);
  const bytesPending = Math.max(0, t.bytesPending - sentInFlight);
  // Nothing in flight means nothing flowing, whatever the last seconds averaged.
  const throughput = current.length > 0 ? input.throughput : 0;
  const reason = input.pauseReason;
  const working = counts.discovered + counts.hashing + counts.queued + counts.uploading;
  // A folder that cannot be read is as much a problem as a failed file (DESIGN.md promise 2).
  const problems =
    counts.failed + input.unreadableFolders + input.emptyFiles + input.placesNotRecorded;
  let status: EngineStatus['status'];
  if (reason !== null)
    status =
      reason === 'sign_in_needed' ||
      reason === 'vault_full' ||
      reason === 'disk_full' ||
      reason === 'database_corrupt'
        ? 'needs_attention'
        : 'paused';
  else if (!input.vaultReachable || input.anyFolderOffline) status = 'offline';
  else if (problems > 0 && working === 0) status = 'needs_attention';
  else if (working > 0 || input.reconciling > 0) status = 'backing_up';
  else if (problems > 0) status = 'needs_attention';
  else status = 'up_to_date';
  return {
    status,
    paused: reason !== null,
    pauseReason: reason,
    pausedUntil: reason === 'user' ? input.pausedUntil : null,
    counts,
    filesTotal,
    bytesTotal,
    filesSafe,
    bytesSafe,
    bytesPending,
    throughputBytesPerSecond: throughput,
    etaSeconds: throughput > 0 ? Math.round(bytesPending / throughput) : null,
    oldestUnsafeMtimeMs: input.oldestUnsafeMtimeMs,
    unreadableFolders: input.unreadableFolders,
    emptyFiles: input.emptyFiles,
    placesNotRecorded: input.placesNotRecorded,
    current,
    lastErrors: input.lastErrors,
    vault: input.vault,
  };
}

/** One folder as the UI lists it. */
export function folderView(
  folder: FolderRecord,
  summary: readonly StateSummary[],
  mode: Folder['mode'],
  modeDetail: string | null,
  problems: readonly FolderProblemRecord[] = [],
  requiredByPolicy = false,
): Folder {
  const t = tally(summary, folder.id);
  return {
    id: folder.id,
    path: folder.path,
    include: folder.include,
    exclude: folder.exclude,
    mode,
    modeDetail,
    counts: t.counts,
    bytesTotal: t.bytesTotal,
    bytesSafe: t.bytesSafe,
    lastScanAt: folder.lastScanAt,
    problems: problems.map((p) => ({ path: p.path, code: p.code, message: p.message })),
    requiredByPolicy,
    freeUp: folder.freeUp,
  };
}
