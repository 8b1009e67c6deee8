// The file state machine, in one place. Every state change in the engine goes through
// assertTransition() (called by the store inside the transaction that writes the new state),
// so a move not in this table is a bug that fails loudly instead of a row in a state no code
// path expects. See [Note: File states] for what each state means.
//
// [Note: File states]
// discovered  seen on disk; waiting for its size and mtime to hold still, then hashing
// hashing     a hash worker is reading it (at most a crash leaves it here: start() resets it)
// queued      hashed; waiting for the vault's dedup check (dedup_checked = 0), then for an
//             upload slot (dedup_checked = 1), possibly after a retry delay (next_attempt_at)
// uploading   the uploader is sending it (a crash or pause puts it back to queued; the upload
//             URL and confirmed offset stay, so it resumes)
// backed_up   the vault verified the sha256 of the bytes we sent
// duplicate   the vault already held this content (another file, another device, a rename)
// excluded    a rule excluded it (excluded_by says which)
// failed      it cannot go on without help (error_* says why; retryable says if retry helps)
// missing     gone from disk; never deleted from the vault (a backup, not a mirror)
import type { FileState } from '../../../common/contract.js';

const legal: Record<FileState, readonly FileState[]> = {
  discovered: ['discovered', 'hashing', 'queued', 'excluded', 'failed', 'missing'],
  hashing: ['discovered', 'queued', 'failed', 'missing', 'excluded'],
  queued: ['queued', 'uploading', 'duplicate', 'discovered', 'failed', 'missing', 'excluded'],
  uploading: ['queued', 'backed_up', 'duplicate', 'discovered', 'failed', 'missing', 'excluded'],
  backed_up: ['discovered', 'missing', 'excluded'],
  duplicate: ['discovered', 'missing', 'excluded'],
  excluded: ['discovered', 'missing'],
  failed: ['discovered', 'queued', 'failed', 'missing', 'excluded'],
  missing: ['discovered', 'missing', 'excluded'],
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

/** States in which a file still has work ahead of it. */
export const pendingStates: readonly FileState[] = ['discovered', 'hashing', 'queued', 'uploading'];
/** States that count as safe on the vault. */
export const safeStates: readonly FileState[] = ['backed_up', 'duplicate'];
