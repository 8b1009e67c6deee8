// Lossless compression of stored content, in the background (issue 15 section 3): the worker
// that turns a plain blob into a compressed one when that saves at least MIN_SAVING, and the
// start-up step that settles what a crash left half done.
// See [Note: Compressing blobs in the background].
// Invariant: at every instant one complete object holding the original bytes is on disk under
// a final name (the plain blob, the compressed one, or both), and a compressed object is
// renamed into place only after it was fsynced and decoded back to the content's SHA-256.
//
// [Note: Compressing blobs in the background]
// Work is the index, as for previews (See [Note: Preview work is the index] in previews.ts):
// an asset whose stored_encoding is NULL has not been considered; the worker walks them by id
// from a cursor, and a verified upload only wakes it, so the upload's answer never waits. For
// each content:
//   1. skip what is already compressed: a cheap list of known-compressed formats (by MIME
//      type, file extension and magic number: JPEG, HEIC, MP4, PNG, ...) and tiny files; then
//      compress the first frame (1 MiB) as a sample: under MIN_SAVING saved, it stays plain;
//   2. write the compressed object to a temp file in uploads/ (the start-up sweep removes one
//      left by a crash), fsync it, and decode it back, hashing to the content's SHA-256; a
//      whole under MIN_SAVING saved stays plain too;
//   3. record 'compressing' (durably), rename the temp to blobs/ab/<sha256>.ksz, fsync the
//      directory;
//   4. remove the plain blob, fsync the directory, record 'compressed' with its size (durably).
// kill -9 or power loss: before 3 the plain blob is untouched and the temp is swept; from 3 to
// the end of 4 the index says 'compressing', and settleCompressing (at start, before requests)
// finishes the job when the compressed object is in place (it is complete: it was renamed in
// only after being proven) or marks the content unconsidered when it is not. Readers never
// depend on this: they take whichever file is there (See [Note: One way to read a blob] in
// blob-store.ts). A reader that opened the plain blob keeps reading it after the unlink.
// Pacing: one content at a time, each frame compressed on the threadpool; while uploads arrive
// (one verified in the last UPLOAD_RECENT_MS) the worker rests REST_FACTOR times as long as
// its last content took, as the preview worker does (See [Note: Preview pacing]).
import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompressedBlobReader,
  compressFrame,
  encodeFrameHeader,
  encodeHeader,
  FRAME_BYTES,
} from './blob-codec.js';
import { type BlobContent, type FsBlobStore, fsyncDir } from './blob-store.js';
import type { UnconsideredAsset } from './index/encoding-store.js';
import type { VaultIndex } from './index/vault-index.js';
import type { VaultLogger } from './logger.js';

/** A content is stored compressed only when that saves at least this share of its bytes. */
export const MIN_SAVING = 0.05;
/** Below this a file takes one file system block either way. */
const MIN_SIZE = 4096;
const PAGE = 64;
const UPLOAD_RECENT_MS = 1000;
const REST_FACTOR = 4;
const MAX_REST_MS = 2000;

/** Formats that are compressed already: never worth the CPU of a sample. */
const COMPRESSED_EXTENSIONS = new Set([
  'jpg', 'jpeg', 'jpe', 'jfif', 'heic', 'heif', 'hif', 'avif', 'webp', 'png', 'gif', 'jxl',
  'jp2', 'j2k', 'bpg', 'flif', 'mp4', 'm4v', 'mov', 'qt', '3gp', '3g2', 'mkv', 'webm', 'avi',
  'wmv', 'asf', 'mts', 'm2ts', 'mpg', 'mpeg', 'mp3', 'm4a', 'aac', 'ogg', 'opus', 'flac', 'zip',
  'gz', 'xz', 'bz2', 'zst', '7z', 'rar', 'cr3', 'insp', 'insv', 'lrv',
]); // prettier-ignore
const COMPRESSED_MIME =
  /^(video\/|audio\/(mpeg|mp4|aac|ogg|opus|flac)|image\/(jpeg|heic|heif|avif|webp|png|gif|jxl|jp2)$|application\/(zip|gzip|x-xz|zstd|x-7z))/;

/** Magic numbers of compressed formats, for files whose name or MIME type says nothing. */
function looksCompressed(head: Buffer): boolean {
  const at = (offset: number, text: string) =>
    head.subarray(offset, offset + text.length).toString('latin1') === text;
  return (
    (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) || // JPEG
    at(0, '\x89PNG') ||
    at(0, 'GIF8') ||
    (at(0, 'RIFF') && at(8, 'WEBP')) ||
    at(4, 'ftyp') || // HEIC, AVIF, MP4, MOV, 3GP
    at(0, 'PK\x03\x04') ||
    at(0, '\x1f\x8b') ||
    at(0, '\x28\xb5\x2f\xfd') || // zstd
    at(0, '\xfd7zXZ') ||
    at(0, '\x1aE\xdf\xa3') // Matroska / WebM
  );
}

