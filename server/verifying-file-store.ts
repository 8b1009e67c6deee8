// The tus data store of the vault: @tus/file-store's FileStore (partials and their .json
// info under uploads/), extended so that every byte written is also hashed (See [Note:
// Hashing as bytes arrive] in upload-hash.ts), the running hash kept in memory between
// PATCHes (See [Note: Node crypto, state in memory]); an upload whose bytes are all stored is verified before its
// offset is reported; and an upload that already finished still answers HEAD with its full
// offset (a client that lost the final response learns it is done instead of uploading again).
// Invariant: the partial's size is the upload's offset, and a running hash is only trusted
// at exactly that offset.
import { createWriteStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileStore } from '@tus/file-store';
import { ERRORS, Upload } from '@tus/server';
import { syncFile } from './blob-store.js';
import { type DiskSpace, isOutOfSpace } from './disk-space.js';
import type { AbandonedPartials } from './partials.js';
import { TusRejection, VaultHttpError } from './http-error.js';
import { UploadHashes } from './upload-hash.js';
import { WorkTracker } from './work-tracker.js';

export const UPLOAD_ID = /^[0-9a-f]{32}$/;
/** Stored bytes between two early writebacks of a partial. See [Note: Early writeback]. */
const EARLY_SYNC_BYTES = 32 * 1024 * 1024;

export interface FinishedUploadLookup {
  /** The declared size of an upload that already finished, or undefined. */
  (uploadId: string): Promise<{ size: number; createdAt: number } | undefined>;
}

export interface WriteStats {
  uploadId: string;
  /** bytes added to the partial */
  bytes: number;
  /** receiving, hashing and writing, ms */
  receiveMs: number;
  /** the fdatasync at the end (when one is needed), ms */
  syncMs: number;
}

export interface VerifyingFileStoreOptions {
  directory: string;
  expirationMs: number;
  finishedUpload: FinishedUploadLookup;
  /** Called after each write (PATCH body) with what it added and how long it took. */
  onWritten?: (w: WriteStats) => void;
  /** Called when an upload is removed (terminated, expired, rejected). */
  onRemoved?: (uploadId: string) => Promise<void>;
  /** Room on the disk, checked before bytes are stored. See [Note: Disk full]. */
  diskSpace?: DiskSpace;
}

function isTusError(err: unknown): err is { status_code: number; body: string } {
  return typeof err === 'object' && err !== null && 'status_code' in err;
}

export class VerifyingFileStore extends FileStore {
  readonly hashes: UploadHashes;
  /** Writes and finishes in flight; see WorkTracker. */
  readonly work = new WorkTracker();
  private readonly finishedUpload: FinishedUploadLookup;
  private readonly onWritten: (w: WriteStats) => void;
  private readonly onRemoved: (uploadId: string) => Promise<void>;
  private readonly diskSpace: DiskSpace | undefined;
  /** Per upload: the offset the last early writeback started at. See [Note: Early writeback]. */
  private readonly syncedTo = new Map<string, number>();

  constructor(options: VerifyingFileStoreOptions) {
    super({ directory: options.directory, expirationPeriodInMilliseconds: options.expirationMs });
    // No creation-defer-length: the quota and max-size checks need Upload-Length up front.
    this.extensions = ['creation', 'creation-with-upload', 'termination', 'expiration'];
    this.hashes = new UploadHashes();
    this.finishedUpload = options.finishedUpload;
    this.onWritten = options.onWritten ?? (() => {});
    this.onRemoved = options.onRemoved ?? (() => Promise.resolve());
    this.diskSpace = options.diskSpace;
  }

  partialPath(uploadId: string): string {
    if (!UPLOAD_ID.test(uploadId)) throw TusRejection.from(ERRORS.FILE_NOT_FOUND);
    return join(this.directory, uploadId);
  }

  /**
   * Set by the tus endpoint: verifies and commits an upload whose bytes are all stored (the
   * same promise for concurrent callers); rejects with 460 when they do not match.
   */
  completeUpload: ((upload: Upload) => Promise<void>) | undefined;

