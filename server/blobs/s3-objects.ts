// The vault's few S3 calls, in one place: put a complete local file under a key, ask whether a
// key exists, read a key (whole or a byte range), list keys under a prefix, delete a key. The
// rest of the vault never sees the SDK. Every call here is exercised by the contract test
// (tests/integration/s3-objects-contract), which an operator can point at a real bucket.
//
// Invariants:
// - A key holds a complete object or nothing: S3 makes an object visible only when its PUT
//   (or multipart completion) succeeded, so a crash mid-put leaves no object under the key.
// - Bytes are checked on the way in: a put carries the SHA-256 the vault already verified,
//   and a server that supports checksums (AWS, MinIO, Ceph RGW) refuses an object whose bytes
//   differ. Servers that ignore the header (some test servers) are covered by the vault's
//   own read-back verification (scrub), not by trust.
// - No call lists or aborts multipart uploads (ListParts, AbortMultipartUpload). See
//   [Note: Partials on a shared directory].
//
// [Note: Partials on a shared directory]
// Where does an upload in progress live when any of several vault nodes may receive its next
// PATCH? Two designs: S3 multipart uploads (one part per PATCH, as @tus/s3-store does), or a
// directory every node mounts (NFS, EFS) holding the partial file, as the single-machine vault
// already keeps them. We take the shared directory:
// - the vault verifies SHA-256 while bytes arrive (server/upload-hash.ts) and must resume that
//   hash on whichever node gets the next PATCH: the running state lives in the memory of the
//   node that received the last bytes, and another node rebuilds it by reading the partial
//   file once, where with multipart it would have to GET every stored part back;
// - multipart needs ListParts to learn an upload's offset after a crash and parts of at least
//   5 MiB, so a resumed PATCH of less must be buffered somewhere shared anyway;
// - the final object is written once, after its hash matched, so the bucket never holds
//   unverified bytes under a content key (see [Note: Commit order] in blob-store.ts).
// The cost: a shared filesystem to run. A node crash mid-PATCH loses at most the bytes of that
// PATCH that were not yet written and synced, which the client re-sends after its HEAD.
//
// [Note: Checksums the servers understand]
// SDK releases from 2025 on add a CRC32 trailer to every upload by default, sent with
// 'aws-chunked' content encoding. Several S3-compatible servers (older MinIO, Ceph RGW before
// Squid, Backblaze B2, test servers) refuse or mangle that encoding. The client is therefore
// made with requestChecksumCalculation 'WHEN_REQUIRED': a plain PUT with a Content-Length and
// our own SHA-256 header, which every S3 dialect accepts.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Location } from './s3-location.js';

/** S3's largest single PUT; larger objects are sent in parts. */
const SINGLE_PUT_LIMIT = 5 * 1024 ** 3;
/** Part size for multipart puts: 10,000 parts of 64 MiB hold 625 GiB. */
const PART_SIZE = 64 * 1024 ** 2;

export interface S3ObjectsOptions {
  /** Objects larger than this are sent in parts (default 5 GiB, S3's single-PUT limit). */
  readonly multipartAbove?: number;
  /** Size of each part of a multipart put (default 64 MiB; S3's minimum is 5 MiB). */
  readonly partSize?: number;
}

