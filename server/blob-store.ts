// The filesystem implementation of the blob store port (./blobs/port.ts), the default.
// Content-addressed storage: blobs/ab/<sha256> (blobs/ab/cd/<sha256> in vaults made before
// that: See [Note: Blob layout]). A blob's name is the SHA-256 of its bytes, computed by the
// vault from the bytes it stored; a file under its final name is always complete and durable.
//
// [Note: Blob layout]
// One level of 256 directories (ab/<sha256>, as git's objects/), not two (ab/cd/<sha256>,
// 65,536 leaves). With two levels nearly every new small file of a young vault landed in a
// directory of its own: a first backup of 2,000 photos made ~2,200 directories (mkdir, and on
// ext4 the inode allocator's search for each: ~0.5 s of kernel CPU) and fsynced ~3,200
// directories, where one level fsyncs each of the <= 256 directories a batch touched once.
// 256 directories of a million blobs hold ~4,000 names each, which ext4 (htree), XFS, APFS
// and NTFS look up by index. The layout is written beside blobs/ (blobs.layout) when a vault
// is made, durably, before its first blob; a vault without that file and with anything in
// blobs/ is from before and keeps ab/cd/<sha256>. An unknown layout is refused, never guessed.
// (An older Keepsake already refuses a vault this version made: its vault.db is newer.)
//
// [Note: Commit order]
// A verified upload becomes an asset in this order:
//   1. the partial file is fsynced, then renamed to its final name blobs/ab/<sha256>:
//      rename is atomic, so the final name never holds a partial;
//   2. the directories that gained an entry (ab/, and blobs/ when ab/ was created; in the
//      older layout ab/cd/, and ab/ or blobs/ when created) are fsynced, so the rename
//      itself survives power loss;
//   3. only then the asset row is committed in SQLite.
// A crash between 2 and 3 leaves a blob without a row: harmless (the next upload of that
// content finds the blob and reuses it). A row without its blob is impossible, short of
// the disk losing it: see [Note: Replacing a bad blob].
//
// [Note: Replacing a bad blob]
// A blob the index knows as damaged or missing (asset-health.ts) does not win over a new
// verified upload of its content: the upload's file is fsynced first and then renamed over
// the bad one (rename replaces atomically), so at every instant the final name holds the
// old bytes or the complete new ones, and the good bytes are durable before the bad go.
// Then the repair is reported, and the asset counts as present again. A compressed copy of
// that content (<sha256>.ksz, the bad one or not) is removed after: the plain file wins.
//
// [Note: One way to read a blob]
// A content is stored either plain (blobs/ab/<sha256>) or compressed (blobs/ab/<sha256>.ksz:
// See [Note: Compressed blobs] in blob-codec.ts), and for a moment while it is compressed,
// as both. Every reader goes through openContent(), which tries the plain name first and then
// the compressed one: the compressor renames the compressed file in before it removes the
// plain one, and a repair places the plain one before it removes the compressed one, so a
// reader always finds one complete object. What the index says of the encoding is for usage
// and for the compressor's bookkeeping, never for finding the bytes.
import * as fs from 'node:fs';
import { constants } from 'node:fs';
import { promisify } from 'node:util';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  rename,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SHA256_HEX } from '../common/vault-protocol.js';
import { BlobDamagedError, CompressedBlobReader } from './blob-codec.js';
import type { BlobContent, BlobRepairs, BlobStore, StoredObject } from './blobs/port.js';

export { SHA256_HEX };
export { BlobDamagedError };
export type { BlobContent, BlobRepairs, BlobStore };

/** The suffix of a compressed blob's name. */
export const COMPRESSED_SUFFIX = '.ksz';

/** How blob paths are made. See [Note: Blob layout]. */
export type BlobLayout = 'ab/<sha256>' | 'ab/cd/<sha256>';
const LAYOUTS: readonly BlobLayout[] = ['ab/<sha256>', 'ab/cd/<sha256>'];

