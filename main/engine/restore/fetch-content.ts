// One content onto disk, proven: downloaded from the vault into a partial file (resumed with a
// Range request from the partial's size when one is there), or copied from a file this
// restore already proved, then hashed whole and kept only if the SHA-256 is the content's.
// See [Note: Resumable verified restore].
//
// Invariant: a target path only ever receives a file whose bytes hashed to its sha256, with
// its mtime set and fsynced, and it never replaces anything: the partial is hard-linked to
// the target (EEXIST if something appeared there meanwhile), falling back to a rename only
// where the file system has no hard links and the target is still absent.
//
// [Note: Resumable verified restore]
// - Partials live beside their target as `.keepsake-partial-<sha256 prefix>-<target hash>`:
//   the same target and content find the same partial on the next run, whatever the name's
//   length or bytes.
// - Everything received is written as it arrives, so a kill -9 loses only what was in
//   flight (the socket and stream buffers: one chunk); the next run asks for
//   `Range: bytes=<partial size>-` and hashes the partial's bytes first.
// - The vault proves a whole-file download as it streams, but cannot prove a range without
//   reading the rest (server/verified-content.ts), so the client's own SHA-256 over the
//   finished partial is what decides. A mismatch throws the partial away (the next attempt
//   starts from zero).
// - A network fault never drops received bytes: what waits for the disk is written before
//   the error is thrown, so the next attempt resumes after all of it.
//
// [Note: Restore throughput]
// Profiles of `keepsake restore` beside curl (one large file, many small ones) showed where
// a restore paid more than the bytes: got's per-request cost (option merging, an abort
// listener per request), stream pipelines, a stat, an open and a close more per file, and
// for a large file a final fsync that had to write out everything at once. So:
// - content GETs go through a bare node:http request on the HttpClient's agents;
// - the partial is opened once (O_CREAT, fstat gives the resume offset) and that one
//   descriptor writes, sets the mtime and fsyncs; received chunks are gathered into 256 KiB
//   writev calls, one in flight, and the socket is paused while another 256 KiB waits, so a
//   kill -9 loses at most about 512 KiB besides the socket buffers;
// - SHA-256 is computed on the main thread as chunks arrive (node:crypto runs at ~1.5 GB/s
//   here, below what loopback delivers, and a worker would cost a copy per chunk); the file
//   is never read back;
// - every 32 MiB written a datasync starts in the background (flush-behind), so the disk
//   works while the network does, and the last fsync has little left to write.
// One fsync per file stays: the file is linked to its real name right after, and a crash
// must never leave a name pointing at bytes that are not on disk (ext4 and others may show
// such a file empty or with zeros after a power cut), which a re-run would then keep, as an
// existing different file, beside the real one. Files fsync side by side (several downloads
// at once), which the file system folds into shared journal commits.
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { copyFile, type FileHandle, link, lstat, open, rename, rm, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { KeepsakeError } from '../errors.js';
import type { HttpClient } from '../vault/http-client.js';
import { errorForNetworkFault, errorForStatus } from '../vault/response-table.js';

export interface ContentSource {
  http: HttpClient;
  /** vault base URL, no trailing slash */
  endpoint: string;
  token: string;
}

/** The partial file of `target` for content `sha256`, in the target's folder. */
export function partialPathOf(target: Buffer, sha256: string): Buffer {
  const slash = target.lastIndexOf(0x2f);
  const dir = target.subarray(0, slash + 1);
  const tag = createHash('sha256').update(target).digest('hex').slice(0, 16);
  return Buffer.concat([dir, Buffer.from(`.keepsake-partial-${sha256.slice(0, 16)}-${tag}`)]);
}

/** SHA-256 of a file's bytes (the first `length` when given). */
export async function hashFile(path: Buffer, length?: number): Promise<string> {
  const hash = createHash('sha256');
  if (length === 0) return hash.digest('hex');
  const stream = createReadStream(
    path,
    length === undefined ? { highWaterMark: 1 << 20 } : { end: length - 1, highWaterMark: 1 << 20 },
  );
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function mismatch(what: string): KeepsakeError {
  return new KeepsakeError(
    'verification_failed',
    `The ${what} did not hash to the content's SHA-256; it was discarded and will be fetched again.`,
    true,
  );
}

/** Reads a little of an error response for the response table's message. */
async function bodyText(stream: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    if (total < 64 * 1024) chunks.push(buf);
    total += buf.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Writes what a download receives into the partial file, in order, at most one write in
 * flight, gathering chunks into writes of about `gather` bytes. Every chunk handed to it is
 * on disk once `drain()` resolves, also after the network failed (see [Note: Resumable
 * verified restore]). Starts a datasync every `flushBehind` bytes so the final fsync of a
 * large file has little left to do (see [Note: Restore throughput]).
 */
class PartialWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> | null = null;
  private syncing: Promise<void> | null = null;
  private sinceSync = 0;
  private failure: Error | null = null;

  constructor(
    private readonly fh: FileHandle,
    /** where the next byte goes */
    public position: number,
    private readonly gather = 256 << 10,
    private readonly flushBehind = 32 << 20,
  ) {}

  /** Queues a chunk; resolves at once unless too much waits for the disk (backpressure). */
  push(chunk: Buffer): Promise<void> | undefined {
    if (this.failure !== null) throw this.failure;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.writing === null && this.pendingBytes >= this.gather) this.writing = this.writeOut();
    return this.pendingBytes >= this.gather && this.writing !== null ? this.writing : undefined;
  }

  private async writeOut(): Promise<void> {
    try {
      while (this.pending.length > 0 && this.failure === null) {
        const buffers = this.pending;
        const bytes = this.pendingBytes;
        this.pending = [];
        this.pendingBytes = 0;
        let done = 0;
        while (done < bytes) {
          const { bytesWritten } =
            done === 0
              ? await this.fh.writev(buffers, this.position)
              : await this.fh.write(
                  Buffer.concat(buffers).subarray(done),
                  0,
                  bytes - done,
                  this.position,
                );
          done += bytesWritten;
          this.position += bytesWritten;
        }
        this.sinceSync += bytes;
        if (this.sinceSync >= this.flushBehind && this.syncing === null) {
          this.sinceSync = 0;
          this.syncing = this.fh.datasync().then(
            () => {
              this.syncing = null;
            },
            (err: unknown) => {
              this.failure ??= err as Error;
              this.syncing = null;
            },
          );
        }
      }
    } catch (err) {
      this.failure ??= err as Error;
    } finally {
      this.writing = null;
    }
  }

  /** Everything pushed is written (and any flush-behind sync done); throws a write error. */
  async drain(): Promise<void> {
    while (this.writing !== null || (this.pending.length > 0 && this.failure === null)) {
      this.writing ??= this.writeOut();
      await this.writing;
    }
    while (this.syncing !== null) await this.syncing;
    if (this.failure !== null) throw this.failure;
  }
}

/** The vault's answer to a content GET, or a network fault as the response table says. */
async function requestContent(
  source: ContentSource,
  url: string,
  offset: number,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const headers: Record<string, string> = { authorization: `Bearer ${source.token}` };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  const req = source.http.request(new URL(url), { method: 'GET', headers, signal });
  try {
    return await new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
      req.end();
    });
  } catch (err) {
    req.destroy();
    throw errorForNetworkFault(err, 'download a file', 'GET', url, signal);
  }
}