  /**
   * Set by the vault: the idle clock of partials. With it, an upload's creation_date is the
   * start of its idle time and deleteExpired removes idle partials, so tus's expiration
   * (410, Upload-Expires) follows --partial-ttl. See [Note: Abandoned partials].
   */
  partials: AbandonedPartials | undefined;

  override deleteExpired(): Promise<number> {
    return this.partials ? this.partials.expireIdle() : super.deleteExpired();
  }

  /** Reports the start of the upload's idle time as its creation_date (see `partials`). */
  private async withIdleClock(upload: Upload): Promise<Upload> {
    if (!this.partials || upload.creation_date === undefined) return upload;
    const created = Date.parse(upload.creation_date);
    const since = await this.partials.lastActivity(upload.id, Number.isNaN(created) ? 0 : created);
    upload.creation_date = new Date(since).toISOString();
    return upload;
  }

  /** Set by the tus endpoint: the finish in progress for an upload, if any. */
  finishInProgress: ((uploadId: string) => Promise<void> | undefined) | undefined;

  /**
   * An upload whose bytes are all here but which was never committed (the vault died
   * between the last byte and the commit, or the commit failed) is completed here, before
   * anyone is told its offset: otherwise a client's HEAD would see offset == length, count
   * the upload as done, and the vault would never have verified it.
   */
  override async getUpload(id: string): Promise<Upload> {
    // Mid-finish the partial may already be a blob while the row is not yet committed: wait
    // for the finish rather than answer 410 for an upload that is about to be done.
    await this.finishInProgress?.(id)?.catch(() => {});
    let upload: Upload;
    try {
      upload = await super.getUpload(id);
    } catch (err) {
      const finished = await this.finishedUpload(id);
      if (finished) return this.finishedView(id, finished);
      throw err;
    }
    if (upload.size !== undefined && upload.offset === upload.size && this.completeUpload) {
      try {
        await this.completeUpload(upload);
      } catch (err) {
        if (isTusError(err) && err.status_code === 460) {
          throw TusRejection.from(ERRORS.FILE_NOT_FOUND); // deleted: the client starts over
        }
        throw err;
      }
      const finished = await this.finishedUpload(id);
      if (finished) return this.finishedView(id, finished);
    }
    return this.withIdleClock(upload);
  }

  private finishedView(id: string, finished: { size: number; createdAt: number }): Upload {
    return new Upload({
      id,
      size: finished.size,
      offset: finished.size,
      creation_date: new Date(finished.createdAt).toISOString(),
    });
  }

  override write(readable: Readable, id: string, offset: number): Promise<number> {
    return this.work.run(async () => {
      const release = await this.reserveRoom(id, offset);
      try {
        return await this.writeTracked(readable, id, offset);
      } finally {
        release();
      }
    });
  }

  /** Reserves the rest of the upload on the disk, or refuses with 507. See [Note: Disk full]. */
  private async reserveRoom(id: string, offset: number): Promise<() => void> {
    if (!this.diskSpace || (await this.finishedUpload(id))) return () => {};
    const size = (await this.configstore.get(id))?.size ?? 0;
    try {
      return await this.diskSpace.reserve(Math.max(0, size - offset), 'the rest of this upload');
    } catch (err) {
      throw err instanceof VaultHttpError ? err.toTusError() : err;
    }
  }

  /** A disk-full failure as the 507 the client is told (other failures pass through). */
  private async asDiskFull(err: unknown): Promise<unknown> {
    if (!this.diskSpace || !isOutOfSpace(err)) return err;
    return (await this.diskSpace.refusalAfterFailure('this upload')).toTusError();
  }

