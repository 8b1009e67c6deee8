// Many small files in one request: POST /api/v1/batch (BATCH-PROTOCOL.md §1). Owns the
// framing of the request body, streamed from disk one file after another through the shared
// throttle (never a whole batch in memory), the in-place retry of a batch the network cut,
// and the mapping of the vault's per-file answers to BatchItemOutcomes.
//
// Invariant: a file is reported 'stored' or 'duplicate' only when the vault said so AND the
// bytes this client read and sent hash to job.sha256 AND the file still had the job's size
// and mtime when its frame began. Anything else is 'refused' with a KeepsakeError code.
//
// [Note: A file that changed since it was hashed]
// Each file's bytes are hashed as they are read into the request. When they do not hash to
// job.sha256 (the file was rewritten after the hash worker saw it), the frame has already
// gone out with its header declaring job.sha256. We let it go and let the vault refuse it
// rather than end the batch early: the vault hashes every frame and refuses one whose bytes
// do not match its declared sha256 (checksum_mismatch), so the wrong bytes are never stored
// under the old hash, and the other files of the batch stay good. Ending early would
// discard the whole batch (the vault makes a batch visible only when it completes) and cost
// every other file a resend. A change seen before the frame starts (size or mtime moved,
// the file is gone or unreadable) sends an empty frame under the declared hash instead: the
// vault refuses it at no cost in bytes (or, for a job of the empty file, stores the empty
// content it truly names). In every case the outcome is the local error ('file_changed',
// 'file_not_found', ...), whatever the vault answered: the queue re-hashes the file. A file
// that gets shorter while being read is padded with zeros to its declared size, which keeps
// the framing intact and guarantees the vault's refusal.
//
// [Note: Batch answers]
// | whole-request answer                   | what uploadBatch does                             |
// |----------------------------------------|---------------------------------------------------|
// | 200 with one result per frame          | outcomes (see the invariant above)                |
// | 200 that does not line up with frames  | retried like a network fault (vault bug guard)    |
// | 404 / 405 / 412 / 501 (a vault without | sends this and every later batch one file at a    |
// |   batches, a plain tus server)         |   time through upload()                           |
// | 413 (batch_too_large)                  | splits the batch in halves; one file: too_large   |
// | network fault, stall, 5xx, 423/429/503 | whole batch again after backoff (the vault keeps  |
// |                                        |   nothing of a cut batch); 'network' after        |
// |                                        |   maxNetworkRetries                               |
// | 401/403, 507, other 4xx                | thrown as for upload() (response-table.ts)        |
// | per-file refused                       | checksum_mismatch -> verification_failed (bytes   |
// |                                        |   corrupted in transit; retryable); too_large;    |
// |                                        |   quota_exceeded -> vault_full; others ->         |
// |                                        |   upload_rejected with the vault's words          |
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { stat } from 'node:fs/promises';
import { fsPath } from '../raw-path.js';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import type { Response } from 'got';
import {
  BATCH_CONTENT_TYPE,
  BATCH_COUNT_HEADER,
  type BatchFrameHeader,
  type BatchItemResult,
  RECOMMENDED_BATCH_BYTES,
  RECOMMENDED_BATCH_FILES,
  batchResponseSchema,
  withoutControlCharacters,
} from '../../../common/vault-protocol.js';
import { KeepsakeError, type ErrorCode, fromFsError } from '../errors.js';
import type { Clock, Logger } from '../ports.js';
import type { HttpClient } from './http-client.js';
import {
  abortReason,
  actionForStatus,
  errorForStatus,
  isNetworkError,
  untrustedCertificate,
  vaultFullMessage,
} from './response-table.js';
import type { BandwidthThrottle } from './throttle.js';
import type { BatchItemOutcome, BatchUploadJob } from './types.js';

/** The client keeps batches well under the vault's limits (common/vault-protocol.ts). */
const MAX_BATCH_BYTES = RECOMMENDED_BATCH_BYTES;
const MAX_BATCH_FILES = RECOMMENDED_BATCH_FILES;
const READ_BUFFER = 256 * 1024;
/**
 * Without a bandwidth cap, frames are handed to the request body in pieces of at least this
 * many bytes: a header line and a 4-64 KB photo each as their own chunk cost the stream, got
 * and the chunked encoding their per-write work twice per file. Under a cap every piece goes
 * out as soon as the throttle granted it (nothing granted is held back).
 */