/**
 * Downloads `sha256` into `partial`, continuing a partial already there, and makes it a
 * proven, durable file: hashed as it arrives (the partial's earlier bytes are read once),
 * its mtime set and fsynced through the same descriptor. Returns the bytes received over the
 * network. Throws verification_failed (partial removed) on a wrong digest; on a network fault
 * every byte received is in the partial before the error is thrown.
 */
export async function fetchToPartial(
  source: ContentSource,
  content: { sha256: string; size: number; mtimeMs: number | null },
  partial: Buffer,
  signal: AbortSignal,
  onBytes: (n: number) => void,
  /** No partial was there a moment ago: start one without asking its size. */
  fresh = false,
): Promise<number> {
  const url = `${source.endpoint}/api/v1/assets/${content.sha256}/content`;
  const flags = constants.O_RDWR | constants.O_CREAT | (fresh ? constants.O_TRUNC : 0);
  const fh = await open(partial, flags, 0o600);
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await fh.close();
    }
  };
  try {
    let offset = fresh ? 0 : (await fh.stat()).size;
    if (offset > content.size) {
      await fh.truncate(0);
      offset = 0;
    }
    let hash = createHash('sha256');
    if (offset > 0) {
      // The partial's bytes are hashed first, the rest as it arrives: the file is read once.
      const buf = Buffer.allocUnsafe(Math.min(offset, 1 << 20));
      for (let at = 0; at < offset;) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, offset - at), at);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        at += bytesRead;
      }
    }
    let received = 0;
    let size = offset;
    if (offset < content.size) {
      const response = await requestContent(source, url, offset, signal);
      const status = response.statusCode ?? 0;
      if (status === 200 && offset > 0) {
        // The vault sent the whole file after all: start the partial over.
        await fh.truncate(0);
        offset = 0;
        hash = createHash('sha256');
      } else if (status === 206) {
        const m = /^bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''));
        if (m === null || Number(m[1]) !== offset) {
          response.destroy();
          throw new KeepsakeError(
            'vault_unreachable',
            'The vault answered a resumed download from the wrong offset; will retry.',
            true,
          );
        }
      } else if (status !== 200) {
        const text = await bodyText(response).catch(() => '');
        const retryAfter = response.headers['retry-after'];
        throw errorForStatus(
          {
            method: 'GET',
            url,
            status,
            body: text,
            retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
            nowMs: Date.now(),
          },
          'download a file',
        );
      }
      const writer = new PartialWriter(fh, offset);
      try {
        for await (const chunk of response) {
          const buf = chunk as Buffer;
          hash.update(buf);
          received += buf.length;
          onBytes(buf.length);
          const wait = writer.push(buf);
          if (wait !== undefined) await wait;
        }
      } catch (err) {
        await writer.drain(); // keep what arrived: the next attempt resumes after it
        throw errorForNetworkFault(err, 'download a file', 'GET', url, signal);
      }
      await writer.drain();
      size = writer.position;
    }
    if (size !== content.size || hash.digest('hex') !== content.sha256) {
      await close();
      await rm(partial, { force: true });
      throw mismatch('downloaded file');
    }
    if (content.mtimeMs !== null) {
      const seconds = content.mtimeMs / 1000;
      await fh.utimes(seconds, seconds);
    }
    await fh.sync();
    return received;
  } finally {
    await close();
  }
}