/** Why a content is not even sampled, or null when it is worth a try. */
export function skipReason(asset: {
  size: number;
  mime: string | null;
  filename: string;
}): string | null {
  if (asset.size < MIN_SIZE) return 'small';
  const dot = asset.filename.lastIndexOf('.');
  const ext = dot < 0 ? '' : asset.filename.slice(dot + 1).toLowerCase();
  if (COMPRESSED_EXTENSIONS.has(ext)) return 'compressed format';
  if (asset.mime !== null && COMPRESSED_MIME.test(asset.mime)) return 'compressed format';
  return null;
}

export interface CompressorDeps {
  index: VaultIndex;
  blobs: FsBlobStore;
  logger: VaultLogger;
  /** where compressed objects are written before they are renamed in (uploads/) */
  tempDir: string;
}

export type CompressOutcome =
  { compressed: { storedBytes: number } } | { plain: string } | { gone: true };

/**
 * Considers one content (See [Note: Compressing blobs in the background]) and records the
 * outcome. `signal` stops it between frames (the temp is removed).
 */
export async function compressOne(
  deps: CompressorDeps,
  asset: UnconsideredAsset,
  signal?: AbortSignal,
): Promise<CompressOutcome> {
  const { index, blobs, tempDir } = deps;
  const skip = skipReason(asset);
  if (skip !== null) {
    await index.encodings.keptPlain(asset.sha256);
    return { plain: skip };
  }
  const content = await blobs.openContent(asset.sha256);
  if (content === null) return { gone: true }; // missing: the health checks' business
  if (content.encoding === 'compressed') {
    // Compressed by an earlier run whose record was lost with a power cut: say so.
    await content.close();
    await index.encodings.compressed(asset.sha256, content.storedBytes);
    return { compressed: { storedBytes: content.storedBytes } };
  }
  const temp = join(tempDir, `compress-${randomBytes(8).toString('hex')}.tmp`);
  let placed = false;
  try {
    const size = content.size;
    if (size !== asset.size) return { gone: true }; // damaged: the health checks' business
    const first = await readFrame(content, 0, Math.min(FRAME_BYTES, size));
    if (looksCompressed(first)) {
      await index.encodings.keptPlain(asset.sha256);
      return { plain: 'compressed format' };
    }
    const sample = await compressFrame(first);
    if (sample.length > first.length * (1 - MIN_SAVING)) {
      await index.encodings.keptPlain(asset.sha256);
      return { plain: 'saves too little' };
    }
    const out = await open(temp, 'wx', 0o600);
    let storedBytes = 0;
    try {
      const write = async (buf: Buffer) => {
        await out.write(buf);
        storedBytes += buf.length;
      };
      await write(encodeHeader(size));
      let plain = first;
      let packed = sample;
      for (let pos = 0; ;) {
        await write(encodeFrameHeader(plain, packed));
        await write(packed);
        pos += plain.length;
        if (pos >= size) break;
        signal?.throwIfAborted();
        plain = await readFrame(content, pos, Math.min(FRAME_BYTES, size - pos));
        packed = await compressFrame(plain);
      }
      await out.datasync();
    } finally {
      await out.close();
    }
    if (storedBytes > size * (1 - MIN_SAVING)) {
      await index.encodings.keptPlain(asset.sha256);
      return { plain: 'saves too little' };
    }
    if (!(await decodesTo(temp, asset.sha256, size, signal))) {
      // The plain bytes read were not the content's (damaged on disk): leave them for the
      // health checks to find and a repair to replace; never store them compressed.
      deps.logger.warn('not compressed: the stored bytes do not hash to their content', {
        sha256: asset.sha256,
      });
      await index.encodings.keptPlain(asset.sha256);
      return { plain: 'stored bytes do not match' };
    }
    signal?.throwIfAborted();
    const plainPath = blobs.pathOf(asset.sha256);
    const finalPath = blobs.compressedPathOf(asset.sha256);
    // An asset the trash was emptied of meanwhile (trash.ts forgets the row, then unlinks
    // the files) is not put back on disk.
    if (!(await index.encodings.compressingNow(asset.sha256))) return { gone: true };
    await rename(temp, finalPath);
    placed = true;
    await fsyncDir(dirname(finalPath));
    await unlinkIfPresent(plainPath);
    await fsyncDir(dirname(plainPath));
    if (!(await index.encodings.compressed(asset.sha256, storedBytes))) {
      await unlinkIfPresent(finalPath); // forgotten between the two records: no orphan
      return { gone: true };
    }
    return { compressed: { storedBytes } };
  } finally {
    await content.close();
    if (!placed) await unlink(temp).catch(() => undefined);
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

async function readFrame(content: BlobContent, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  for (let got = 0; got < length;) {
    const { bytesRead } = await content.read(buf, got, length - got, position + got);
    if (bytesRead === 0) throw new Error('the blob ended early');
    got += bytesRead;
  }
  return buf;
}

/** Whether a compressed file decodes to `size` bytes hashing to `sha256`. */
async function decodesTo(
  path: string,
  sha256: string,
  size: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const reader = await CompressedBlobReader.open(fh);
    if (reader.size !== size) return false;
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(FRAME_BYTES, Math.max(size, 1)));
    for (let pos = 0; pos < size;) {
      signal?.throwIfAborted();
      const { bytesRead } = await reader.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return false;
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return hash.digest('hex') === sha256;
  } catch (err) {
    if (signal?.aborted) throw err;
    return false;
  } finally {
    await fh.close();
  }
}

/**
 * At start, before requests: finishes or undoes what a crash left between steps 3 and 4 of
 * [Note: Compressing blobs in the background]. Returns how many contents it settled.
 */
export async function settleCompressing(deps: {
  index: VaultIndex;
  blobs: FsBlobStore;
  logger: VaultLogger;
}): Promise<number> {
  const { index, blobs, logger } = deps;
  const pending = await index.encodings.compressing();
  for (const sha256 of pending) {
    const packedPath = blobs.compressedPathOf(sha256);
    const fh = await open(packedPath, 'r').catch(() => null);
    if (fh !== null) {
      const storedBytes = (await fh.stat()).size;
      await fh.close();
      // In place means proven (renamed in only after decoding to the SHA-256): the plain
      // copy can go.
      await unlinkIfPresent(blobs.pathOf(sha256));
      await fsyncDir(dirname(packedPath));
      await index.encodings.settle(sha256, storedBytes);
    } else {
      await index.encodings.settle(sha256, null);
    }
  }
  if (pending.length > 0) {
    logger.info('vault start: settled contents a crash left half compressed', {
      contents: pending.length,
    });
  }
  return pending.length;
}

/** Compresses unconsidered contents in the background. */
export class BlobCompressor {
  private cursor = 0;
  private stopped = false;
  private woken = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private lastUploadAt = -Infinity;
  private readonly stopping = new AbortController();

  constructor(private readonly deps: CompressorDeps) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** New content was verified: returns at once. */
  notify(): void {
    this.lastUploadAt = performance.now();
    this.woken = true;
    this.wake?.();
  }

  /** This content's bytes were replaced by a repair: it is considered again. */
  reconsider(sha256: string): void {
    // Woken once the record is forgotten, so the walk it starts finds the content.
    this.deps.index.encodings.forget(sha256).then(
      () => {
        this.cursor = 0;
        this.notify();
      },
      (err: unknown) =>
        this.deps.logger.warn('a repaired content could not be marked for compressing again', {
          sha256,
          error: String(err),
        }),
    );
  }

  /** Considers everything unconsidered after the cursor; returns how many it tried. */
  async processPending(): Promise<number> {
    let tried = 0;
    while (!this.stopped) {
      const page = await this.deps.index.encodings.unconsideredAfter(this.cursor, PAGE);
      if (page.length === 0) return tried;
      for (const asset of page) {
        if (this.stopped) return tried;
        this.cursor = asset.id;
        if ((await this.deps.index.health.problem(asset.sha256)) !== undefined) continue;
        const started = performance.now();
        try {
          const outcome = await compressOne(this.deps, asset, this.stopping.signal);
          if ('compressed' in outcome) {
            this.deps.logger.debug('content stored compressed', {
              sha256: asset.sha256,
              size: asset.size,
              storedBytes: outcome.compressed.storedBytes,
            });
          }
        } catch (err) {
          if (this.stopped) return tried;
          // Passing (a full disk, ...): it stays unconsidered, tried at the next start.
          this.deps.logger.warn('compressing a content failed; it stays plain for now', {
            sha256: asset.sha256,
            error: String(err),
          });
        }
        tried += 1;
        const done = performance.now();
        if (done - this.lastUploadAt < UPLOAD_RECENT_MS && !this.stopped) {
          const rest = Math.min(MAX_REST_MS, REST_FACTOR * (done - started));
          await sleep(rest, undefined, { signal: this.stopping.signal }).catch(() => undefined);
        }
      }
    }
    return tried;
  }

  /** Stops between frames; resolves once it no longer touches the store. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      await this.processPending();
      if (this.stopped) return;
      if (!this.woken) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
