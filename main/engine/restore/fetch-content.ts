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
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, lstat, open, rename, rm, stat, unlink } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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

async function sizeOf(path: Buffer): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
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
 * Downloads `sha256` into `partial`, continuing a partial already there. Returns the bytes
 * received over the network. Throws verification_failed (partial removed) on a wrong digest.
 */
export async function downloadToPartial(
  source: ContentSource,
  content: { sha256: string; size: number },
  partial: Buffer,
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<number> {
  let offset = (await sizeOf(partial)) ?? 0;
  if (offset > content.size) {
    await rm(partial, { force: true });
    offset = 0;
  }
  const url = `${source.endpoint}/api/v1/assets/${content.sha256}/content`;
  // The partial's bytes are hashed first, the rest as it arrives: the file is read once.
  let hash = createHash('sha256');
  if (offset > 0) {
    for await (const chunk of createReadStream(partial, {
      end: offset - 1,
      highWaterMark: 1 << 20,
    }))
      hash.update(chunk as Buffer);
  }
  let received = 0;
  if (offset < content.size) {
    const headers: Record<string, string> = { authorization: `Bearer ${source.token}` };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const stream = source.http.got.stream(url, { headers, signal });
    let response: { statusCode: number; headers: IncomingHttpHeaders };
    try {
      response = await new Promise((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
    } catch (err) {
      stream.destroy();
      throw errorForNetworkFault(err, 'download a file', 'GET', url, signal);
    }
    const status = response.statusCode;
    if (status === 200 && offset > 0) {
      // The vault sent the whole file after all: start the partial over.
      offset = 0;
      hash = createHash('sha256');
    } else if (status === 206) {
      const m = /^bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''));
      if (m === null || Number(m[1]) !== offset) {
        stream.destroy();
        throw new KeepsakeError(
          'vault_unreachable',
          'The vault answered a resumed download from the wrong offset; will retry.',
          true,
        );
      }
    } else if (status !== 200) {
      const text = await bodyText(stream).catch(() => '');
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
    const digest = hash;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        digest.update(chunk);
        onBytes(chunk.length);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(
        stream,
        count,
        createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w', highWaterMark: 1 << 20 }),
      );
    } catch (err) {
      throw errorForNetworkFault(err, 'download a file', 'GET', url, signal);
    }
  } else if (offset === 0) {
    await open(partial, 'w').then((fh) => fh.close()); // an empty content
  }
  const have = (await sizeOf(partial)) ?? 0;
  if (have !== content.size || hash.digest('hex') !== content.sha256) {
    await rm(partial, { force: true });
    throw mismatch('downloaded file');
  }
  return received;
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
