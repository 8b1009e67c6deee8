// POST /api/v1/batch: many small files in one request (BATCH-PROTOCOL.md §1, the schemas in
// common/vault-protocol.ts). Owns a batch's life: frames read as they arrive
// (batch-frames.ts), each file hashed with node:crypto as its bytes pass, checked on its
// own (declared sha256, max size, quota, header fields) and refused alone when it fails;
// the accepted files made durable together and committed in one index transaction; the
// answer sent only after that commit.
// Invariant: nothing of a batch is visible in the index until all its accepted files are
// durable under their final names, and a cut body or a crash leaves no row (at worst
// temp files under uploads/, removed by the start-up sweep, or blobs without rows, which
// are harmless: See [Note: Commit order] in blob-store.ts).
//
// [Note: Small files in batches]
// A 16 KB photo sent through tus costs a creation request, a PATCH, a verification, two
// fsyncs and an index commit of its own: per file, the fixed costs dwarf the bytes. Here a
// batch of up to 1000 files costs one request and one synced index commit:
// - Why not tus per file: tus exists to resume a large upload after a cut; a small file is
//   cheaper to send again than to resume, so its offsets, .json info and hash checkpoints
//   are pure overhead. The client sends a cut batch again whole (BATCH-PROTOCOL.md).
// - Durability means: when the vault answers "stored", a power loss at that instant keeps
//   the file. So each file is made durable (written with O_DSYNC, else fdatasynced) before
//   it is renamed to its final name (a final name never holds unsynced bytes), each
//   directory that gained an entry is fsynced once (not once per file), and only then the
//   index transaction commits with synchronous = FULL. The writes and fsyncs run on libuv's
//   threadpool, several at a time while later frames are still arriving, never on the
//   event loop.
// - One transaction per batch: a synced SQLite commit costs a WAL fsync whatever it holds,
//   so 500 files in one commit cost what one file costs. It also makes the batch atomic for
//   readers: before the commit none of its files is in the index, after it all are.
// - Per-file refusal: a frame whose bytes do not hash to its declared sha256 (or whose
//   header is invalid, or that is too large or over quota) is refused alone; its bytes are
//   read and dropped so the next frame is found, and the other files are unaffected. Only a
//   body that is not a batch (unreadable header, wrong length) fails the whole request.
// - Disk space is reserved 16 MiB at a time for the batch (the free-space check tus uses),
//   not per file: each check is a statfs on the same thread pool as the fsyncs, and the
//   frame reader waited for it behind them, once per file. Reserving a little more than the
//   batch will write, until it ends, promises nothing twice; near a full disk a step that
//   does not fit falls back to the file's own size.
// - A file the vault already holds is hashed but not written (duplicate), and costs no
//   quota; a blob known to be damaged or missing is replaced (See [Note: Replacing a bad
//   blob] in blob-store.ts).
import { createHash, randomBytes, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import {
  BATCH_CONTENT_TYPE,
  BATCH_COUNT_HEADER,
  type BatchFrameHeader,
  type BatchItemResult,
  type BatchResponse,
  batchFrameHeaderSchema,
  firstIssue,
  MAX_BATCH_BYTES,
  MAX_BATCH_FILES,
} from '../common/vault-protocol.js';
import type { BlobStore } from './blob-store.js';
import type { Principal } from './devices.js';
import { FramingError, readFrames } from './batch-frames.js';
import type { DiskSpace } from './disk-space.js';
import { VaultHttpError } from './http-error.js';
import type { NewAsset, VaultIndex } from './index/vault-index.js';
import type { VaultLogger } from './logger.js';
import { kindOf } from './metadata-schema.js';
import type { VaultMetrics } from './metrics.js';

/** A frame up to this size is kept in memory until verified, then written in one call. */
const BUFFERED_FRAME_BYTES = 1 << 20;
/** Files being written and synced at once; beyond it the reader waits (bounded memory). */
const SYNC_CONCURRENCY = 16;
/**
 * Disk space is reserved for a batch this much at a time (or one file's size, if larger),
 * not file by file. See [Note: Small files in batches].
 */
const RESERVE_STEP_BYTES = 16 << 20;
/** A batch whose client sends nothing for this long is dropped (its files are not kept). */
const IDLE_TIMEOUT_MS = 120_000;

export interface BatchApiDeps {
  index: VaultIndex;
  blobs: BlobStore;
  metrics: VaultMetrics;
  logger: VaultLogger;
  /** where temp files are written (same filesystem as the blobs) */
  uploadsDir: string;
  quotaBytes: number | null;
  maxSizeBytes: number | null;
  /** The free-space check tus uses too: a batch reserves what it will write before writing. */
  diskSpace: DiskSpace;
  now: () => number;
}

/** One accepted file on its way to durable storage. */
interface Accepted {
  frame: number;
  asset: NewAsset;
  /** the temp file, or null when the vault already holds the bytes (nothing to write) */
  temp: string | null;
}

function refused(
  sha256: unknown,
  code: string,
  message: string,
  retryable: boolean,
): BatchItemResult {
  return {
    sha256: typeof sha256 === 'string' ? sha256 : '',
    status: 'refused',
    code,
    message,
    retryable,
  };
}

async function removeQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

const openFd = promisify(fs.open);
const writevFd = promisify(fs.writev);
const fdatasyncFd = promisify(fs.fdatasync);
const closeFd = promisify(fs.close);

/**
 * Open flags of a batch file: a new file (never an existing name), written with O_DSYNC where
 * the platform has it, so each write returns once its bytes are as durable as after an
 * fdatasync (POSIX synchronized I/O data integrity: the data and the metadata needed to read
 * it back, e.g. its size). That saves the fdatasync call: one threadpool round trip of the
 * four per small file. Without O_DSYNC (Windows' fs.constants has none) the file is
 * fdatasynced as before.
 */
const DSYNC: number | undefined = fs.constants.O_DSYNC;
const WRITE_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (DSYNC ?? 0);

/**
 * Writes `parts` to a new file, durably (O_DSYNC, or an fdatasync), on the threadpool. Plain
 * descriptors, not FileHandles: a FileHandle per small file cost the event loop more than the
 * write itself (2,000 files of 36 KB, open + writev + close: 260-320 ms with descriptors
 * against 660-1,320 ms with FileHandles, 20-30 % more CPU).
 */
async function writeSynced(path: string, parts: readonly Buffer[]): Promise<void> {
  const fd = await openFd(path, WRITE_NEW, 0o600);
  try {
    let rest = parts.filter((p) => p.length > 0);
    // an empty file is never written to: O_DSYNC alone would leave its inode unsynced
    const synced = DSYNC !== undefined && rest.length > 0;
    while (rest.length > 0) {
      let written = (await writevFd(fd, rest)).bytesWritten;
      // a short write (rare on a regular file): continue after what was written
      const next: Buffer[] = [];
      for (const p of rest) {
        if (written >= p.length) written -= p.length;
        else {
          next.push(written > 0 ? p.subarray(written) : p);
          written = 0;
        }
      }
      rest = next;
    }
    if (!synced) await fdatasyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}

export function createBatchApi(deps: BatchApiDeps) {
  const { index, blobs, metrics, logger } = deps;

  function parseCount(req: IncomingMessage): number {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== BATCH_CONTENT_TYPE) {
      throw new VaultHttpError(
        415,
        'bad_request',
        `a batch is sent as Content-Type: ${BATCH_CONTENT_TYPE}`,
      );
    }
    const raw = req.headers[BATCH_COUNT_HEADER.toLowerCase()];
    const count = typeof raw === 'string' && /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
    if (!(count >= 1 && count <= MAX_BATCH_FILES)) {
      throw new VaultHttpError(
        400,
        'bad_request',
        `${BATCH_COUNT_HEADER} must be the number of frames, 1 to ${MAX_BATCH_FILES}`,
      );
    }
    return count;
  }

  /**
   * Reserves a new file's `size` bytes for this batch against the quota, in the index, so
   * uploads and batches on every vault node share one quota. Null when reserved, else why not.
   */
  async function reserveQuota(batchId: string, size: number): Promise<string | null> {
    if (deps.quotaBytes === null) return null;
    const over = await index.reserveForBatch(batchId, size, deps.quotaBytes, deps.now());
    if (over === null) return null;
    return `this file needs ${size} bytes and the vault has ${over.roomBytes} of its ${deps.quotaBytes}-byte quota left`;
  }

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
  ): Promise<void> {
    const count = parseCount(req);
    const batchId = randomBytes(8).toString('hex');
    const results: BatchItemResult[] = [];
    const accepted: Accepted[] = [];
    /** temp files created so far: removed unless they became blobs */
    const temps: string[] = [];
    /** writes + fdatasyncs in flight */
    const syncing = new Set<Promise<void>>();
    let syncFailure: unknown;
    let reserved = 0;
    /** disk space promised to this batch's writes, released when the batch ends */
    const diskReleases: (() => void)[] = [];
    /** bytes of those promises not yet used by a file */
    let roomLeft = 0;
    // Throws 507 insufficient_storage (with the free bytes) before anything of the frame
    // is written; the whole batch then keeps nothing, as on ENOSPC.
    const reserveRoom = async (bytes: number): Promise<void> => {
      if (bytes <= roomLeft) {
        roomLeft -= bytes;
        return;
      }
      const step = Math.max(bytes, RESERVE_STEP_BYTES);
      try {
        diskReleases.push(await deps.diskSpace.reserve(step, 'this batch'));
        roomLeft += step - bytes;
      } catch (err) {
        if (step === bytes) throw err;
        diskReleases.push(await deps.diskSpace.reserve(bytes, 'this batch'));
      }
    };
    let totalBytes = 0;
    /** content accepted earlier in this batch: a repeat is a duplicate of it */
    const inBatch = new Map<string, number>();

    const track = async (work: () => Promise<void>) => {
      while (syncing.size >= SYNC_CONCURRENCY) await Promise.race(syncing);
      const p = work()
        .catch((err: unknown) => {
          syncFailure ??= err;
        })
        .finally(() => syncing.delete(p));
      syncing.add(p);
    };

    // State of the frame being read.
    let header: Record<string, unknown> = {};
    /** the header once it passed the schema (null: refused at the header) */
    let valid: BatchFrameHeader | null = null;
    let size = 0;
    let hash: Hash | null = null;
    let verdict: BatchItemResult | null = null; // a refusal decided at the header
    let needBytes = false;
    let reservedThis = 0;
    let parts: Buffer[] = [];
    /** a frame too large to buffer, written as it arrives */
    let stream: { fh: FileHandle; path: string } | null = null;

    // A client that stops sending (a dead link) must not hold temp files and quota forever.
    const idle = setTimeout(() => req.destroy(new Error('the batch stalled')), IDLE_TIMEOUT_MS);
    const body = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        idle.refresh();
        yield chunk;
      }
    };
    try {
      for await (const ev of readFrames(body(), count)) {
        if (ev.kind === 'header') {
          header = ev.header;
          size = ev.size;
          totalBytes += size;
          if (totalBytes > MAX_BATCH_BYTES) {
            throw new VaultHttpError(
              413,
              'batch_too_large',
              `a batch may hold at most ${MAX_BATCH_BYTES} bytes of files; send fewer files per batch`,
            );
          }
          hash = createHash('sha256');
          verdict = null;
          needBytes = false;
          reservedThis = 0;
          parts = [];
          stream = null;
          const parsed = batchFrameHeaderSchema.safeParse(header);
          valid = parsed.success ? parsed.data : null;
          if (!parsed.success) {
            const issue = firstIssue(parsed.error);
            verdict = refused(header.sha256, 'invalid_metadata', issue.message, false);
            metrics.uploadsRejected.invalid += 1;
          } else if (deps.maxSizeBytes !== null && size > deps.maxSizeBytes) {
            verdict = refused(
              header.sha256,
              'too_large',
              `this file is ${size} bytes and the vault takes files of at most ${deps.maxSizeBytes} bytes`,
              false,
            );
            metrics.uploadsRejected.too_large += 1;
          } else {
            const sha256 = parsed.data.sha256;
            const indexed = (await index.getAsset(sha256)) !== undefined;
            needBytes = !inBatch.has(sha256) && (await blobs.wantsBytes(sha256, indexed));
            if (needBytes && !indexed) {
              const over = await reserveQuota(batchId, size);
              if (over !== null) {
                verdict = refused(sha256, 'quota_exceeded', over, false);
                metrics.uploadsRejected.quota_exceeded += 1;
                needBytes = false;
              } else {
                reservedThis = size;
                reserved += size;
                await reserveRoom(size);
              }
            }
            if (needBytes && size > BUFFERED_FRAME_BYTES) {
              const path = join(deps.uploadsDir, `batch-${batchId}-${ev.index}`);
              temps.push(path);
              stream = { fh: await open(path, 'wx', 0o600), path };
            }
          }
          metrics.uploadsStarted += 1;
          continue;
        }
        if (ev.kind === 'bytes') {
          metrics.bytesReceived += ev.chunk.length;
          if (verdict !== null) continue; // refused already: read and drop
          hash?.update(ev.chunk);
          if (!needBytes) continue;
          if (stream) await stream.fh.write(ev.chunk);
          else parts.push(ev.chunk);
          continue;
        }
        // The frame's last byte has arrived.
        if (verdict !== null) {
          results.push(verdict);
          if (stream) await stream.fh.close();
          stream = null;
          continue;
        }
        const h = valid ?? batchFrameHeaderSchema.parse(header);
        const actual = hash?.digest('hex');
        if (actual !== h.sha256) {
          metrics.verificationFailures += 1;
          metrics.uploadsRejected.checksum_mismatch += 1;
          results.push(
            refused(
              h.sha256,
              'checksum_mismatch',
              `the bytes received hash to ${actual}, not to the declared sha256; send the file again`,
              true,
            ),
          );
          if (stream) {
            await stream.fh.close();
            await removeQuietly(stream.path);
            stream = null;
          }
          reserved -= reservedThis;
          if (reservedThis > 0) await index.releaseFromBatch(batchId, reservedThis);
          continue;
        }
        const asset: NewAsset = {
          sha256: h.sha256,
          size,
          mime: h.mime ?? null,
          kind: kindOf(h.mime ?? null, h.filename),
          filename: h.filename,
          relpath: h.relpath ?? null,
          mtimeMs: h.mtimeMs ?? null,
          at: deps.now(),
        };
        let temp: string | null = null;
        if (needBytes) {
          if (stream) {
            const { fh, path } = stream;
            stream = null;
            temp = path;
            await track(async () => {
              try {
                await fh.datasync();
              } finally {
                await fh.close();
              }
            });
          } else {
            const path = join(deps.uploadsDir, `batch-${batchId}-${ev.index}`);
            const data = parts;
            temp = path;
            temps.push(path);
            await track(() => writeSynced(path, data));
          }
          inBatch.set(h.sha256, ev.index);
        }
        accepted.push({ frame: results.length, asset, temp });
        results.push({ sha256: h.sha256, status: 'stored' });
      }

      // Every frame is here: make the accepted files durable together, then commit once.
      await Promise.all(syncing);
      if (syncFailure !== undefined) {
        throw syncFailure instanceof Error
          ? syncFailure
          : new Error('a batch file could not be stored', { cause: syncFailure });
      }
      await blobs.placeSynced(
        accepted.flatMap((a) =>
          a.temp === null ? [] : [{ path: a.temp, sha256: a.asset.sha256 }],
        ),
      );
      temps.length = 0; // all became blobs
      const uploadedBy = principal.kind === 'device' ? principal.id : null;
      const isNew = await index.commitBatch(accepted.map((a) => ({ ...a.asset, uploadedBy })));
      accepted.forEach((a, i) => {
        metrics.uploadsFinished += 1;
        // Known content whose bytes were written replaced a damaged or missing blob: a
        // repair is reported as stored (the client counts the file backed up, not found).
        if (!isNew[i] && a.temp === null) {
          metrics.uploadsDeduplicated += 1;
          results[a.frame] = { sha256: a.asset.sha256, status: 'duplicate' };
        }
      });
      logger.debug('batch stored', {
        files: count,
        stored: accepted.length,
        refused: count - accepted.length,
        bytes: totalBytes,
      });
      const reply: BatchResponse = { results };
      const text = JSON.stringify(reply);
      res.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(text),
        'Cache-Control': 'no-store',
      });
      res.end(text);
    } catch (err) {
      if (err instanceof FramingError) {
        throw new VaultHttpError(400, 'bad_request', `not a readable batch: ${err.message}`);
      }
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw await deps.diskSpace.refusalAfterFailure('this batch (nothing of it was kept)');
      }
      throw err;
    } finally {
      clearTimeout(idle);
      for (const release of diskReleases) release();
      if (reserved > 0) await index.endBatchReservation(batchId).catch(() => {});
      await stream?.fh.close().catch(() => {});
      // Wait for writes in flight before removing their files, so none is recreated after.
      await Promise.allSettled(syncing);
      await Promise.all(temps.map(removeQuietly));
    }
  }

  return { handle };
}
