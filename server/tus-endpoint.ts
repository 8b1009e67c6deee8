// The tus 1.0 endpoint at /files/ (@tus/server over VerifyingFileStore): core, creation,
// creation-with-upload, termination, expiration. This module owns the upload's life:
//   create  -> Upload-Metadata validated, max size (413) and quota (507) checked and the
//              declared size reserved, all before a byte is stored;
//   PATCH   -> bytes hashed as they are written (VerifyingFileStore);
//   last byte -> the stored bytes' SHA-256 compared with the declared one: a mismatch
//              answers 460 and deletes the partial; a match becomes a blob and an asset
//              row, in the order of [Note: Commit order] in blob-store.ts.
// Invariant: an asset row exists only for content whose stored bytes hashed to its sha256.
//
// [Note: The PATCH fast path]
// @tus/server turns every request body into a web ReadableStream (srvx), back into a Node
// Readable (Readable.fromWeb), through a PassThrough and a size limiter before the store sees
// it: four stream hops and a promise or two per 64 KiB socket read. For a 256 MiB upload
// that was about a third of the vault's CPU (web streams and the garbage they leave). So a
// well-formed PATCH (Tus-Resumable 1.0.0, the offset+octet-stream type, Upload-Offset and
// Content-Length given, no Upload-Length) to an upload that exists, is not expired, is at
// exactly that offset and has room for the body is handled here: the request itself is the
// store's input. Any other PATCH, and every answer other than a stored body (404, 409, 410,
// 413, a lock timeout), goes to @tus/server untouched, before a byte of the body is read,
// so the protocol's checks and error answers stay its own. Both paths take the same
// per-upload lock (one MemoryLocker). A later request asking for the lock, or the client
// going away, ends this one's body where it is: what arrived is stored and counted, as
// @tus/server does. The finish, the 204 and its headers are the same as @tus/server's.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EXPOSED_HEADERS, MemoryLocker, Server, type Upload } from '@tus/server';
import type { BlobStore } from './blob-store.js';
import type { Principal } from './devices.js';
import { type DiskSpace, isOutOfSpace } from './disk-space.js';
import { codeForStatus, VaultHttpError } from './http-error.js';
import type { VaultIndex } from './index/vault-index.js';
import { sendErrorsAsJson } from './json-error-response.js';
import type { VaultLogger } from './logger.js';
import { kindOf, parseUploadMetadata } from './metadata-schema.js';
import {
  DEFERRED_HASH_HEADER,
  FINAL_SHA256_HEADER,
  SHA256_HEX,
  SIZE_HELD_HEADER,
  TUS_PATH,
} from '../common/vault-protocol.js';
import type { VaultMetrics } from './metrics.js';
import type { AbandonedPartials } from './partials.js';
import { UPLOAD_ID, type VerifyingFileStore } from './verifying-file-store.js';

export interface TusEndpointDeps {
  store: VerifyingFileStore;
  index: VaultIndex;
  blobs: BlobStore;
  metrics: VaultMetrics;
  logger: VaultLogger;
  quotaBytes: number | null;
  maxSizeBytes: number | null;
  now: () => number;
  /** answers a disk-full failure with 507 (See [Note: Disk full]) */
  diskSpace?: DiskSpace;
  /** expires idle partials before the quota refuses a creation (See [Note: Abandoned partials]) */
  partials?: AbandonedPartials;
}

function ownerOf(principal: Principal | undefined): string | null {
  return principal?.kind === 'device' ? principal.id : null;
}

function isTusErrorShape(err: unknown): err is { status_code: number; body: string } {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { status_code?: unknown }).status_code === 'number'
  );
}

