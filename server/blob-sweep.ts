// `keepsake vault sweep` (issue 14): walks the blob store beside the index and finds what does
// not match: objects no index row names (a crash between an object's put and its row's commit
// leaves those, on S3 as on disk), and index rows whose object is gone. Objects without a row
// are reported, adopted or removed (See [Note: What the sweep does with an orphan]); rows
// without an object are only ever reported.
// Invariants: an object an assets row names, or whose content an upload is receiving right
// now, is never removed; a row is never written or deleted.
//
// [Note: What the sweep does with an orphan]
// An object without an assets row was put by an upload that verified its bytes and then did
// not commit (the node crashed, the index refused). The bytes are a real content, but nobody
// was told it is safe, and the index knows nothing else of it: no file name, no uploader, no
// time. So the sweep never invents a row for it. The choices are:
// - report (the default): list each orphan with its size and age; change nothing.
// - --adopt: keep the orphans, after reading each one back and checking that its bytes hash to
//   its name. A kept object is what the next upload of that content finds: the blob store
//   then trusts it instead of storing the bytes again (adopt() and placeSynced() put a content
//   only when it is not there), so the upload commits its row at once. That trust is why an
//   orphan that does NOT verify is removed even under --adopt: left in place it would become
//   the stored bytes of the next upload of that content.
// - --remove: remove the orphans older than the grace period (--grace, default 1 h). A younger
//   one may belong to an upload committing right now (its object is put before its row), so it
//   is kept and listed as such.
// Rows without an object are reported, never deleted: the row still carries the content's
// name, metadata, albums and places, and the vault's own health (scrub, the dedup check) marks
// it missing so that a client holding the original uploads it again.
//
// [Note: Sweeping beside running nodes]
// With --data-dir the sweep holds the vault's lock, so nothing else touches the store. With a
// shared index and bucket, nodes keep running, and removing races with an upload of the same
// content: the upload finds the old object, trusts it and commits its row, while the sweep
// removes the object. The sweep narrows that window: it removes only objects older than the
// grace period, and asks the index again right before each removal whether a row names the
// content or an upload is receiving it (an upload holds its 'receiving' row until its commit).
// What remains is an upload whose whole life (creation to commit) fits between that question
// and the delete, a few milliseconds; its outcome is a row without its object, which the
// vault's health finds (missing) and heals from the client's copy. Run --remove while nodes
// are quiet where that matters.
import { type BlobCheck, readVerified } from './blob-verify.js';
import type { BlobStore, StoredObject } from './blobs/port.js';
import { openBlobStore } from './blobs/open-blob-store.js';
import type { BlobReferenceStore } from './index/blob-reference-store.js';
import { withStoppedVault } from './stopped-vault.js';

export const DEFAULT_SWEEP_GRACE_MS = 60 * 60 * 1000;

export type SweepMode = 'report' | 'adopt' | 'remove';

export type OrphanOutcome =
  /** report mode: listed, nothing done */
  | 'found'
  /** adopt: read back, hashes to its name, kept for the next upload of that content */
  | 'adopted'
  /** adopt: does not hash to its name; removed (or would be, with --dry-run) */
  | 'removed-damaged'
  | 'would-remove-damaged'
  /** remove: older than the grace period; removed (or would be, with --dry-run) */
  | 'removed'
  | 'would-remove'
  /** remove: younger than the grace period, kept */
  | 'kept-young';

export interface SweepOrphan {
  sha256: string;
  storedBytes: number;
  /** ms since the object was written */
  ageMs: number;
  outcome: OrphanOutcome;
}

export interface SweepReport {
  where: string;
  mode: SweepMode;
  dryRun: boolean;
  graceMs: number;
  /** contents the store holds */
  objects: number;
  storedBytes: number;
  /** objects no index row names */
  orphans: SweepOrphan[];
  /** index rows whose object is not there, with the health the index records */
  missing: { sha256: string; health: string | null }[];
  seconds: number;
}

export interface SweepOptions {
  index: BlobReferenceStore;
  blobs: BlobStore;
  mode?: SweepMode;
  dryRun?: boolean;
  graceMs?: number;
  /** unix ms */
  now?: () => number;
  signal?: AbortSignal;
}

const PAGE = 1000;

