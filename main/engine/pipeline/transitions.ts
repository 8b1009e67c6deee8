// The file state machine, in one place: the table of legal moves, the state sets every query
// and stage uses, and the NAMED transitions (each with the states it may start from and the
// columns it changes). A stage never writes a state itself: it asks the store to apply a named
// transition (store.apply), which checks the file is in one of the transition's from-states
// (a compare-and-set: a stale worker cannot overwrite a newer decision) and that the move is in
// the table (a bug otherwise: IllegalTransitionError). See [Note: File states].
//
// [Note: File states]
// discovered  seen on disk; waiting for its size and mtime to hold still, then hashing
// hashing     a hash worker is reading it (at most a crash leaves it here: start() resets it)
// queued      hashed; waiting for the vault's dedup check (dedup_checked = 0), then for an
//             upload slot (dedup_checked = 1), possibly after a retry delay (next_attempt_at);
//             or a large file to be hashed while it is sent (sha256 NULL, dedup_checked = 1:
//             see [Note: Hash while sending] in tus-uploader.ts and hashDeferred below)
// uploading   the uploader is sending it (a crash or pause puts it back to queued; the upload
//             URL and confirmed offset stay, so it resumes)
// backed_up   the vault verified the sha256 of the bytes we sent
// duplicate   the vault already held this content (another file, another device, a rename)
// excluded    a rule excluded it (excluded_by says which)
// failed      it cannot go on without help (error_* says why; retryable says if retry helps)
// missing     gone from disk; never deleted from the vault (a backup, not a mirror)
// skipped     its name said nothing and its first bytes are not a photo or video (excluded_by
//             says why): shown, never uploaded; looked at again when it changes
// vault_only  freed up at the person's request (main/engine/free-up/): a safe file the vault had
//             just re-verified and whose bytes still hashed to it, moved to the system's trash.
//             Never `missing` (its place on the vault stays registered, so restore puts it back);
//             no scan or watcher marks it gone or uploads it. Put back (restore, or from the
//             trash), it is hashed again and found on the vault: safe again with no upload.
import { fileStates, type FileState } from '../../../common/contract.js';
import type { FileIdentity, HashResult } from '../hash/types.js';
import type { FilePatch, FileRecord, MediaKind, StoredError } from '../store/types.js';

const legal: Record<FileState, readonly FileState[]> = {
  discovered: ['discovered', 'hashing', 'queued', 'excluded', 'failed', 'missing', 'skipped'],
  hashing: ['discovered', 'queued', 'failed', 'missing', 'excluded'],
  queued: [
    'queued',
    'uploading',
    'duplicate',
    'discovered',
    'failed',
    'missing',
    'excluded',
    'skipped',
  ],
  uploading: ['queued', 'backed_up', 'duplicate', 'discovered', 'failed', 'missing', 'excluded'],
  backed_up: ['discovered', 'missing', 'excluded', 'skipped', 'vault_only'],
  duplicate: ['discovered', 'missing', 'excluded', 'skipped', 'vault_only'],
  excluded: ['discovered', 'missing', 'excluded', 'skipped'],
  failed: ['discovered', 'queued', 'failed', 'missing', 'excluded', 'skipped'],
  missing: ['discovered', 'missing', 'excluded', 'skipped', 'vault_only'],
  skipped: ['discovered', 'missing', 'excluded', 'skipped', 'failed'],
  vault_only: ['discovered', 'excluded', 'skipped', 'vault_only'],
};

export class IllegalTransitionError extends Error {
  override name = 'IllegalTransitionError';
  constructor(
    readonly from: FileState,
    readonly to: FileState,
  ) {
    super(`illegal file state transition ${from} -> ${to}`);
  }
}

export function canTransition(from: FileState, to: FileState): boolean {
  return legal[from].includes(to);
}

/** Throws IllegalTransitionError (a bug, not a user-facing condition) for a move not in the table. */
export function assertTransition(from: FileState, to: FileState): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
}

// ---- state sets (SQL IN lists are generated from these: see sqlStates) ----