export function createTusEndpoint(deps: TusEndpointDeps): {
  handle(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void>;
  cleanUpExpired(): Promise<number>;
  completeLeftovers(): Promise<number>;
} {
  const { store, index, blobs, metrics, logger } = deps;

  const reject = (err: VaultHttpError, reason: keyof VaultMetrics['uploadsRejected']) => {
    metrics.uploadsRejected[reason] += 1;
    return err.toTusError();
  };

  // Who sent the request @tus/server is handling: its hooks see only a web Request.
  const asking = new AsyncLocalStorage<Principal>();

  // One lock per upload, shared by @tus/server and the PATCH fast path.
  const locker = new MemoryLocker();
  const tus = new Server({
    path: TUS_PATH,
    datastore: store,
    locker,
    relativeLocation: false,
    // No CORS: the vault is not for browsers on other origins (@tus/server's default is "*").
    allowedOrigins: () => false,
    maxSize: deps.maxSizeBytes ?? undefined,
    // Upload ids are 32 lowercase hex; anything else (e.g. "..%2Fvault.db") is unknown.
    getFileIdFromRequest: (_req, lastPath) =>
      lastPath !== undefined && UPLOAD_ID.test(lastPath) ? lastPath : undefined,
    onUploadCreate: async (req, upload) => {
      let declared;
      try {
        declared = parseUploadMetadata(upload.metadata, {
          deferredHash: req.headers.get(DEFERRED_HASH_HEADER) === '1',
        });
      } catch (err) {
        if (err instanceof VaultHttpError) throw reject(err, 'invalid');
        throw err;
      }
      const size = upload.size ?? 0;
      // A deferred-hash upload has no sha256 yet: '' until its final PATCH declares one.
      const row = {
        id: upload.id,
        sha256: declared.sha256 ?? '',
        size,
        at: deps.now(),
        owner: ownerOf(asking.getStore()),
      };
      let refusal = await reserve(row);
      if (refusal && deps.partials) {
        await deps.partials.expireIdle(); // abandoned partials may hold the room
        refusal = await reserve(row);
      }
      if (refusal) throw reject(refusal, 'quota_exceeded');
      metrics.uploadsStarted += 1;
      return {};
    },
    onUploadFinish: async (req, upload) => {
      await finishOnce(upload, finalSha256(req.headers.get(FINAL_SHA256_HEADER)));
      return {};
    },
    onResponseError: (_req, err) => respondToError(err),
  });

  /** Every error the vault sends is JSON (see http-error.ts); hooks already built theirs. */
  async function respondToError(err: unknown): Promise<{ status_code: number; body: string }> {
    {
      if (isTusErrorShape(err)) {
        if (err.status_code === 413) metrics.uploadsRejected.too_large += 1;
        if (err.body.startsWith('{')) return { status_code: err.status_code, body: err.body };
        return {
          status_code: err.status_code,
          body: JSON.stringify({ error: codeForStatus(err.status_code), message: err.body.trim() }),
        };
      }
      if (deps.diskSpace && isOutOfSpace(err)) {
        const full = await deps.diskSpace.refusalAfterFailure('this upload');
        logger.warn('upload refused: the disk is full', { error: String(err) });
        return { status_code: full.status, body: full.body() };
      }
      logger.error('tus request failed', { error: String(err) });
      return {
        status_code: 500,
        body: JSON.stringify({
          error: 'internal',
          message: 'the vault failed to handle this upload request',
        }),
      };
    }
  }

  /**
   * Records the upload and reserves its declared size against the quota, in one index
   * transaction, so two creations (on this node or another) cannot both take the last room.
   * The quota counts held content plus the sizes reserved by uploads in flight; content the
   * vault already holds costs nothing, so it is exempt. Undefined when it was recorded.
   */
  async function reserve(row: {
    id: string;
    sha256: string;
    size: number;
    at: number;
    owner: string | null;
  }): Promise<VaultHttpError | undefined> {
    const exempt =
      deps.quotaBytes === null ||
      (row.sha256 !== '' && (await index.getAsset(row.sha256)) !== undefined);
    const over = await index.recordUploadCreated(
      row,
      exempt || deps.quotaBytes === null ? undefined : { quotaBytes: deps.quotaBytes },
    );
    if (over === null) return undefined;
    const reserved = await index.reservedBytes();
    return new VaultHttpError(
      507,
      'quota_exceeded',
      `this upload needs ${row.size} bytes and the vault has ${over.roomBytes} of its ${deps.quotaBytes}-byte quota left` +
        (reserved > 0 ? ` (${reserved} bytes are reserved by uploads in progress)` : ''),
      { reservedBytes: reserved },
    );
  }

  /** Keepsake-Sha256 as sent, validated (400 when malformed); undefined when absent. */
  function finalSha256(value: string | string[] | null | undefined): string | undefined {
    if (value === null || value === undefined) return undefined;
    const v = Array.isArray(value) ? value[0] : value;
    if (v === undefined || !SHA256_HEX.test(v)) {
      throw reject(
        new VaultHttpError(
          400,
          'invalid_sha256',
          `${FINAL_SHA256_HEADER} must be the file's SHA-256 as 64 lowercase hex characters`,
        ),
        'invalid',
      );
    }
    return v;
  }

  /**
   * Before a PATCH body is stored: a Keepsake-Sha256 it carries is recorded on the uploads
   * row (so the upload can be verified even if the vault restarts before it finishes), and
   * the final PATCH of a deferred-hash upload without one is refused with 400 before a byte
   * of it is written. (A final PATCH whose length is not declared is caught at the finish.)
   */
  async function checkFinalPatch(req: IncomingMessage): Promise<void> {
    const id = new URL(req.url ?? '/', 'http://vault.invalid').pathname.split('/').at(-1) ?? '';
    if (!UPLOAD_ID.test(id)) return;
    const row = await index.getUpload(id);
    if (!row || row.state !== 'receiving') return;
    let sha256: string | undefined;
    try {
      sha256 = finalSha256(req.headers[FINAL_SHA256_HEADER.toLowerCase()]);
    } catch {
      throw new VaultHttpError(
        400,
        'invalid_sha256',
        `${FINAL_SHA256_HEADER} must be the file's SHA-256 as 64 lowercase hex characters`,
      );
    }
    if (sha256 !== undefined) {
      if (row.sha256 === '') await index.declareUploadSha256(id, sha256);
      return;
    }
    const offset = Number(req.headers['upload-offset']);
    const length = Number(req.headers['content-length']);
    if (row.sha256 === '' && offset + length === row.size) {
      throw new VaultHttpError(
        400,
        'bad_request',
        `this upload was created with ${DEFERRED_HASH_HEADER}: its final PATCH must carry ${FINAL_SHA256_HEADER} (the file's SHA-256)`,
      );
    }
  }

  /** The upload a PATCH names, when the fast path may take it (see [Note: The PATCH fast path]). */
  function fastPatchTarget(
    req: IncomingMessage,
  ): { id: string; offset: number; length: number } | null {
    const h = req.headers;
    if (h['tus-resumable'] !== '1.0.0' || h['upload-length'] !== undefined) return null;
    if (h['content-type'] !== 'application/offset+octet-stream') return null;
    const offset = h['upload-offset'];
    const length = h['content-length'];
    if (typeof offset !== 'string' || length === undefined) return null;
    if (!/^\d{1,15}$/.test(offset) || !/^\d{1,15}$/.test(length) || length === '0') return null;
    const id = new URL(req.url ?? '/', 'http://vault.invalid').pathname.split('/').at(-1) ?? '';
    if (!UPLOAD_ID.test(id)) return null;
    return { id, offset: Number(offset), length: Number(length) };
  }

  /**
   * Stores a PATCH body without @tus/server; false when it declined before reading the body
   * (the caller hands the request to @tus/server). See [Note: The PATCH fast path].
   */
  async function patchFast(
    req: IncomingMessage,
    res: ServerResponse,
    target: { id: string; offset: number; length: number },
  ): Promise<boolean> {
    const lock = locker.newLock(target.id);
    const waiting = new AbortController();
    const onClose = () => waiting.abort();
    req.once('close', onClose);
    try {
      // Another request wanting this upload ends this body where it is (what arrived is kept).
      await lock.lock(waiting.signal, () => {
        req.destroy();
      });
    } catch (err) {
      // The client gave up waiting (nothing to answer), or the lock timed out.
      if (!waiting.signal.aborted) await answerError(req, res, err);
      return true;
    } finally {
      req.off('close', onClose);
    }
    let upload: Upload;
    let newOffset: number;
    try {
      try {
        upload = await store.getUpload(target.id);
      } catch {
        return false; // 404, 410: @tus/server answers
      }
      const ttl = store.getExpiration();
      const created = upload.creation_date ? Date.parse(upload.creation_date) : Date.now();
      if (
        upload.size === undefined ||
        upload.offset !== target.offset ||
        target.offset + target.length > upload.size ||
        (ttl > 0 && Date.now() > created + ttl)
      ) {
        return false;
      }
      try {
        newOffset = await store.write(req, upload.id, upload.offset);
      } catch (err) {
        await answerError(req, res, err);
        return true;
      }
    } finally {
      await lock.unlock();
    }
    upload.offset = newOffset;
    const headers: Record<string, string> = {
      'Tus-Resumable': '1.0.0',
      'Access-Control-Expose-Headers': EXPOSED_HEADERS,
      'Upload-Offset': String(newOffset),
    };
    try {
      if (newOffset === upload.size) {
        await finishOnce(upload, finalSha256(req.headers[FINAL_SHA256_HEADER.toLowerCase()]));
      } else if (expiration(upload) !== null) {
        headers['Upload-Expires'] = expiration(upload)!;
      }
    } catch (err) {
      await answerError(req, res, err);
      return true;
    }
    if (!res.headersSent) {
      res.writeHead(204, headers);
      res.end();
    }
    return true;
  }

  /** Upload-Expires of an unfinished upload, as @tus/server writes it; null without expiry. */
  function expiration(upload: Upload): string | null {
    const ms = store.getExpiration();
    if (ms <= 0 || !upload.creation_date) return null;
    return new Date(new Date(upload.creation_date).getTime() + ms).toUTCString();
  }

  /** An error of the fast path, answered as @tus/server's onResponseError would. */
  async function answerError(req: IncomingMessage, res: ServerResponse, err: unknown) {
    const mapped = await respondToError(err);
    if (res.headersSent || res.destroyed) return;
    res.writeHead(mapped.status_code, {
      'Tus-Resumable': '1.0.0',
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(mapped.body)),
      // The body may be unread (a refusal mid-body): do not keep the connection.
      ...(req.complete ? {} : { Connection: 'close' }),
    });
    res.end(mapped.body);
  }

  /**
   * A deferred-hash creation is told whether content of its exact size is here already, so
   * the client can hash a likely copy and ask before sending it (the header is merged into
   * @tus/server's 201). See [Note: Large files, read once] in the engine's hash-pump.ts.
   */
  async function hintSizeHeld(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers[DEFERRED_HASH_HEADER.toLowerCase()] !== '1') return;
    const length = req.headers['upload-length'];
    if (typeof length !== 'string' || !/^\d{1,15}$/.test(length)) return;
    if (await index.holdsSize(Number(length))) res.setHeader(SIZE_HELD_HEADER, '1');
  }

  // One finish per upload at a time: the final PATCH and a HEAD (or the startup pass) may
  // both find an upload complete.
  const finishing = new Map<string, Promise<void>>();
  function finishOnce(upload: Upload, sha256FromClient?: string): Promise<void> {
    let p = finishing.get(upload.id);
    if (!p) {
      p = store.work
        .run(() => finishUpload(upload, sha256FromClient))
        .finally(() => finishing.delete(upload.id));
      finishing.set(upload.id, p);
    }
    return p;
  }
  store.completeUpload = finishOnce;
  store.finishInProgress = (id) => finishing.get(id);

  /**
   * Verifies and commits an upload whose bytes are all stored. The hash it must match: the
   * one in Upload-Metadata, and the final PATCH's Keepsake-Sha256 when sent (both, when
   * both are given); a deferred-hash upload's final PATCH declared it (recorded on the
   * uploads row before its body was stored, so a vault restarted in between still knows it).
   */
  async function finishUpload(upload: Upload, sha256FromClient?: string): Promise<void> {
    const record = await index.getUpload(upload.id);
    if (record?.state === 'finished') return; // a repeated final PATCH: already done
    const declared = parseUploadMetadata(upload.metadata, { deferredHash: true });
    const size = upload.size ?? 0;
    const partial = store.partialPath(upload.id);
    const fromRow = record?.sha256 ? record.sha256 : null;
    const expected = [declared.sha256, sha256FromClient ?? fromRow].filter(
      (h): h is string => h !== null && h !== undefined,
    );
    if (expected.length === 0) {
      // A deferred-hash upload whose final PATCH did not say what its bytes hash to: they
      // cannot be verified, so they are not kept (the client starts over).
      await store.remove(upload.id);
      throw reject(
        new VaultHttpError(
          400,
          'bad_request',
          `this upload was created with ${DEFERRED_HASH_HEADER}: its final PATCH must carry ${FINAL_SHA256_HEADER} (the file's SHA-256); the upload was discarded: upload the file again`,
        ),
        'invalid',
      );
    }
    const t0 = performance.now();
    const actual = await store.hashes.digest(upload.id, size, partial);
    const verifyMs = performance.now() - t0;
    if (expected.some((h) => h !== actual)) {
      metrics.verificationFailures += 1;
      await store.remove(upload.id);
      logger.warn('upload failed verification', { uploadId: upload.id, size });
      throw reject(
        new VaultHttpError(
          460,
          'checksum_mismatch',
          `the bytes received hash to ${actual}, not to the declared sha256 ${expected.find((h) => h !== actual)}; the upload was discarded: upload the file again`,
        ),
        'checksum_mismatch',
      );
    }
    await blobs.adopt(partial, actual);
    const isNew = await index.commitVerifiedUpload(upload.id, {
      sha256: actual,
      size,
      mime: declared.mime,
      kind: kindOf(declared.mime, declared.filename),
      filename: declared.filename,
      relpath: declared.relpath,
      mtimeMs: declared.mtimeMs,
      at: deps.now(),
      uploadedBy: record?.owner ?? null,
    });
    await store.forgetPartial(upload.id);
    metrics.uploadsFinished += 1;
    if (!isNew) metrics.uploadsDeduplicated += 1;
    logger.info('upload verified', {
      uploadId: upload.id,
      size,
      deduplicated: !isNew,
      verifyMs: Math.round(verifyMs),
      storeMs: Math.round(performance.now() - t0 - verifyMs),
    });
  }

  /**
   * A device may touch only the uploads it created: another's (or one the admin token made)
   * is answered 404 exactly as an unknown one, so a device learns nothing of others' work.
   * The admin token may touch every upload.
   */
  async function refuseOthersUpload(req: IncomingMessage, principal: Principal): Promise<void> {
    if (principal.kind !== 'device') return;
    const method = req.method ?? '';
    if (method !== 'HEAD' && method !== 'PATCH' && method !== 'DELETE') return;
    const id = new URL(req.url ?? '/', 'http://vault.invalid').pathname.split('/').at(-1) ?? '';
    const row = UPLOAD_ID.test(id) ? await index.getUpload(id) : undefined;
    if (row !== undefined && row.owner !== principal.id) {
      throw new VaultHttpError(404, 'not_found', 'no such upload');
    }
  }

  return {
    /**
     * Verifies and commits every partial that holds all its bytes (left so by a crash
     * between the last byte and the commit). Run once at start.
     */
    async completeLeftovers(): Promise<number> {
      let completed = 0;
      for (const row of await index.listUploads()) {
        if (row.state !== 'receiving') continue;
        const upload = await store.getUpload(row.id).catch(() => undefined);
        if (upload && (await index.getUpload(row.id))?.state === 'finished') completed += 1;
      }
      return completed;
    },
    async handle(req, res, principal) {
      await refuseOthersUpload(req, principal);
      // Error bodies are JSON, also those @tus/server writes without onResponseError.
      sendErrorsAsJson(res);
      if (req.method === 'POST') await hintSizeHeld(req, res);
      if (req.method === 'PATCH') {
        await checkFinalPatch(req);
        const target = fastPatchTarget(req);
        if (target !== null && (await patchFast(req, res, target))) return;
      }
      // srvx's response promise never settles when the client is already gone: stop
      // waiting when the response closes (the store's own work is tracked separately).
      await Promise.race([
        asking.run(principal, () => tus.handle(req, res)),
        new Promise<void>((resolve) => {
          if (res.destroyed) resolve();
          res.once('close', () => resolve());
        }),
      ]);
    },
    cleanUpExpired: async () => {
      const removed = await tus.cleanUpExpiredUploads();
      const finishedBefore = deps.now() - store.getExpiration();
      await index.forgetFinishedUploadsBefore(finishedBefore);
      return removed;
    },
  };
}