const BODY_CHUNK = 128 * 1024;

export interface BatchContext {
  http: HttpClient;
  /** `${endpoint}/api/v1/batch` */
  batchUrl: string;
  token: string;
  throttle: BandwidthThrottle;
  clock: Clock;
  logger: Logger;
  maxRetries: number;
  backoff(attempt: number): number;
  /** File bytes just handed to the request body (increments). */
  onSent?: (bytes: number) => void;
}

/** What reading one file into its frame found out. */
interface FrameRead {
  /** The local reason this file must not count as stored, or null when its bytes matched. */
  problem: KeepsakeError | null;
}

/** The vault does not take batches (404/405): the caller falls back to one file at a time. */
export class BatchesNotSupported extends Error {
  override name = 'BatchesNotSupported';
}

/**
 * Sends `jobs` in as few requests as the limits allow and answers one outcome per job, in job
 * order. Throws BatchesNotSupported when the vault has no batch endpoint.
 */
export async function uploadBatches(
  ctx: BatchContext,
  jobs: readonly BatchUploadJob[],
  signal: AbortSignal,
): Promise<BatchItemOutcome[]> {
  const outcomes: BatchItemOutcome[] = [];
  for (const group of splitForLimits(jobs)) {
    outcomes.push(...(await sendWithRetries(ctx, group, signal)));
  }
  return outcomes;
}

/** Consecutive groups of at most MAX_BATCH_FILES files and MAX_BATCH_BYTES bytes (>= 1 file). */
export function splitForLimits(jobs: readonly BatchUploadJob[]): BatchUploadJob[][] {
  const groups: BatchUploadJob[][] = [];
  let current: BatchUploadJob[] = [];
  let bytes = 0;
  for (const job of jobs) {
    if (
      current.length > 0 &&
      (current.length >= MAX_BATCH_FILES || bytes + job.size > MAX_BATCH_BYTES)
    ) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(job);
    bytes += job.size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

async function sendWithRetries(
  ctx: BatchContext,
  jobs: readonly BatchUploadJob[],
  signal: AbortSignal,
): Promise<BatchItemOutcome[]> {
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) throw abortReason(signal);
    let delay: number | null = null;
    let reason: string;
    try {
      const sent = await sendOnce(ctx, jobs, signal);
      if (sent.kind === 'done') return sent.outcomes;
      if (sent.kind === 'too_large') {
        if (jobs.length === 1) {
          const only = jobs[0] as BatchUploadJob;
          return [refused(only, 'too_large', 'This file is larger than the vault accepts.', false)];
        }
        const half = Math.ceil(jobs.length / 2);
        ctx.logger.info('batch too large for the vault, splitting', { files: jobs.length });
        return [
          ...(await sendWithRetries(ctx, jobs.slice(0, half), signal)),
          ...(await sendWithRetries(ctx, jobs.slice(half), signal)),
        ];
      }
      delay = sent.delayMs;
      reason = sent.reason;
    } catch (err) {
      if (signal.aborted) throw abortReason(signal);
      if (err instanceof KeepsakeError || err instanceof BatchesNotSupported) throw err;
      if (!isNetworkError(err)) throw err; // a bug
      const tls = untrustedCertificate(err);
      if (tls) throw tls;
      const e = err as Error & { code?: string };
      reason = `${e.code ?? 'network'}: ${e.message}`;
    }
    if (attempt > ctx.maxRetries) {
      throw new KeepsakeError(
        'network',
        `Could not reach the vault after ${ctx.maxRetries} attempts (${reason}); will try again later.`,
        true,
      );
    }
    const wait = delay ?? ctx.backoff(attempt);
    ctx.logger.info('batch interrupted, will send it again', {
      files: jobs.length,
      reason,
      attempt,
      delayMs: wait,
    });
    await ctx.clock.sleep(wait, signal).catch(() => {
      throw abortReason(signal);
    });
  }
}

type SendResult =
  | { kind: 'done'; outcomes: BatchItemOutcome[] }
  | { kind: 'retry'; delayMs: number | null; reason: string }
  | { kind: 'too_large' };