/** States in which a file still has work ahead of it. */
export const pendingStates: readonly FileState[] = ['discovered', 'hashing', 'queued', 'uploading'];
/** States that count as safe on the vault. */
export const safeStates: readonly FileState[] = ['backed_up', 'duplicate'];
/** States in which a file is not yet safe and not set aside (oldest-unsafe age). */
export const unsafeStates: readonly FileState[] = [...pendingStates, 'failed'];
/** A worker holds the file: only that worker moves it on (a crash resets these at start). */
export const busyStates: readonly FileState[] = ['hashing', 'uploading'];
/** States with a trusted sha256 of the current content (metadata may be read for them). */
export const hashedStates: readonly FileState[] = ['queued', 'uploading', 'backed_up', 'duplicate'];
/** Not on this computer by the person's choice: no scan marks it missing. */
export const freedStates: readonly FileState[] = ['vault_only'];
/** Every state no worker holds: what a scan may change. */
export const restingStates: readonly FileState[] = fileStates.filter(
  (s) => !busyStates.includes(s),
);

export function isBusy(state: FileState): boolean {
  return busyStates.includes(state);
}

/** `'a','b'` for a SQL `IN (...)` list: state names are fixed identifiers, never user input. */
export function sqlStates(states: readonly FileState[]): string {
  return states.map((s) => `'${s}'`).join(',');
}

// ---- named transitions ----

export type TransitionName =
  | 'changedOnDisk'
  | 'reappeared'
  | 'excluded'
  | 'gone'
  | 'unreadable'
  | 'notMedia'
  | 'hashingStarted'
  | 'hashKnown'
  | 'hashDeferred'
  | 'hashed'
  | 'stillChanging'
  | 'hashInterrupted'
  | 'hashFailed'
  | 'foundOnVault'
  | 'notOnVault'
  | 'uploadStarted'
  | 'verified'
  | 'uploadInterrupted'
  | 'uploadPaused'
  | 'uploadRestarted'
  | 'changedDuringUpload'
  | 'verifyFailed'
  | 'uploadFailed'
  | 'retryLater'
  | 'vaultChanged'
  | 'manualRetry'
  | 'lostOnVault'
  | 'freedUp';

/** One named move: the states it may start from, the state it ends in, the columns it sets. */
export interface Transition {
  readonly name: TransitionName;
  readonly from: readonly FileState[];
  readonly to: FileState;
  readonly patch: FilePatch;
}

function t(
  name: TransitionName,
  from: readonly FileState[],
  to: FileState,
  patch: FilePatch = {},
): Transition {
  return { name, from, to, patch };
}

/** Columns cleared whenever the content a row stands for is no longer the one hashed. */
const contentForgotten: FilePatch = {
  sha256: null,
  dedupChecked: false,
  uploadUrl: null,
  uploadOffset: null,
  metadataState: 'pending',
};

/** What may become missing: never a file freed up at the person's request. */
const notMissing = restingStates.filter((s) => s !== 'missing' && !freedStates.includes(s));

/**
 * What a row's emptiedFrom becomes when its file is seen again at `size` bytes: a photo that was
 * backed up (or whose place the vault holds) and is now 0 bytes keeps the size it had, so the
 * person is warned of possible damage and the location pump never registers the empty content
 * over the earlier version's place; an empty file stays emptied; any other size clears it.
 */
export function emptiedFromOf(
  before: Pick<FileRecord, 'size' | 'state' | 'locationSha256' | 'emptiedFrom'>,
  size: number,
): number | null {
  if (size !== 0) return null;
  if (before.emptiedFrom !== null) return before.emptiedFrom;
  const wasBackedUp = safeStates.includes(before.state) || before.locationSha256 !== null;
  return wasBackedUp && before.size > 0 ? before.size : null;
}

export interface Classified {
  mime: string | null;
  mediaKind: MediaKind;
}

/**
 * Every named transition. Arguments carry what the caller observed (an identity, a hash, an
 * error); the patch is decided here, so "what happens to the columns" has one answer.
 */
