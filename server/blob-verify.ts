// Reading a stored content whole and checking it is what its name says: `size` bytes (when
// known) hashing to its sha256, through the one read function (BlobStore.openContent, plain or
// compressed). For copies that must not carry damage along: `keepsake vault migrate` and the
// sweep's adopt.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { BlobDamagedError, type BlobStore } from './blobs/port.js';

const READ_CHUNK = 1 << 20;

export type BlobCheck = 'ok' | 'damaged' | 'missing';

/**
 * Reads a content whole through `store`, hashing it (and writing it to `copyTo` when given):
 * 'ok' when it is `size` bytes hashing to `sha256`. Damage the store detects (a broken
 * compressed frame, an unreadable file) is 'damaged'; other failures (the network) throw.
 */
export async function readVerified(
  store: BlobStore,
  sha256: string,
  size: number | undefined,
  copyTo: string | null,
  counts: { bytesRead: number },
): Promise<BlobCheck> {
  let content;
  try {
    content = await store.openContent(sha256);
  } catch (err) {
    if (isDamage(err)) return 'damaged';
    throw err;
  }
  if (content === null) return 'missing';
  const out = copyTo === null ? null : await open(copyTo, 'w', 0o600);
  try {
    if (size !== undefined && content.size !== size) return 'damaged';
    const length = content.size;
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    let pos = 0;
    while (pos < length) {
      let n: number;
      try {
        n = (await content.read(buf, 0, Math.min(buf.length, length - pos), pos)).bytesRead;
      } catch (err) {
        if (isDamage(err)) return 'damaged';
        throw err;
      }
      if (n === 0) return 'damaged';
      hash.update(buf.subarray(0, n));
      if (out !== null) await out.write(buf, 0, n);
      pos += n;
      counts.bytesRead += n;
    }
    return hash.digest('hex') === sha256 ? 'ok' : 'damaged';
  } finally {
    await out?.close();
    await content.close();
  }
}

function isDamage(err: unknown): boolean {
  return err instanceof BlobDamagedError || (err as NodeJS.ErrnoException)?.code === 'EIO';
}
