// Room on the vault's disk: whether the bytes of an upload fit before a byte of them is
// stored, and the 507 `insufficient_storage` answer (with the free bytes) when they do not.
// Owns the safety margin and the bytes promised to writes in progress.
// Invariant: the bytes promised to writes in flight plus the margin are never handed out
// twice: each write reserves what it may still store before it starts and releases it when
// it ends, so two concurrent uploads cannot both be told "it fits" for the same free space.
//
// [Note: Disk full]
// A full disk used to surface as ENOSPC inside a write, answered 500 `internal`; clients
// retried for minutes and gave up with "lost the vault". Now:
// - tus creation checks that the whole declared size fits (free space minus the margin minus
//   the bytes promised to writes in flight), after the quota check;
// - each PATCH (and the body of a creation-with-upload) reserves the rest of its upload
//   (Upload-Length - offset) while it writes: the upload cannot finish unless that fits, and
//   filling the disk with a partial that cannot finish helps nobody;
// - an ENOSPC (or SQLite's SQLITE_FULL) that still happens (something else filled the disk
//   mid-write) is answered 507 too. The partial keeps the bytes that reached it; its hash
//   checkpoint is dropped, so the next resume re-reads the partial (See [Note: Checkpoints
//   and power loss] in upload-hash.ts) and HEAD reports exactly what is stored.
// The margin keeps room for what the vault writes besides content (the SQLite index and its
// WAL, tus info files, hash checkpoints, blob directories): 2 % of the filesystem, at least
// 1 MiB and at most 256 MiB, unless set.
// A 507 body: {"error": "insufficient_storage", "message", "freeBytes", "neededBytes"}, where
// freeBytes is what the vault can still accept now (after the margin and the promises).
import { statfs } from 'node:fs/promises';
import { VaultHttpError } from './http-error.js';

const MiB = 1024 * 1024;

export interface FilesystemSpace {
  /** bytes an unprivileged writer may still use */
  availableBytes: number;
  /** the filesystem's size */
  totalBytes: number;
}

/** How much room a directory's filesystem has (a port, so a test may shrink it). */
export type FreeSpaceProbe = (directory: string) => Promise<FilesystemSpace>;

export const statfsProbe: FreeSpaceProbe = async (directory) => {
  const s = await statfs(directory);
  return { availableBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
};

export interface DiskSpaceOptions {
  /** the vault's data directory (uploads and blobs live on its filesystem) */
  directory: string;
  /** bytes always left free; default 2 % of the filesystem, 1 MiB..256 MiB */
  marginBytes?: number;
  probe?: FreeSpaceProbe;
}

/** True for errors that mean "the disk (or the user's disk quota) is full". */
export function isOutOfSpace(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL';
}

export class DiskSpace {
  private readonly directory: string;
  private readonly probe: FreeSpaceProbe;
  private readonly fixedMargin: number | undefined;
  /** bytes reserved by writes in progress */
  private promised = 0;

  constructor(options: DiskSpaceOptions) {
    this.directory = options.directory;
    this.probe = options.probe ?? statfsProbe;
    this.fixedMargin = options.marginBytes;
  }

  /** Bytes the vault may still accept now (never negative). */
  async freeBytes(): Promise<number> {
    const fs = await this.probe(this.directory);
    const margin =
      this.fixedMargin ?? Math.min(256 * MiB, Math.max(MiB, Math.floor(fs.totalBytes * 0.02)));
    return Math.max(0, fs.availableBytes - margin - this.promised);
  }

  /** Throws 507 insufficient_storage unless `bytes` fit now. */
  async ensureRoom(bytes: number, what: string): Promise<void> {
    const free = await this.freeBytes();
    if (bytes > free) throw this.refusal(free, bytes, what);
  }

  /**
   * Reserves `bytes` for a write about to start (throws 507 when they do not fit); the
   * returned function releases them and is safe to call more than once.
   */
  async reserve(bytes: number, what: string): Promise<() => void> {
    await this.ensureRoom(bytes, what);
    this.promised += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.promised -= bytes;
    };
  }

  /** The 507 for a write that failed with ENOSPC (or SQLITE_FULL) after the check. */
  async refusalAfterFailure(what: string): Promise<VaultHttpError> {
    const free = await this.freeBytes().catch(() => 0);
    return this.refusal(free, null, what);
  }

  private refusal(freeBytes: number, neededBytes: number | null, what: string): VaultHttpError {
    const need = neededBytes === null ? '' : ` needs ${neededBytes} bytes and`;
    return new VaultHttpError(
      507,
      'insufficient_storage',
      `the vault's disk is full: ${what}${need} the vault can store ${freeBytes} more bytes; free space on its disk, then resume`,
      { freeBytes, neededBytes },
    );
  }
}
