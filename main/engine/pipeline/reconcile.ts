// Reconcile: brings the database in line with what is on disk (a ScanResult, or a re-stat of
// the paths a watcher hinted at). The scan is the truth; events are hints (CONVENTIONS.md).
//
// Invariants:
// - (size, mtime, ino, dev) unchanged -> the stored hash and state stand (nothing re-hashed);
// - changed -> discovered with the hash cleared; new -> discovered; gone -> missing (never
//   deleted from the vault); a folder whose root is gone changes nothing (offline); a file
//   freed up at the person's request (vault_only) is not missing, and is not re-uploaded;
// - a file being hashed or uploaded is left to the hasher/uploader, which detect a change
//   themselves (file_changed) and start it over;
// - scan problems on media-named paths become visible failed files; never an abort;
// - a whole-folder reconcile yields to the event loop every yieldEvery entries, so the
//   stages start on the first files while later ones are still being recorded, and the
//   announcements of committed groups are handed on instead of piling up (100,000 new files
//   made 100,000 queued announcements before any ran). What it decided from its snapshot of
//   the rows stays safe across a yield: every move is a compare-and-set on the current state,
//   and a path someone else recorded meanwhile (a watcher hint) is applied to that row.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { FileIdentity } from '../hash/types.js';
import type { Classification, FolderRules, ScanEntry, ScanResult } from '../watch/types.js';
import type { FolderRecord, ScanRow, Store } from '../store/store.js';
import { emptiedFromOf, freedStates, isBusy, transitions } from './transitions.js';

export interface ReconcileContext {
  store: Store;
  now(): number;
  classify(relPath: string, rules: FolderRules): Classification;
  /** tus termination of an upload that will never finish (content changed or gone). */
  abandon(uploadUrl: string): void;
  /** A photo that was backed up with `bytes` bytes is now empty (possible damage): told once. */
  emptied?(path: string, bytes: number): void;
}

export interface ReconcileCounts {
  added: number;
  changed: number;
  missing: number;
  failed: number;
}

/** `a` is what the row holds: a ctime it does not know yet (0) is not a change. */
function sameId(a: FileIdentity, b: FileIdentity): boolean {
  return (
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ino === b.ino &&
    a.dev === b.dev &&
    (!a.ctimeMs || a.ctimeMs === b.ctimeMs)
  );
}

