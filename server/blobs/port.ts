// The blob store as the vault sees it: a port with two implementations, the filesystem
// (server/blob-store.ts, the default: blobs/ under the data directory) and an S3-compatible
// bucket (server/blobs/s3-blob-store.ts). Everything that stores, reads, checks or removes the
// bytes of a content goes through this interface; only the background compressor, which
// rewrites blobs in place on disk, needs the filesystem one itself.
// Invariant (both implementations): a content is visible under its final name only once its
// bytes are complete, durable and verified, and before the index row that names it is
// committed. See [Note: Commit order] in ../blob-store.ts and [Note: Verified before visible
// on S3] in s3-blob-store.ts.
import { BlobDamagedError } from '../blob-codec.js';

export { BlobDamagedError };

/** How the blob store learns which blobs are bad (See [Note: Replacing a bad blob]). */
export interface BlobRepairs {
  /** 'damaged' or 'missing' when the last check of this blob found so, else undefined */
  knownBad(sha256: string): Promise<'damaged' | 'missing' | undefined>;
  /** A bad blob was replaced by verified bytes, durably. */
  repaired(sha256: string): void | Promise<void>;
}

/** The bytes of one stored content, whichever way it is stored (See [Note: One way to read a blob]). */
export interface BlobContent {
  readonly encoding: 'plain' | 'compressed';
  /** the original size: the plain file's size, or what the compressed header declares */
  readonly size: number;
  /** bytes the stored object takes (before file system blocks) */
  readonly storedBytes: number;
  /**
   * Which stored object was opened (a file's inode, an S3 object's ETag): compared with
   * BlobStore.currentVersion to notice that a repair replaced it meanwhile.
   */
  readonly version: string;
  /**
   * FileHandle.read's contract over the ORIGINAL bytes (a short read is allowed; 0 at the
   * end); throws BlobDamagedError on bad bytes.
   */
  read(
    buf: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/** One stored content as a listing sees it (`keepsake vault sweep`). */
export interface StoredObject {
  sha256: string;
  /** bytes its stored object(s) take */
  storedBytes: number;
  /** unix ms its newest object was written: how old an object without an index row is */
  modifiedAt: number;
}

export interface BlobStore {
  /** Which implementation, for logs and for what only the filesystem does (compression). */
  readonly kind: 'filesystem' | 's3';
  /** Where the blobs are, for logs and error messages (a path or an s3:// address). */
  readonly where: string;

  /** Makes the store ready before the first blob is stored (or says why it cannot be used). */
  init(): Promise<void>;

  /**
   * Opens a content's bytes; null when it is not stored. A stored object whose framing is
   * broken throws BlobDamagedError. The one read function: See [Note: One way to read a blob].
   */
  openContent(sha256: string): Promise<BlobContent | null>;

  /** The version of the object that holds a content now, or null: to notice a replacement. */
  currentVersion(sha256: string): Promise<string | null>;

  /** Whether the content is stored. */
  has(sha256: string): Promise<boolean>;

  /**
   * Takes a complete local file whose bytes the vault verified to hash to `sha256` into the
   * store under that name; the file is gone afterwards. When the content is already stored
   * (and not known bad) nothing is stored again. Resolves only when the content is durable
   * under its final name: the caller commits the index row after. Returns true when the
   * content was placed (new or a repair).
   */
  adopt(sourcePath: string, sha256: string): Promise<boolean>;

  /**
   * Takes many complete, fsynced, verified files at once (a batch): as adopt for each, with
   * the durability work shared. The files are gone afterwards.
   */
  placeSynced(files: readonly { path: string; sha256: string }[]): Promise<void>;

  /**
   * True when the vault should take new bytes for this content: it is not indexed, or its
   * blob is known bad. (An indexed asset has its blob: See [Note: Commit order].)
   */
  wantsBytes(sha256: string, indexed: boolean): Promise<boolean>;

  /**
   * Runs `use` with a path to the content's original bytes (for tools that need a file:
   * sharp, exiftool, ffmpeg): the stored file itself when there is one, else a temporary copy
   * under `tempDir`, removed after. Null when the content is not there.
   */
  withPlainFile<T>(
    sha256: string,
    tempDir: string,
    use: (path: string) => Promise<T>,
  ): Promise<{ value: T } | null>;

  /**
   * Every content stored, each once (plain and compressed forms together), in ascending
   * sha256 order (byte order of the hex), so a sweep can walk it beside the index. Names that
   * are no content's (temporary files) are not listed.
   */
  list(): AsyncIterable<StoredObject>;

  /** Removes every stored form of a content (the index forgot it first); absent is fine. */
  remove(sha256: string): Promise<void>;

  /** Releases what the store holds open (sockets); the store is not used after. */
  close(): void;
}