/**
 * `keepsake vault sweep`: the vault whose data directory is `dataDir` (its --index and
 * --blobs as the vault takes them), holding that directory's lock (See [Note: Sweeping beside
 * running nodes]).
 */
export function sweepVault(
  opts: Omit<SweepOptions, 'index' | 'blobs'> & { dataDir: string; index?: string; blobs?: string },
): Promise<SweepReport> {
  const blobs = openBlobStore(opts.blobs, opts.dataDir);
  return withStoppedVault(
    opts,
    'stop it to sweep its blobs (or give this command its --index and --blobs from another directory)',
    async (index) => {
      try {
        await blobs.init();
        return await sweepBlobs({ ...opts, index: index.blobReferences, blobs });
      } finally {
        blobs.close();
      }
    },
  );
}

/** Walks the store and the index side by side, in sha256 order. See the header. */
export async function sweepBlobs(opts: SweepOptions): Promise<SweepReport> {
  const started = performance.now();
  const now = opts.now ?? Date.now;
  const mode = opts.mode ?? 'report';
  const dryRun = opts.dryRun === true;
  const graceMs = opts.graceMs ?? DEFAULT_SWEEP_GRACE_MS;
  const { index, blobs } = opts;
  const report: SweepReport = {
    where: blobs.where,
    mode,
    dryRun,
    graceMs,
    objects: 0,
    storedBytes: 0,
    orphans: [],
    missing: [],
    seconds: 0,
  };

  // The index side: assets rows in sha256 order, a page at a time.
  let rows = await index.assetsBySha('', PAGE);
  let at = 0;
  const nextRow = async () => {
    if (at === rows.length && rows.length === PAGE) {
      rows = await index.assetsBySha(rows.at(-1)!.sha256, PAGE);
      at = 0;
    }
    return rows[at++];
  };

  const orphan = async (object: StoredObject) => {
    // See [Note: Sweeping beside running nodes]: found by the walk, confirmed by the index.
    if (await index.isReferenced(object.sha256)) return;
    const ageMs = Math.max(0, now() - object.modifiedAt);
    const found = { sha256: object.sha256, storedBytes: object.storedBytes, ageMs };
    let outcome: OrphanOutcome = 'found';
    if (mode === 'adopt') {
      const check: BlobCheck = await readVerified(blobs, object.sha256, undefined, null, {
        bytesRead: 0,
      });
      if (check === 'missing') return; // removed meanwhile
      if (check === 'ok') outcome = 'adopted';
      else if (dryRun) outcome = 'would-remove-damaged';
      else
        outcome = (await removeUnreferenced(index, blobs, object.sha256))
          ? 'removed-damaged'
          : 'adopted';
    } else if (mode === 'remove') {
      if (ageMs < graceMs) outcome = 'kept-young';
      else if (dryRun) outcome = 'would-remove';
      else if (await removeUnreferenced(index, blobs, object.sha256)) outcome = 'removed';
      else return; // indexed meanwhile: not an orphan after all
    }
    report.orphans.push({ ...found, outcome });
  };

  const missing = async (row: { sha256: string; state: string | null }) => {
    if (await blobs.has(row.sha256)) return; // the walks' orders differed, or put meanwhile
    report.missing.push({ sha256: row.sha256, health: row.state });
  };

  const objects = blobs.list()[Symbol.asyncIterator]();
  let object = (await objects.next()).value as StoredObject | undefined;
  let row = await nextRow();
  while (object !== undefined || row !== undefined) {
    opts.signal?.throwIfAborted();
    if (object !== undefined && (row === undefined || object.sha256 < row.sha256)) {
      report.objects++;
      report.storedBytes += object.storedBytes;
      await orphan(object);
      object = (await objects.next()).value as StoredObject | undefined;
    } else if (row !== undefined && (object === undefined || row.sha256 < object.sha256)) {
      await missing(row);
      row = await nextRow();
    } else {
      report.objects++;
      report.storedBytes += object!.storedBytes;
      object = (await objects.next()).value as StoredObject | undefined;
      row = await nextRow();
    }
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/** Removes a content's object unless the index names it now; true when it removed it. */
async function removeUnreferenced(
  index: BlobReferenceStore,
  blobs: BlobStore,
  sha256: string,
): Promise<boolean> {
  if (await index.isReferenced(sha256)) return false;
  await blobs.remove(sha256);
  return true;
}