  private async writeTracked(readable: Readable, id: string, offset: number): Promise<number> {
    if (await this.finishedUpload(id)) {
      readable.resume(); // nothing more to store: the upload is complete
      return offset;
    }
    const path = this.partialPath(id);
    const hasher = await this.hashes.resumeAt(id, offset, path);
    let hashedTo = offset;
    const tee = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hasher.update(chunk);
        hashedTo += chunk.length;
        callback(null, chunk);
      },
    });
    // A body that stops early (the client went away, or another request took the upload)
    // ends the write where it is rather than destroying it: every byte hashed is written, so
    // the running hash stays usable for the resume.
    const endEarly = () => {
      if (readable.readableEnded) return;
      readable.unpipe(tee);
      tee.end();
    };
    if (readable.destroyed) {
      // Gone before we got here (cut while the upload was looked up): nothing to store.
      tee.end();
    } else {
      readable.once('error', endEarly);
      readable.once('close', endEarly);
      readable.pipe(tee);
    }
    let failure: unknown;
    const t0 = performance.now();
    try {
      await pipeline(
        tee,
        createWriteStream(path, { flags: 'r+', start: offset, highWaterMark: 1 << 20 }),
      );
    } catch (err) {
      failure = err;
      readable.unpipe(tee); // a write failed: the rest of the body is not read
    } finally {
      readable.off('error', endEarly);
      readable.off('close', endEarly);
    }
    const t1 = performance.now();
    const stored = (await stat(path)).size;
    // The running hash is kept only when it covers exactly the stored bytes. See [Note:
    // Hashing as bytes arrive] in upload-hash.ts.
    if (stored === hashedTo) this.hashes.keep(id, hasher, stored);
    this.writeBackEarly(id, path, stored);
    this.onWritten({
      uploadId: id,
      bytes: stored - offset,
      receiveMs: t1 - t0,
      syncMs: performance.now() - t1,
    });
    if (failure !== undefined) {
      failure = await this.asDiskFull(failure);
      throw isTusError(failure)
        ? TusRejection.from(failure)
        : TusRejection.from(ERRORS.FILE_WRITE_ERROR);
    }
    return stored;
  }

  /**
   * [Note: Early writeback]
   * A partial becomes a blob only after an fdatasync (See [Note: Commit order] in
   * blob-store.ts), and for a large upload that sync is the last step before the client is
   * answered: about 0.1 s per 256 MiB here, all of it after the last byte arrived. So once
   * another EARLY_SYNC_BYTES have been stored, an fdatasync of the partial is started on the
   * threadpool and not awaited: the disk writes the upload while it still arrives, and the
   * final sync only has the tail left. It promises nothing (its failure is ignored; the final
   * sync is the one that counts) and never blocks the event loop or the request.
   */
  private writeBackEarly(id: string, path: string, stored: number): void {
    const from = this.syncedTo.get(id) ?? 0;
    if (stored - from < EARLY_SYNC_BYTES) return;
    this.syncedTo.set(id, stored);
    void syncFile(path).catch(() => {});
  }

  override async create(upload: Upload): Promise<Upload> {
    try {
      await this.diskSpace?.ensureRoom(upload.size ?? 0, 'this upload');
      return await super.create(upload);
    } catch (err) {
      await this.onRemoved(upload.id); // release the quota reservation made at creation
      if (err instanceof VaultHttpError) throw err.toTusError();
      if (isOutOfSpace(err)) await super.remove(upload.id).catch(() => {}); // half-created
      throw await this.asDiskFull(err);
    }
  }

  override async remove(id: string): Promise<void> {
    if (await this.finishedUpload(id)) {
      await this.onRemoved(id);
      return;
    }
    try {
      await super.remove(id);
    } finally {
      this.hashes.discard(id);
      this.syncedTo.delete(id);
      await this.onRemoved(id);
    }
  }

  /** Drops the tus bookkeeping of an upload whose partial became a blob. */
  async forgetPartial(id: string): Promise<void> {
    await this.configstore.delete(id).catch(() => {});
    this.hashes.discard(id);
    this.syncedTo.delete(id);
  }

  /** Deletes a leftover file, ignoring one that is already gone. */
  static async unlinkIfPresent(path: string): Promise<void> {
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}