/** Copies a file this restore already proved to hold `sha256` into `partial`, and proves it. */
export async function copyToPartial(
  from: Buffer,
  content: { sha256: string; size: number },
  partial: Buffer,
): Promise<void> {
  await copyFile(from, partial);
  if ((await hashFile(partial)) !== content.sha256) {
    await rm(partial, { force: true });
    throw mismatch('copied file');
  }
}

/**
 * Gives the proven partial its mtime, makes it durable, and puts it at `target` without ever
 * replacing a file there (see the invariant above). Throws EEXIST when the target appeared.
 */
export async function finishPartial(
  partial: Buffer,
  target: Buffer,
  mtimeMs: number | null,
): Promise<void> {
  const fh = await open(partial, 'r+');
  try {
    if (mtimeMs !== null) {
      const seconds = mtimeMs / 1000;
      await fh.utimes(seconds, seconds);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await placePartial(partial, target);
}

/**
 * Puts a proven, durable partial at `target` without ever replacing a file there. Throws
 * EEXIST when the target appeared.
 */
export async function placePartial(partial: Buffer, target: Buffer): Promise<void> {
  try {
    await link(partial, target);
    await unlink(partial);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV')
      throw err;
    // No hard links here (FAT, some network shares): rename, but only onto nothing.
    const there = await lstat(target).then(
      () => true,
      () => false,
    );
    if (there) throw Object.assign(new Error('target exists'), { code: 'EEXIST' });
    await rename(partial, target);
  }
}
