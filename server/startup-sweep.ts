// Brings the data directory back to a consistent state after a crash (kill -9, power loss),
// before the vault accepts requests. Partials that can still be resumed are kept; anything
// half-made is removed:
// - a partial without its tus .json info (created, then crashed) or the reverse;
// - an uploads row whose partial is gone (it became a blob and the crash came before the
//   row was updated, or it was never created): the client's HEAD then gets 404 and it
//   starts over, and the finished blob, if any, is reused (See [Note: Commit order]);
// - hash checkpoints left by older versions (the running hash now lives in memory only: See
//   [Note: Node crypto, state in memory] in upload-hash.ts);
// - a batch's temp files (uploads/batch-*: the vault died before the batch committed) and its
//   quota reservation (See migration 0015);
// - the compressor's temp objects and decoded copies for previews (uploads/compress-*,
//   uploads/plain-*); a content a crash left with both its plain and compressed objects is
//   settled right after, by settleCompressing (See [Note: Compressing blobs in the
//   background] in compressor.ts).
// Asset rows are never touched: each was committed after its blob was durable.
//
// [Note: Sweeping beside other nodes]
// With an index several vault nodes share (PostgreSQL), this node's start is not a moment
// when nothing else runs: another node may be between creating an upload's row and its
// partial, or mid-batch in a shared uploads directory. So a shared sweep removes or forgets
// only what is older than SHARED_SWEEP_GRACE_MS (a file by its mtime, a row by its creation):
// an hour no upload step takes, far below the partials' idle expiry (24 h by default), which
// removes the rest in its own time (See partials.ts). Hash checkpoints of older versions are
// this node's own and go at once. When only the index is shared and the uploads directory is
// this node's own (no --uploads: its data directory's), every file there is this node's own
// leftover and goes at once too (a decoded copy for a preview, a batch's temp file, a torn
// partial); only the rows keep the grace, since those of another node's uploads are in it.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { VaultIndex } from './index/vault-index.js';
import type { VaultLogger } from './logger.js';
import { UPLOAD_ID, VerifyingFileStore } from './verifying-file-store.js';

/** See [Note: Sweeping beside other nodes]. */
export const SHARED_SWEEP_GRACE_MS = 60 * 60 * 1000;

export async function sweepAfterStart(opts: {
  uploadsDir: string;
  stateDir: string;
  index: VaultIndex;
  logger: VaultLogger;
  /**
   * set when other vault nodes share the index (`filesShared`: and the uploads directory):
   * See [Note: Sweeping beside other nodes]
   */
  shared?: { now: () => number; filesShared: boolean };
}): Promise<{ removedFiles: number; forgottenUploads: number }> {
  const { uploadsDir, stateDir, index, logger, shared } = opts;
  const before = shared ? shared.now() - SHARED_SWEEP_GRACE_MS : Infinity;
  /** Whether a file in the uploads directory is old enough to be another node's leftover. */
  const settled = async (name: string): Promise<boolean> =>
    !shared?.filesShared ||
    (await stat(join(uploadsDir, name)).then(
      (st) => st.mtimeMs < before,
      () => false, // gone meanwhile: nothing to remove
    ));
  const names = new Set(await readdir(uploadsDir));
  const partials = new Set<string>();
  let removedFiles = 0;
  let forgottenUploads = 0;
  const remove = async (path: string) => {
    await VerifyingFileStore.unlinkIfPresent(path);
    removedFiles += 1;
  };

  for (const name of names) {
    const id = name.endsWith('.json') ? name.slice(0, -5) : name;
    if (!UPLOAD_ID.test(id)) {
      // not ours (or a torn temp): never resumable
      if (await settled(name)) await remove(join(uploadsDir, name));
      continue;
    }
    const hasPartial = names.has(id);
    const hasInfo = names.has(`${id}.json`);
    const row = await index.getUpload(id);
    if (hasPartial && hasInfo && row?.state === 'receiving') {
      partials.add(id);
      continue;
    }
    if (await settled(name)) await remove(join(uploadsDir, name));
    else partials.add(id);
  }
  for (const row of await index.listUploads()) {
    if (row.state === 'receiving' && !partials.has(row.id) && row.createdAt < before) {
      await index.forgetUpload(row.id);
      forgottenUploads += 1;
    }
  }
  // A batch's quota reservation ends with its request: one left is a crash's (here, or on a
  // node that died an hour ago).
  forgottenUploads += await index.forgetBatchReservationsBefore(
    Math.min(before, Number.MAX_SAFE_INTEGER),
  );
  for (const name of await readdir(stateDir)) {
    await remove(join(stateDir, name));
  }
  if (removedFiles > 0 || forgottenUploads > 0) {
    logger.info('vault start: swept leftovers of unfinished uploads', {
      removedFiles,
      forgottenUploads,
    });
  }
  return { removedFiles, forgottenUploads };
}