/** Applies one disk observation of a path to its row (insert, update or nothing). */
export function applyEntry(
  ctx: ReconcileContext,
  folder: FolderRecord,
  entry: ScanEntry,
  row: ScanRow | null,
  priority: number,
  counts: ReconcileCounts,
): void {
  const { store } = ctx;
  const now = ctx.now();
  const c = entry.classification;
  // A name that says nothing is looked at (watch/sniff.ts) before it reaches here; one that was
  // not (a caller that skipped the look) changes nothing until it is.
  if (c.kind === 'unknown') return;
  // Its first bytes could not be read (permissions): a failed file with the reason, never
  // "not a photo"; the next scan reads it again.
  if (c.kind === 'unreadable') {
    const problem = { path: entry.path, relPath: entry.relPath, code: c.code, message: c.message };
    applyProblem(ctx, folder, problem, row, counts);
    return;
  }
  const identity = {
    size: entry.size,
    mtimeMs: entry.mtimeMs,
    ino: entry.ino,
    dev: entry.dev,
    ctimeMs: entry.ctimeMs,
  };
  if (row === null) {
    const inserted = store.insertFileIfNew({
      folderId: folder.id,
      path: entry.path,
      relPath: entry.relPath,
      ...identity,
      state: c.kind === 'excluded' ? 'excluded' : c.kind === 'skipped' ? 'skipped' : 'discovered',
      excludedBy: c.kind === 'excluded' ? c.rule : c.kind === 'skipped' ? c.reason : null,
      priority,
      mediaKind: c.kind === 'sidecar' ? 'sidecar' : 'media',
      mime: c.kind === 'media' || c.kind === 'sidecar' ? c.mime : null,
    });
    if (inserted !== null) {
      counts.added++;
      return;
    }
    // Recorded meanwhile (a watcher hint while a reconcile yielded): apply to that row.
    const current = store.getFileByPath(entry.path);
    if (current === null) return;
    applyEntry(ctx, folder, entry, current, priority, counts);
    return;
  }
  const unchanged = sameId(row, identity);
  // a row from before ctimes were kept learns it now, without a change of state
  if (unchanged && !row.ctimeMs && identity.ctimeMs)
    store.update(row.id, { ctimeMs: identity.ctimeMs });
  if (c.kind === 'skipped') {
    if (row.state === 'skipped' && row.excludedBy === c.reason && unchanged) return;
    if (isBusy(row.state)) return;
    if (row.uploadUrl) ctx.abandon(row.uploadUrl);
    const seen = { relPath: entry.relPath, identity, changed: !unchanged, now };
    if (store.apply(row.id, transitions.notMedia(c.reason, seen))) counts.changed++;
    return;
  }
  if (c.kind === 'excluded') {
    if (row.state === 'excluded' && row.excludedBy === c.rule && unchanged) return;
    if (isBusy(row.state)) return; // its worker finishes first; the next pass excludes it
    if (row.uploadUrl) ctx.abandon(row.uploadUrl);
    const seen = { relPath: entry.relPath, identity, changed: !unchanged, now };
    if (store.apply(row.id, transitions.excluded(c.rule, seen))) counts.changed++;
    return;
  }
  const classified = {
    mime: c.mime,
    mediaKind: c.kind === 'sidecar' ? 'sidecar' : 'media',
  } as const;
  if (unchanged) {
    // Back from missing, freed up, or excluded (rules changed): the stored hash stands.
    if (row.state === 'missing' || row.state === 'excluded' || row.state === 'vault_only') {
      if (store.apply(row.id, transitions.reappeared(entry.relPath, classified))) counts.changed++;
    }
    // A failed file with unchanged identity stays failed until the person retries it.
    return;
  }
  if (isBusy(row.state)) return;
  if (row.uploadUrl) ctx.abandon(row.uploadUrl);
  // Only a file now empty needs its whole row (rare): was it backed up, and with what size?
  const before = identity.size === 0 ? store.getFile(row.id) : null;
  const emptiedFrom = before === null ? null : emptiedFromOf(before, 0);
  const change = transitions.changedOnDisk(entry.relPath, identity, classified, now, emptiedFrom);
  if (store.apply(row.id, change)) {
    counts.changed++;
    if (emptiedFrom !== null && before?.emptiedFrom === null)
      ctx.emptied?.(entry.path, emptiedFrom);
  }
}

/** A path that is no longer on disk. */
export function applyGone(ctx: ReconcileContext, row: ScanRow, counts: ReconcileCounts): void {
  if (row.state === 'missing' || freedStates.includes(row.state) || isBusy(row.state)) return;
  if (row.uploadUrl) ctx.abandon(row.uploadUrl);
  if (ctx.store.apply(row.id, transitions.gone())) counts.missing++;
}

/** The rule shown for a media-named symbolic link. See [Note: Symbolic links are excluded]. */
export const symlinkRule = 'symbolic link (not followed: add the folder it points to)';

// [Note: Symbolic links are excluded]
// The scan never follows symbolic links (watch/scan.ts says why). A media-named link is shown
// as `excluded` by a rule the person can read, not as `failed`: nothing went wrong and no
// retry can change it, and a failed file would make every `keepsake backup` of a folder with
// one link exit 1.

/** A media-named path the scan could not read (FIFO, permissions): a visible failed file. */
export function applyProblem(
  ctx: ReconcileContext,
  folder: FolderRecord,
  problem: { path: string; relPath: string; code: string; message: string },
  row: ScanRow | null,
  counts: ReconcileCounts,
): void {
  if (problem.code === 'symlink') {
    applySymlink(ctx, folder, problem, row, counts);
    return;
  }
  const error = { code: problem.code, message: problem.message, retryable: true };
  if (row === null) {
    ctx.store.insertFile({
      folderId: folder.id,
      path: problem.path,
      relPath: problem.relPath,
      size: 0,
      mtimeMs: 0,
      ino: 0,
      dev: 0,
      state: 'failed',
      error,
    });
    counts.failed++;
    return;
  }
  if (isBusy(row.state)) return;
  if (row.state === 'failed' && row.error?.code === problem.code) return;
  if (ctx.store.apply(row.id, transitions.unreadable(error))) counts.failed++;
}