/** The blob store on a local filesystem: the default (See ./blobs/port.ts). */
export class FsBlobStore implements BlobStore {
  readonly kind = 'filesystem';
  readonly layout: BlobLayout;
  /** false until blobs.layout is on disk (a new vault: written by init()) */
  private layoutWritten: boolean;

  constructor(
    readonly root: string,
    private readonly repairs?: BlobRepairs,
  ) {
    const found = readLayout(layoutFileOf(root));
    this.layoutWritten = found !== null;
    this.layout = found ?? (isEmptyOrMissing(root) ? 'ab/<sha256>' : 'ab/cd/<sha256>');
  }

  get where(): string {
    return this.root;
  }

  /** Makes blobs/ and writes the layout down (durably) before the first blob is stored. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    if (this.layoutWritten) return;
    const file = layoutFileOf(this.root);
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, `${this.layout}\n`, { mode: 0o600, flush: true });
    await rename(temp, file);
    await fsyncDir(dirname(file));
    this.layoutWritten = true;
  }

  /** The final path of a blob. Only ever called with a validated sha256. */
  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return this.layout === 'ab/<sha256>'
      ? join(this.root, sha256.slice(0, 2), sha256)
      : join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  /** Where the compressed form of a blob lives (See [Note: One way to read a blob]). */
  compressedPathOf(sha256: string): string {
    return this.pathOf(sha256) + COMPRESSED_SUFFIX;
  }

  /**
   * Opens a content's bytes, plain or compressed; null when neither file is there. A
   * compressed file whose header or frame table is broken throws BlobDamagedError. The
   * one read function: See [Note: One way to read a blob].
   */
  async openContent(sha256: string): Promise<BlobContent | null> {
    const plain = await openIfPresent(this.pathOf(sha256));
    if (plain !== null) {
      const st = await plain.stat().catch(async (err: unknown) => {
        await plain.close();
        throw err;
      });
      return {
        encoding: 'plain',
        size: st.size,
        storedBytes: st.size,
        version: String(st.ino),
        read: (buf, offset, length, position) => plain.read(buf, offset, length, position),
        close: () => plain.close(),
      };
    }
    const packed = await openIfPresent(this.compressedPathOf(sha256));
    if (packed === null) return null;
    try {
      const st = await packed.stat();
      const reader = await CompressedBlobReader.open(packed);
      return {
        encoding: 'compressed',
        size: reader.size,
        storedBytes: st.size,
        version: String(st.ino),
        read: (buf, offset, length, position) => reader.read(buf, offset, length, position),
        close: () => packed.close(),
      };
    } catch (err) {
      await packed.close();
      throw err;
    }
  }

  /** The inode that holds a content now (plain first), or null: to notice a replacement. */
  async currentVersion(sha256: string): Promise<string | null> {
    for (const path of [this.pathOf(sha256), this.compressedPathOf(sha256)]) {
      const st = await stat(path).catch(() => null);
      if (st?.isFile()) return String(st.ino);
    }
    return null;
  }