/** A failed S3 call, said in words an operator acts on. `code` is S3's error code. */
export class S3CallError extends Error {
  override readonly name = 'S3CallError';
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class S3Objects {
  private readonly client: S3Client;
  private readonly multipartAbove: number;
  private readonly partSize: number;

  constructor(
    readonly location: S3Location,
    options: S3ObjectsOptions = {},
  ) {
    this.client = new S3Client({
      region: location.region,
      forcePathStyle: location.forcePathStyle,
      // See [Note: Checksums the servers understand]
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(location.endpoint === undefined ? {} : { endpoint: location.endpoint }),
    });
    this.multipartAbove = options.multipartAbove ?? SINGLE_PUT_LIMIT;
    this.partSize = options.partSize ?? PART_SIZE;
  }

  /** The full key of a name under this vault's prefix. */
  keyOf(name: string): string {
    return `${this.location.prefix}${name}`;
  }

  /**
   * Stores a complete local file under `name`. `sha256` (hex) is what the vault verified: a
   * server that checks checksums refuses different bytes.
   */
  async putFile(name: string, path: string, sha256: string): Promise<void> {
    const size = (await stat(path)).size;
    const key = this.keyOf(name);
    const checksum = Buffer.from(sha256, 'hex').toString('base64');
    if (size <= this.multipartAbove) {
      await this.call(`store ${key}`, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.location.bucket,
            Key: key,
            Body: createReadStream(path),
            ContentLength: size,
            ChecksumSHA256: checksum,
          }),
        ),
      );
      return;
    }
    const created = await this.call(`start storing ${key}`, () =>
      this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.location.bucket, Key: key }),
      ),
    );
    const uploadId = created.UploadId;
    if (uploadId === undefined)
      throw new S3CallError(`the server gave no upload id for ${key}`, 'NoUploadId');
    const parts: { ETag: string; PartNumber: number }[] = [];
    // An unfinished multipart upload is invisible under the key; a bucket lifecycle rule
    // (AbortIncompleteMultipartUpload) reclaims its parts. README says to set one.
    for (let start = 0, n = 1; start < size; start += this.partSize, n++) {
      const end = Math.min(size, start + this.partSize);
      const part = await this.call(`store part ${n} of ${key}`, () =>
        this.client.send(
          new UploadPartCommand({
            Bucket: this.location.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: n,
            Body: createReadStream(path, { start, end: end - 1 }),
            ContentLength: end - start,
          }),
        ),
      );
      if (part.ETag === undefined)
        throw new S3CallError(`the server gave no ETag for part ${n} of ${key}`, 'NoETag');
      parts.push({ ETag: part.ETag, PartNumber: n });
    }
    await this.call(`finish storing ${key}`, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.location.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      ),
    );
  }

  /**
   * The object's size and ETag (which changes when other bytes are put under the key), or null
   * when there is no object under `name`.
   */
  async head(name: string): Promise<{ size: number; etag: string } | null> {
    const key = this.keyOf(name);
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: key }),
      );
      return { size: out.ContentLength ?? 0, etag: out.ETag ?? '' };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.describe(`look for ${key}`, err);
    }
  }

  /**
   * The object's bytes, whole or `range` (inclusive start and end, as HTTP's Range). Null when
   * there is no object under `name`.
   */
  async read(name: string, range?: { start: number; end: number }): Promise<Readable | null> {
    const key = this.keyOf(name);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.location.bucket,
          Key: key,
          ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
        }),
      );
      return out.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.describe(`read ${key}`, err);
    }
  }

  /**
   * Every object under `under` (a name prefix below the vault's prefix), page by page, in key
   * order. This is S3's first ListObjects, continued from the last key seen (Marker): every
   * S3 dialect implements it alike, while ListObjectsV2's continuation tokens are each
   * server's own invention (s3rver makes them with DES, which OpenSSL 3 no longer offers, and
   * fails every truncated V2 page).
   */
  async *list(under = ''): AsyncGenerator<{ name: string; size: number; modifiedAt: number }> {
    const prefix = this.keyOf(under);
    let after: string | undefined;
    for (;;) {
      const page = await this.call(`list ${prefix}`, () =>
        this.client.send(
          new ListObjectsCommand({
            Bucket: this.location.bucket,
            Prefix: prefix,
            ...(after === undefined ? {} : { Marker: after }),
          }),
        ),
      );
      const contents = page.Contents ?? [];
      for (const object of contents) {
        if (object.Key === undefined) continue;
        yield {
          name: object.Key.slice(this.location.prefix.length),
          size: object.Size ?? 0,
          modifiedAt: object.LastModified?.getTime() ?? 0,
        };
      }
      const last = contents.at(-1)?.Key;
      if (page.IsTruncated !== true || last === undefined) return;
      after = last;
    }
  }

  /** Removes the object under `name`; removing what is not there is not an error (as S3). */
  async delete(name: string): Promise<void> {
    const key = this.keyOf(name);
    await this.call(`remove ${key}`, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: key })),
    );
  }

  /** Closes the client's sockets. */
  close(): void {
    this.client.destroy();
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      throw this.describe(what, err);
    }
  }

  /** An SDK or network error as a sentence: what we tried, where, and what the server said. */
  private describe(what: string, err: unknown): S3CallError {
    const where = `bucket "${this.location.bucket}"${this.location.endpoint === undefined ? '' : ` at ${this.location.endpoint}`}`;
    if (err instanceof S3ServiceException) {
      const hint =
        err.name === 'NoSuchBucket'
          ? 'the bucket does not exist: create it first'
          : err.name === 'InvalidAccessKeyId' ||
              err.name === 'SignatureDoesNotMatch' ||
              err.name === 'AccessDenied'
            ? 'the server refused the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the profile)'
            : err.message;
      return new S3CallError(`could not ${what} in ${where}: ${hint}`, err.name, { cause: err });
    }
    const code = (err as NodeJS.ErrnoException).code ?? 'NetworkError';
    const message = err instanceof Error ? err.message : String(err);
    return new S3CallError(`could not ${what} in ${where}: ${message}`, code, { cause: err });
  }
}

function isNotFound(err: unknown): boolean {
  return (
    err instanceof S3ServiceException &&
    (err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404)
  );
}
