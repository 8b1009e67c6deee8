// The blob store on an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, B2, R2): one object per
// content, `<prefix>blobs/<sha256>`, stored plain. Every S3 call goes through s3-objects.ts.
// Invariant: an object under a content key holds exactly the bytes that hash to that key,
// unless the storage damaged them later (which scrub finds); see [Note: Verified before
// visible on S3].
//
// [Note: Verified before visible on S3]
// The filesystem store makes an upload visible by renaming a verified, fsynced file to its
// final name ([Note: Commit order] in ../blob-store.ts). Here the same order holds with S3's
// own atomicity: an object appears under its key only when its PUT (or multipart completion)
// succeeded, whole, so
//   1. the vault verifies the upload's SHA-256 on the local partial file (tus: upload-hash.ts;
//      a batch: each frame as it arrives), and only then
//   2. puts that file under `blobs/<sha256>`, with x-amz-checksum-sha256 so a server that
//      checks checksums (AWS, MinIO, Ceph RGW) refuses bytes that changed in transit;
//   3. the caller commits the index row only after the put resolved.
// A content already stored is not put again: a HEAD comes first, and an object found is
// trusted like a blob found on disk (a crash between 2 and 3 left it, verified). The
// exception is a content the index knows as damaged or missing: its new verified bytes are
// put over the old object (a PUT replaces atomically), then the repair is reported
// ([Note: Replacing a bad blob] in ../blob-store.ts).
// A crash between 2 and 3 leaves at most an object without a row, which the next upload of
// that content reuses. A row without its object is impossible short of the bucket losing it.
// Objects are never compressed here: the background compressor rewrites blobs in place on a
// filesystem ([Note: Compressing blobs in the background] in ../compressor.ts), and the vault
// turns it off on S3 and says so at start.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SHA256_HEX } from '../../common/vault-protocol.js';
import { VaultStartError } from '../start-error.js';
import type { BlobContent, BlobRepairs, BlobStore, StoredObject } from './port.js';
import type { S3Objects } from './s3-objects.js';

/** Puts of one batch running at once (each one request to the bucket). */
const PUT_CONCURRENCY = 8;

export class S3BlobStore implements BlobStore {
  readonly kind = 's3';

  constructor(
    private readonly objects: S3Objects,
    private readonly repairs?: BlobRepairs,
  ) {}

  get where(): string {
    const { bucket, prefix, endpoint } = this.objects.location;
    return `s3://${bucket}/${prefix}${endpoint === undefined ? '' : ` at ${endpoint}`}`;
  }

  /** The object name of a content. Only ever called with a validated sha256. */
  nameOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return `blobs/${sha256}`;
  }

  /** Lists one page under blobs/: the bucket exists and takes these credentials, or why not. */
  async init(): Promise<void> {
    try {
      for await (const _ of this.objects.list('blobs/')) break;
    } catch (err) {
      throw new VaultStartError(
        'blobs_unreachable',
        `cannot reach the blob bucket ${this.where}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  async openContent(sha256: string): Promise<BlobContent | null> {
    const name = this.nameOf(sha256);
    const head = await this.objects.head(name);
    if (head === null) return null;
    const reader = new RangeReader(this.objects, name, head.size);
    return {
      encoding: 'plain',
      size: head.size,
      storedBytes: head.size,
      version: head.etag,
      read: (buf, offset, length, position) => reader.read(buf, offset, length, position),
      close: () => Promise.resolve(reader.close()),
    };
  }

  async currentVersion(sha256: string): Promise<string | null> {
    return (await this.objects.head(this.nameOf(sha256)))?.etag ?? null;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.objects.head(this.nameOf(sha256))) !== null;
  }

  /** See [Note: Verified before visible on S3]. */
  async adopt(sourcePath: string, sha256: string): Promise<boolean> {
    const placed = await this.place({ path: sourcePath, sha256 });
    await unlink(sourcePath);
    return placed;
  }

  async placeSynced(files: readonly { path: string; sha256: string }[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const file = files[next++]!;
        await this.place(file);
        await unlink(file.path);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUT_CONCURRENCY, files.length) }, worker));
  }

  async wantsBytes(sha256: string, indexed: boolean): Promise<boolean> {
    return !indexed || (await this.repairs?.knownBad(sha256)) !== undefined;
  }

  async withPlainFile<T>(
    sha256: string,
    tempDir: string,
    use: (path: string) => Promise<T>,
  ): Promise<{ value: T } | null> {
    const body = await this.objects.read(this.nameOf(sha256));
    if (body === null) return null;
    const temp = join(tempDir, `plain-${randomBytes(8).toString('hex')}.tmp`);
    try {
      await pipeline(body, createWriteStream(temp, { flags: 'wx', mode: 0o600 }));
      return { value: await use(temp) };
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  /** Objects under blobs/ in key order, which is sha256 order (S3 lists keys by their bytes). */
  async *list(): AsyncGenerator<StoredObject> {
    for await (const object of this.objects.list('blobs/')) {
      const sha256 = object.name.slice('blobs/'.length);
      if (!SHA256_HEX.test(sha256)) continue;
      yield { sha256, storedBytes: object.size, modifiedAt: object.modifiedAt };
    }
  }

  async remove(sha256: string): Promise<void> {
    await this.objects.delete(this.nameOf(sha256));
  }

  close(): void {
    this.objects.close();
  }

  /**
   * Puts one verified file under its content's key unless an object is there already and not
   * known bad. True when it put (new or a repair). See [Note: Verified before visible on S3].
   */
  private async place(file: { path: string; sha256: string }): Promise<boolean> {
    const name = this.nameOf(file.sha256);
    const bad = await this.repairs?.knownBad(file.sha256);
    if (bad === undefined && (await this.objects.head(name)) !== null) return false;
    await this.objects.putFile(name, file.path, file.sha256);
    if (bad !== undefined) await this.repairs?.repaired(file.sha256);
    return true;
  }
}

/**
 * FileHandle.read over an object, by ranged GETs: reads that follow each other are served from
 * one open response (a whole-file read or a long Range costs one request), and a read
 * elsewhere drops it and asks from there.
 */
class RangeReader {
  private body: Readable | null = null;
  private chunks: AsyncIterator<Buffer> | null = null;
  private pending: Buffer = Buffer.alloc(0);
  /** the object position of pending[0] */
  private at = -1;

  constructor(
    private readonly objects: S3Objects,
    private readonly name: string,
    private readonly size: number,
  ) {}

  async read(
    buf: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }> {
    if (length <= 0 || position >= this.size) return { bytesRead: 0 };
    if (this.chunks === null || position !== this.at) {
      this.close();
      const body = await this.objects.read(this.name, { start: position, end: this.size - 1 });
      if (body === null) return { bytesRead: 0 }; // removed meanwhile: reads as ended early
      this.body = body;
      this.chunks = (body[Symbol.asyncIterator] as () => AsyncIterator<Buffer>).call(body);
      this.at = position;
    }
    if (this.pending.length === 0) {
      const next = await this.chunks.next();
      if (next.done === true) {
        this.close();
        return { bytesRead: 0 };
      }
      this.pending = next.value;
    }
    const n = Math.min(length, this.pending.length);
    this.pending.copy(buf, offset, 0, n);
    this.pending = this.pending.subarray(n);
    this.at += n;
    return { bytesRead: n };
  }

  close(): void {
    this.body?.destroy();
    this.body = null;
    this.chunks = null;
    this.pending = Buffer.alloc(0);
    this.at = -1;
  }
}