async function sendOnce(
  ctx: BatchContext,
  jobs: readonly BatchUploadJob[],
  signal: AbortSignal,
): Promise<SendResult> {
  const reads: FrameRead[] = [];
  const uncapped = () => ctx.throttle.currentRate() === null;
  const body = Readable.from(coalesce(frames(ctx, jobs, reads, signal), BODY_CHUNK, uncapped), {
    objectMode: false,
  });
  let res: Response<string>;
  try {
    res = await ctx.http.got(ctx.batchUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ctx.token}`,
        'content-type': BATCH_CONTENT_TYPE,
        [BATCH_COUNT_HEADER.toLowerCase()]: String(jobs.length),
      },
      body,
      signal,
    });
  } finally {
    body.destroy();
  }
  const status = res.statusCode;
  // A vault from before batches answers 404; a plain tus server 404, 405 or 412 (a POST
  // without Tus-Resumable); some servers 501.
  if (status === 404 || status === 405 || status === 412 || status === 501) {
    throw new BatchesNotSupported(`batch answered ${status}`);
  }
  if (status === 413) return { kind: 'too_large' };
  if (status !== 200) {
    const retryAfter = res.headers['retry-after'];
    const exchange = {
      method: 'POST',
      url: ctx.batchUrl,
      status,
      body: res.body,
      retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
      nowMs: ctx.clock.now(),
    };
    const action = actionForStatus(exchange);
    if (action.kind === 'retry')
      return { kind: 'retry', delayMs: action.delayMs, reason: action.reason };
    throw errorForStatus(exchange, 'store a batch of files');
  }
  if (reads.length !== jobs.length) {
    // The vault answered before it had every frame: not a reply to this batch.
    return { kind: 'retry', delayMs: null, reason: 'the vault answered before the batch ended' };
  }
  const results = parseResults(res.body, jobs);
  if (typeof results === 'string') return { kind: 'retry', delayMs: null, reason: results };
  return {
    kind: 'done',
    outcomes: jobs.map((job, i) => outcomeFor(job, reads[i]?.problem ?? null, results[i])),
  };
}

// Plain descriptors, not FileHandles: one FileHandle per small file cost the event loop
// more than reading it (2,000 files of 36 KB: 260-320 ms against 660-1,320 ms for open +
// I/O + close). Every descriptor is closed in frames()'s finally, which also runs when the
// request ends early (the body stream is destroyed and the generator returns).
const openFd = promisify(fs.open);
const fstatFd = promisify(fs.fstat);
const readFd = promisify(fs.read);
const closeFd = promisify(fs.close);

/**
 * `pieces` in order, joined into chunks of at least `min` bytes (the last may be smaller)
 * while `join()` says so; otherwise each piece as it comes.
 */
async function* coalesce(
  pieces: AsyncIterable<Buffer>,
  min: number,
  join: () => boolean,
): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const piece of pieces) {
    if (heldBytes === 0 && piece.length >= min) {
      yield piece;
      continue;
    }
    held.push(piece);
    heldBytes += piece.length;
    if (heldBytes >= min || !join()) {
      const chunk = Buffer.concat(held, heldBytes);
      held = [];
      heldBytes = 0;
      yield chunk;
    }
  }
  if (heldBytes > 0) yield Buffer.concat(held, heldBytes);
}

/** The request body: for each job a header line, then exactly `size` bytes. */
async function* frames(
  ctx: BatchContext,
  jobs: readonly BatchUploadJob[],
  reads: FrameRead[],
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  for (const job of jobs) {
    const read: FrameRead = { problem: null };
    let fd: number | null = null;
    try {
      try {
        fd = await openFd(fsPath(job.path), 'r');
        read.problem = await changedSince(job, fd);
      } catch (err) {
        read.problem = fromFsError(err, job.path);
      }
      const size = read.problem === null ? job.size : 0;
      yield frameHeader(job, size);
      if (fd !== null && read.problem === null) {
        yield* fileBytes(ctx, job, fd, read, signal);
      }
    } finally {
      reads.push(read);
      if (fd !== null) void closeFd(fd).catch(() => {});
    }
  }
}

/** Exactly job.size bytes of the file through the throttle, hashed on the way. */
async function* fileBytes(
  ctx: BatchContext,
  job: BatchUploadJob,
  fd: number,
  read: FrameRead,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let position = 0;
  let short = false;
  while (position < job.size) {
    const want = await ctx.throttle.take(Math.min(READ_BUFFER, job.size - position), signal);
    const buffer = Buffer.allocUnsafe(want);
    let filled = 0;
    while (!short && filled < want) {
      let n: number;
      try {
        ({ bytesRead: n } = await readFd(fd, buffer, filled, want - filled, position + filled));
      } catch (err) {
        read.problem ??= fromFsError(err, job.path);
        n = 0;
      }
      if (n === 0) short = true;
      filled += n;
    }
    if (filled < want) buffer.fill(0, filled); // see [Note: A file that changed ...]
    hash.update(buffer);
    position += want;
    yield buffer;
    ctx.onSent?.(want);
  }
  if (short || hash.digest('hex') !== job.sha256) {
    read.problem ??= fileChanged(job);
  }
}

async function changedSince(job: BatchUploadJob, fd: number): Promise<KeepsakeError | null> {
  const [viaHandle, viaPath] = await Promise.all([fstatFd(fd), stat(fsPath(job.path))]);
  const same = (s: { size: number; mtimeMs: number }) =>
    s.size === job.size && Math.abs(s.mtimeMs - job.mtimeMs) < 1;
  if (!viaHandle.isFile()) {
    return new KeepsakeError('not_a_regular_file', `This is not a regular file: ${job.path}`);
  }
  return same(viaHandle) && same(viaPath) && viaHandle.ino === viaPath.ino
    ? null
    : fileChanged(job);
}

function fileChanged(job: BatchUploadJob): KeepsakeError {
  return new KeepsakeError(
    'file_changed',
    `The file changed after it was hashed; it will be hashed again: ${job.path}`,
    true,
  );
}

function frameHeader(job: BatchUploadJob, size: number): Buffer {
  const header: BatchFrameHeader = {
    sha256: job.sha256,
    size,
    // As in tus-uploader's encodeMetadata: labels without control characters.
    filename: withoutControlCharacters(job.filename),
    relpath: withoutControlCharacters(job.relPath),
    mtimeMs: Math.max(0, Math.trunc(job.mtimeMs)),
    ...(job.mime !== null ? { mime: job.mime } : {}),
  };
  return Buffer.from(`${JSON.stringify(header)}\n`, 'utf8');
}

/** The vault's results, one per job in order, or why they cannot be trusted. */
function parseResults(body: string, jobs: readonly BatchUploadJob[]): BatchItemResult[] | string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return 'the batch answer was not JSON';
  }
  const parsed = batchResponseSchema.safeParse(json);
  if (!parsed.success) return 'the batch answer does not follow common/vault-protocol.ts';
  const results = parsed.data.results;
  if (results.length !== jobs.length) {
    return `the batch answer has ${results.length} results for ${jobs.length} files`;
  }
  for (const [i, r] of results.entries()) {
    if (r.sha256 !== jobs[i]?.sha256) return `result ${i} is not for the file sent there`;
  }
  return results;
}

function outcomeFor(
  job: BatchUploadJob,
  problem: KeepsakeError | null,
  result: BatchItemResult | undefined,
): BatchItemOutcome {
  if (problem !== null) {
    return { fileId: job.fileId, sha256: job.sha256, outcome: 'refused', error: problem };
  }
  if (result === undefined) {
    return refused(job, 'upload_rejected', 'The vault gave no answer for this file.', true);
  }
  if (result.status !== 'refused') {
    return { fileId: job.fileId, sha256: job.sha256, outcome: result.status };
  }
  const words = result.message ?? result.code ?? 'no reason given';
  switch (result.code ?? '') {
    case 'checksum_mismatch':
      return refused(
        job,
        'verification_failed',
        `The vault refused the file: its SHA-256 of the bytes it received does not match (corrupted in transit?): ${job.path}`,
        result.retryable ?? true,
      );
    case 'too_large':
      return refused(job, 'too_large', 'This file is larger than the vault accepts.', false);
    case 'quota_exceeded':
      return refused(job, 'vault_full', 'The vault is full: free space or raise its quota.', true);
    case 'insufficient_storage':
      return refused(
        job,
        'vault_full',
        vaultFullMessage(JSON.stringify({ ...result, error: result.code })),
        true,
      );
    default:
      return refused(
        job,
        'upload_rejected',
        `The vault refused the file (${words}): ${job.path}`,
        result.retryable ?? false,
      );
  }
}

function refused(
  job: BatchUploadJob,
  code: ErrorCode,
  message: string,
  retryable: boolean,
): BatchItemOutcome {
  return {
    fileId: job.fileId,
    sha256: job.sha256,
    outcome: 'refused',
    error: new KeepsakeError(code, message, retryable),
  };
}