  /**
   * Runs `use` with a path to the content's original bytes: the blob itself when it is
   * stored plain, else a temporary decompressed copy under `tempDir` (removed after; the
   * start-up sweep removes one left by a crash). For tools that need a file (sharp,
   * exiftool, ffmpeg). Null when the content is not there.
   */
  async withPlainFile<T>(
    sha256: string,
    tempDir: string,
    use: (path: string) => Promise<T>,
  ): Promise<{ value: T } | null> {
    const content = await this.openContent(sha256);
    if (content === null) return null;
    if (content.encoding === 'plain') {
      await content.close();
      return { value: await use(this.pathOf(sha256)) };
    }
    const temp = join(tempDir, `plain-${randomBytes(8).toString('hex')}.tmp`);
    try {
      const out = await open(temp, 'wx', 0o600);
      try {
        const buf = Buffer.allocUnsafe(1 << 20);
        for (let pos = 0; pos < content.size;) {
          const { bytesRead } = await content.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) throw new BlobDamagedError('the blob ended early');
          await out.write(buf, 0, bytesRead);
          pos += bytesRead;
        }
      } finally {
        await out.close();
      }
      return { value: await use(temp) };
    } finally {
      await content.close();
      await unlink(temp).catch(() => undefined);
    }
  }

  /** Removes a content's compressed form, durably (after a plain one was placed). */
  private async dropCompressed(sha256: string): Promise<void> {
    const path = this.compressedPathOf(sha256);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await fsyncDir(dirname(path));
  }

  /** The directories between the root and a blob, outermost first. */
  private dirsOf(sha256: string): string[] {
    const leaf = dirname(this.pathOf(sha256));
    return this.layout === 'ab/<sha256>' ? [leaf] : [dirname(leaf), leaf];
  }

  /** Whether the content is stored, plain or compressed. */
  async has(sha256: string): Promise<boolean> {
    return (await this.currentVersion(sha256)) !== null;
  }

  /**
   * Moves a complete file into the store (fsyncing it first) under its sha256 (See [Note: Commit
   * order]). When the blob already exists the source is deleted instead (same content),
   * unless it is known bad (See [Note: Replacing a bad blob]). Returns true when the blob
   * was placed (new or a repair).
   */
  async adopt(sourcePath: string, sha256: string): Promise<boolean> {
    const finalPath = this.pathOf(sha256);
    const bad = await this.repairs?.knownBad(sha256);
    if (bad === undefined && (await this.has(sha256))) {
      // No fsync: a partial resurrected by power loss is swept at start.
      await unlink(sourcePath);
      return false;
    }
    await syncFile(sourcePath);
    const dirs = this.dirsOf(sha256);
    const created: boolean[] = [];
    for (const dir of dirs) created.push(await mkdirIfMissing(dir));
    await rename(sourcePath, finalPath);
    // the leaf's new entry, then each new directory's entry in its parent, deepest first
    await fsyncDir(dirname(finalPath));
    for (let i = dirs.length - 1; i >= 0; i--) {
      if (created[i]) await fsyncDir(dirname(dirs[i]!));
    }
    // The source directory is not fsynced: the rename is one journal transaction (ext4,
    // XFS, APFS, NTFS), committed by the fsync of the target directory; at worst a stale
    // partial entry reappears after power loss and is swept at start.
    if (bad !== undefined) {
      await this.dropCompressed(sha256);
      await this.repairs?.repaired(sha256);
    }
    return true;
  }

  /**
   * True when the vault should take new bytes for this content: it is not indexed, or its
   * blob is known bad. (An indexed asset has its blob: See [Note: Commit order]. A blob
   * without a row, left by a crash, is simply replaced by the same verified bytes.)
   */
  async wantsBytes(sha256: string, indexed: boolean): Promise<boolean> {
    return !indexed || (await this.repairs?.knownBad(sha256)) !== undefined;
  }

  /**
   * Moves many complete, already fsynced files into the store (a batch: See [Note: Small
   * files in batches] in batch-api.ts): each is renamed to its final name, then every
   * directory that gained an entry is fsynced once. When this resolves, every file is durable
   * under its final name; a crash before leaves blobs without rows at worst (harmless).
   * Independent steps run side by side on the threadpool.
   */
  async placeSynced(files: readonly { path: string; sha256: string }[]): Promise<void> {
    const finals = files.map((f) => ({ ...f, final: this.pathOf(f.sha256) }));
    const leaves = [...new Set(finals.map((f) => dirname(f.final)))];
    const tops =
      this.layout === 'ab/cd/<sha256>' ? [...new Set(leaves.map((d) => dirname(d)))] : [];
    // Directories to fsync, deepest first: a new directory's own entries are synced before
    // its entry in its parent.
    const newTops = await Promise.all(tops.map(mkdirIfMissing));
    const newLeaves = await Promise.all(leaves.map(mkdirIfMissing));
    const bad = await Promise.all(
      files.map((f) => this.repairs?.knownBad(f.sha256) ?? Promise.resolve(undefined)),
    );
    const repaired = files.filter((_, i) => bad[i] !== undefined);
    await Promise.all(finals.map((f) => rename(f.path, f.final)));
    await Promise.all(leaves.map(fsyncDir));
    await Promise.all(
      [...new Set(leaves.filter((_, i) => newLeaves[i]).map((d) => dirname(d)))].map(fsyncDir),
    );
    if (newTops.some(Boolean)) await fsyncDir(this.root);
    await Promise.all(repaired.map((f) => this.dropCompressed(f.sha256)));
    for (const f of repaired) await this.repairs?.repaired(f.sha256);
  }

  /**
   * Every content under the root, in sha256 order: the 256 (or 65,536) directories in hex
   * order and the names in each sorted, a plain file and its compressed form as one content.
   */
  async *list(): AsyncGenerator<StoredObject> {
    const dirs =
      this.layout === 'ab/<sha256>'
        ? await hexNames(this.root, 2)
        : (
            await Promise.all(
              (await hexNames(this.root, 2)).map(async (ab) =>
                (await hexNames(join(this.root, ab), 2)).map((cd) => join(ab, cd)),
              ),
            )
          ).flat();
    for (const dir of dirs) {
      const names = (await readdir(join(this.root, dir)).catch(() => [] as string[])).sort();
      let current: StoredObject | undefined;
      for (const name of names) {
        const sha256 = name.endsWith(COMPRESSED_SUFFIX)
          ? name.slice(0, -COMPRESSED_SUFFIX.length)
          : name;
        if (!SHA256_HEX.test(sha256)) continue;
        const st = await stat(join(this.root, dir, name)).catch(() => null);
        if (st === null || !st.isFile()) continue;
        if (current !== undefined && current.sha256 === sha256) {
          current.storedBytes += st.size;
          current.modifiedAt = Math.max(current.modifiedAt, st.mtimeMs);
          continue;
        }
        if (current !== undefined) yield current;
        current = { sha256, storedBytes: st.size, modifiedAt: Math.floor(st.mtimeMs) };
      }
      if (current !== undefined) yield current;
    }
  }

  /** Removes a content's plain and compressed files (whichever there are). */
  async remove(sha256: string): Promise<void> {
    for (const path of [this.pathOf(sha256), this.compressedPathOf(sha256)]) {
      await unlink(path).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
    }
  }

  close(): void {
    // nothing held open between calls
  }
}

/** The two-hex-digit directory names in `dir`, sorted (none when it is not there). */
async function hexNames(dir: string, length: number): Promise<string[]> {
  const names = await readdir(dir).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw err;
  });
  const pattern = new RegExp(`^[0-9a-f]{${length}}$`);
  return names.filter((n) => pattern.test(n)).sort();
}

function layoutFileOf(root: string): string {
  return join(dirname(root), `${basename(root)}.layout`);
}

/** The layout written down for a vault, or null when none is (yet). */
function readLayout(file: string): BlobLayout | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8').trim();
  const layout = LAYOUTS.find((l) => l === text);
  if (layout === undefined) {
    throw new Error(`${file} names a blob layout this version does not know: ${text}`);
  }
  return layout;
}

async function openIfPresent(path: string): Promise<FileHandle | null> {
  try {
    return await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

function isEmptyOrMissing(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

async function mkdirIfMissing(dir: string): Promise<boolean> {
  try {
    await mkdir(dir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** fdatasync of a file's contents. */
export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

const openFd = promisify(fs.open);
const fsyncFd = promisify(fs.fsync);
const closeFd = promisify(fs.close);

/** fsync of a directory (its entries), through a plain descriptor: a batch syncs hundreds. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}