function applySymlink(
  ctx: ReconcileContext,
  folder: FolderRecord,
  problem: { path: string; relPath: string },
  row: ScanRow | null,
  counts: ReconcileCounts,
): void {
  if (row === null) {
    ctx.store.insertFile({
      folderId: folder.id,
      path: problem.path,
      relPath: problem.relPath,
      size: 0,
      mtimeMs: 0,
      ino: 0,
      dev: 0,
      state: 'excluded',
      excludedBy: symlinkRule,
    });
    counts.added++;
    return;
  }
  if (isBusy(row.state)) return;
  if (row.state === 'excluded') return; // already shown as excluded (by this rule or the person's)
  if (row.uploadUrl) ctx.abandon(row.uploadUrl);
  if (ctx.store.apply(row.id, transitions.excluded(symlinkRule))) counts.changed++;
}

/** Entries a whole-folder reconcile applies between two yields to the event loop. */
const yieldEvery = 1000;

/**
 * Reconciles a whole folder with a completed scan. Returns what changed. Once `signal` is
 * aborted (shutdown) it stops at the next yield, leaving the folder not marked as scanned.
 */
export async function reconcileFolder(
  ctx: ReconcileContext,
  folder: FolderRecord,
  scan: ScanResult,
  priority: number,
  signal?: AbortSignal,
): Promise<ReconcileCounts> {
  const counts: ReconcileCounts = { added: 0, changed: 0, missing: 0, failed: 0 };
  if (!scan.rootPresent) return counts; // offline: nothing is missing, nothing changes
  const rows = new Map<string, ScanRow>();
  for (const row of ctx.store.scanRowsOfFolder(folder.id)) rows.set(row.path, row);
  const seen = new Set<string>();
  const rules: FolderRules = { include: folder.include, exclude: folder.exclude };
  // No transaction of its own: the store groups whatever changes (see [Note: Group commit] in
  // store/store.ts), so an unchanged folder of 100,000 files writes nothing but its scan time.
  let applied = 0;
  for (const entry of scan.entries) {
    seen.add(entry.path);
    applyEntry(ctx, folder, entry, rows.get(entry.path) ?? null, priority, counts);
    if (++applied % yieldEvery === 0) {
      await yieldToEventLoop();
      if (signal?.aborted) return counts;
    }
  }
  for (const problem of scan.problems) {
    if (seen.has(problem.path)) continue;
    const relPath = relativeTo(folder.path, problem.path);
    if (relPath === null) continue;
    const c = ctx.classify(relPath, rules);
    if (c.kind !== 'media' && c.kind !== 'sidecar') continue;
    seen.add(problem.path);
    applyProblem(
      ctx,
      folder,
      { path: problem.path, relPath, code: problem.code, message: problem.message },
      rows.get(problem.path) ?? null,
      counts,
    );
  }
  // Files under a sub-folder that could not be listed are not gone: leave them as they are.
  const unreadable = (scan.unreadableDirs ?? []).map((d) => (d === '' ? '' : `${d}/`));
  const underUnreadable = (relPath: string): boolean =>
    unreadable.some((prefix) => prefix === '' || relPath.startsWith(prefix));
  for (const row of rows.values()) {
    if (!seen.has(row.path) && !underUnreadable(row.relPath)) applyGone(ctx, row, counts);
  }
  ctx.store.setFolderScanned(folder.id, ctx.now());
  return counts;
}

/** relPath with forward slashes, or null when `path` is not under `root`. */
export function relativeTo(root: string, path: string): string | null {
  const sep = root.includes('\\') && !root.includes('/') ? '\\' : '/';
  const prefix = root.endsWith(sep) ? root : root + sep;
  if (!path.startsWith(prefix)) return null;
  return path.slice(prefix.length).split('\\').join('/');
}
