// SHA-256 of an upload's bytes, computed as they arrive (See [Note: Hashing as bytes
// arrive]). Between two PATCHes of an upload the running hash stays in memory, tagged with
// the offset it covers; the next PATCH continues from it. Invariant: a running hash is used
// only when its offset equals the partial's size, so the digest always covers exactly the
// bytes on disk; anything else (a restart, a crash mid-PATCH, a failed write) rebuilds the
// state by reading the partial.
//
// [Note: Hashing as bytes arrive]
// The vault must hash the bytes it stored, and reading a finished 1 GiB file a second time
// costs a full pass over the disk. Instead every byte is fed to the hasher just before it is
// handed to the file's write stream, and the write is checked afterwards: when the file's
// size equals the number of bytes hashed, the stored bytes and the hashed bytes are the
// same bytes (one process wrote them, in order, with nothing else writing the partial). If
// the sizes differ (a write failed), the running hash is dropped and the next use rehashes
// the file.
//
// [Note: Node crypto, state in memory]
// The hash is node:crypto's (OpenSSL: it uses the CPU's SHA instructions, ~1.7 GB/s here),
// not hash-wasm (~0.2 GB/s measured in the vault, and the largest single cost of a large
// upload: 1.45 s of CPU for 256 MiB). node:crypto's state cannot be saved, so the state
// lives in memory only, and nothing is written beside the partial per PATCH (the vault used
// to write and rename a checkpoint file, and without a boot id fsync the partial, on every
// PATCH). The price is paid only after a vault restart: the partial is read once to rebuild
// the state (at disk speed; at most once per upload and restart), and that also settles
// what a checkpoint had to guard against after a power loss: the rebuilt hash covers
// exactly what is on disk, so a lost unsynced write shows up as a 460, never as a wrong
// blob. The partial is still fsynced before it becomes a blob (See [Note: Commit order] in
// blob-store.ts). The hash runs synchronously in C++ on the vault's main thread, a slice
// (one socket read, at most 64 KiB) at a time: about 40 µs each, so the event loop never
// waits long. A worker thread would only help with a core to spare; on the 2-core machines
// measured the client process and the vault already keep both busy, and handing each slice
// to a worker costs a copy or a transfer of it.
import { type Hash, createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

export class UploadHashes {
  /** Count of PATCHes and finishes that had to reread the partial (no running hash). */
  rebuilds = 0;
  /** The running hash of each upload between two PATCHes, with the offset it covers. */
  private readonly running = new Map<string, { hash: Hash; offset: number }>();

  /**
   * A hasher positioned at `offset` bytes of the partial at `partialPath`. The caller owns
   * it: it is no longer kept here (keep() puts it back once its bytes are stored).
   */
  async resumeAt(uploadId: string, offset: number, partialPath: string): Promise<Hash> {
    const kept = this.running.get(uploadId);
    this.running.delete(uploadId);
    if (kept !== undefined && kept.offset === offset) return kept.hash;
    const hash = createHash('sha256');
    if (offset === 0) return hash;
    this.rebuilds += 1;
    const fh = await open(partialPath, 'r');
    try {
      const buffer = Buffer.allocUnsafe(Math.min(4 << 20, offset));
      let read = 0;
      while (read < offset) {
        const { bytesRead } = await fh.read(
          buffer,
          0,
          Math.min(buffer.length, offset - read),
          read,
        );
        if (bytesRead === 0) break;
        hash.update(buffer.subarray(0, bytesRead));
        read += bytesRead;
      }
      if (read !== offset) {
        throw new Error(`partial ${uploadId} holds ${read} bytes, expected ${offset}`);
      }
    } finally {
      await fh.close();
    }
    return hash;
  }

  /** Keeps `hash`, which covers the partial's first `offset` bytes, for the next PATCH. */
  keep(uploadId: string, hash: Hash, offset: number): void {
    this.running.set(uploadId, { hash, offset });
  }

  discard(uploadId: string): void {
    this.running.delete(uploadId);
  }

  /** The SHA-256 (lowercase hex) of the partial's first `size` bytes; forgets the upload. */
  async digest(uploadId: string, size: number, partialPath: string): Promise<string> {
    const hash = await this.resumeAt(uploadId, size, partialPath);
    return hash.digest('hex');
  }
}