export const transitions = {
  // ---- the scan / watcher (reconcile) ----
  /**
   * Size, mtime or inode moved: the content is new to us (re-hash, re-check, re-upload).
   * `emptiedFrom`: see emptiedFromOf.
   */
  changedOnDisk: (
    relPath: string,
    identity: FileIdentity,
    c: Classified,
    now: number,
    emptiedFrom: number | null = null,
  ) =>
    t('changedOnDisk', restingStates, 'discovered', {
      relPath,
      ...identity,
      emptiedFrom,
      ...contentForgotten,
      seenAt: now,
      error: null,
      excludedBy: null,
      attempts: 0,
      verifyFailures: 0,
      nextAttemptAt: null,
      captureTime: null,
      mime: c.mime,
      mediaKind: c.mediaKind,
    }),
  /**
   * Back from missing, excluded or freed up with the same identity: the stored hash stands (a
   * freed file put back is asked of the vault again, and found there: no upload).
   */
  reappeared: (relPath: string, c: Classified) =>
    t('reappeared', ['missing', 'excluded', 'vault_only'], 'discovered', {
      relPath,
      dedupChecked: false,
      excludedBy: null,
      error: null,
      mime: c.mime,
      mediaKind: c.mediaKind,
    }),
  /**
   * A rule excludes it. With `seen`, the identity observed (the content is forgotten if it
   * moved); without, the row's identity is kept (a symbolic link).
   */
  excluded: (
    rule: string,
    seen?: { relPath: string; identity: FileIdentity; changed: boolean; now: number },
  ) =>
    t('excluded', restingStates, 'excluded', {
      ...(seen ? { relPath: seen.relPath, ...seen.identity } : {}),
      ...(seen?.changed ? { sha256: null, metadataState: 'pending', seenAt: seen.now } : {}),
      excludedBy: rule,
      uploadUrl: null,
      uploadOffset: null,
      error: null,
    }),
  /** Not on disk any more (the scan, or a worker that found it gone). Never deleted from the vault. */
  gone: (from: readonly FileState[] = notMissing) =>
    t('gone', from, 'missing', { uploadUrl: null, uploadOffset: null }),
  /**
   * Its name said nothing and its first bytes are not a photo or video (watch/sniff.ts): shown
   * as skipped with the reason, never uploaded. What the vault holds of an earlier content stays.
   */
  notMedia: (
    reason: string,
    seen: { relPath: string; identity: FileIdentity; changed: boolean; now: number },
  ) =>
    t('notMedia', restingStates, 'skipped', {
      relPath: seen.relPath,
      ...seen.identity,
      ...(seen.changed ? { ...contentForgotten, seenAt: seen.now } : {}),
      excludedBy: reason,
      uploadUrl: null,
      uploadOffset: null,
      error: null,
      mime: null,
    }),
  /**
   * The scan could not read a media-named path (FIFO, permissions), or the first bytes of a
   * file whose name says nothing: visible, retryable. A file already safe, excluded or missing
   * stays so (what the vault holds is still good); one skipped as not a photo may be one.
   */
  unreadable: (error: StoredError) =>
    t('unreadable', ['discovered', 'queued', 'failed', 'skipped'], 'failed', {
      error,
      excludedBy: null,
    }),

  // ---- the hash stage ----
  hashingStarted: () => t('hashingStarted', ['discovered'], 'hashing'),
  /** Its hash is already known (unchanged identity, or a twin with the same identity). */
  hashKnown: (sha256: string) =>
    t('hashKnown', ['discovered'], 'queued', { sha256, dedupChecked: false, error: null }),
  /**
   * A large file goes to the uploader unhashed, to be read once (hashed while it is sent);
   * no dedup check (there is no hash to ask with): `verified` records the hash the vault
   * checked. See [Note: Large files, read once] in hash-pump.ts.
   */
  hashDeferred: () =>
    t('hashDeferred', ['hashing'], 'queued', { sha256: null, dedupChecked: true, error: null }),
  hashed: (result: HashResult) =>
    t('hashed', ['hashing'], 'queued', {
      sha256: result.sha256,
      size: result.size,
      mtimeMs: result.mtimeMs,
      ino: result.ino,
      dev: result.dev,
      ctimeMs: result.ctimeMs,
      dedupChecked: false,
      error: null,
    }),
  /** It moved while being read (or since the scan) and is still fresh: wait for it to settle. */
  stillChanging: (identity: FileIdentity, now: number) =>
    t('stillChanging', ['hashing'], 'discovered', {
      ...identity,
      seenAt: now,
      dedupChecked: false,
    }),
  /** Hashing stopped (shutdown, or a crash found at start): hash it again later. */
  hashInterrupted: () => t('hashInterrupted', ['hashing'], 'discovered', { dedupChecked: false }),
  hashFailed: (error: StoredError) => t('hashFailed', ['hashing'], 'failed', { error }),

  // ---- the dedup check and the upload stage ----
  /** The vault holds this content already (dedup check, a twin that finished, a batch reply). */
  foundOnVault: () =>
    t('foundOnVault', ['queued', 'uploading'], 'duplicate', {
      dedupChecked: true,
      error: null,
      uploadUrl: null,
      uploadOffset: null,
      attempts: 0,
      nextAttemptAt: null,
    }),
  notOnVault: () => t('notOnVault', ['queued'], 'queued', { dedupChecked: true }),
  uploadStarted: () => t('uploadStarted', ['queued'], 'uploading'),
  /**
   * The vault verified the sha256 of the bytes we sent; `sha256` when the file was hashed
   * while it was sent (the row had none).
   */
  verified: (now: number, sha256?: string) =>
    t('verified', ['uploading'], 'backed_up', {
      ...(sha256 !== undefined ? { sha256 } : {}),
      uploadUrl: null,
      uploadOffset: null,
      attempts: 0,
      verifyFailures: 0,
      error: null,
      nextAttemptAt: null,
      uploadedAt: now,
    }),
  /**
   * Found uploading at start (a crash): the upload may have completed on the vault before its
   * answer arrived, so ask the vault again before sending; the URL and offset stay for a resume.
   */
  uploadInterrupted: () => t('uploadInterrupted', ['uploading'], 'queued', { dedupChecked: false }),
  /** Pause, shutdown, a refused token or a full vault: queued again, URL and offset kept. */
  uploadPaused: () => t('uploadPaused', ['uploading'], 'queued'),
  /** The vault forgot the upload (expired): start a new one. */
  uploadRestarted: () =>
    t('uploadRestarted', ['uploading'], 'queued', { uploadUrl: null, uploadOffset: null }),
  changedDuringUpload: (now: number) =>
    t('changedDuringUpload', ['uploading'], 'discovered', { ...contentForgotten, seenAt: now }),
  /** The vault computed another sha256 (460): re-hash at once (seen long ago = settled). */
  verifyFailed: (verifyFailures: number, now: number) =>
    t('verifyFailed', ['uploading'], 'discovered', {
      ...contentForgotten,
      verifyFailures,
      seenAt: now - 24 * 3600_000,
    }),
  uploadFailed: (error: StoredError, extra: { attempts?: number; verifyFailures?: number } = {}) =>
    t('uploadFailed', ['uploading'], 'failed', {
      ...extra,
      ...(extra.verifyFailures !== undefined ? { uploadUrl: null, uploadOffset: null } : {}),
      error,
      nextAttemptAt: null,
    }),
  retryLater: (attempts: number, at: number, error: StoredError) =>
    t('retryLater', ['uploading'], 'queued', { attempts, nextAttemptAt: at, error }),

  // ---- the person and the engine ----
  /** The vault is another one than last time: ask it again (stored hashes stand). */
  vaultChanged: () =>
    t('vaultChanged', safeStates, 'discovered', {
      dedupChecked: false,
      metadataState: 'pending',
      // The new vault knows none of our places: register them there again.
      locationSha256: null,
      locationMtimeMs: null,
    }),
  manualRetry: (previous: StoredError | null) =>
    t('manualRetry', ['failed'], 'discovered', {
      error: null,
      dedupChecked: false,
      attempts: 0,
      verifyFailures: 0,
      nextAttemptAt: null,
      seenAt: 0,
      ...(previous?.code === 'verification_failed' ? { sha256: null } : {}),
    }),

  // ---- healing (main/engine/verify/) ----
  /**
   * The vault reported this content damaged or missing (a verify, or its dedup check of safe
   * files): ask it again and upload the original (the vault replaces the bad blob). The stored
   * hash stands; the upload proves it, and a 460 re-hashes as for any upload.
   */
  lostOnVault: () =>
    t('lostOnVault', safeStates, 'discovered', { dedupChecked: false, error: null }),

  // ---- free up space (main/engine/free-up/) ----
  /**
   * Moved to the system's trash at the person's request, after the checks of [Note: What may
   * be freed up]. From missing too: a watcher that saw the move before this was recorded must
   * not leave it missing. The place on the vault stays registered (restore puts it back).
   */
  freedUp: () =>
    t('freedUp', [...safeStates, 'missing'], 'vault_only', {
      uploadUrl: null,
      uploadOffset: null,
      error: null,
    }),
} as const;
