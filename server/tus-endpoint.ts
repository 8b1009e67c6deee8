// The tus 1.0 endpoint at /files/ (@tus/server over VerifyingFileStore): core, creation,
// creation-with-upload, termination, expiration. This module owns the upload's life:
//   create  -> Upload-Metadata validated, max size (413) and quota (507) checked and the
//              declared size reserved, all before a byte is stored;
//   PATCH   -> bytes hashed as they are written (VerifyingFileStore);
//   last byte -> the stored bytes' SHA-256 compared with the declared one: a mismatch
//              answers 460 and deletes the partial; a match becomes a blob and an asset
//              row, in the order of [Note: Commit order] in blob-store.ts.
// Invariant: an asset row exists only for content whose stored bytes hashed to its sha256.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server, type Upload } from '@tus/server';
import type { BlobStore } from './blob-store.js';
import { type DiskSpace, isOutOfSpace } from './disk-space.js';
import { codeForStatus, VaultHttpError } from './http-error.js';
import type { VaultIndex } from './index/vault-index.js';
import { sendErrorsAsJson } from './json-error-response.js';
import type { VaultLogger } from './logger.js';
import { kindOf, parseUploadMetadata } from './metadata-schema.js';
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
  /** bytes reserved by batches in flight (batch-api.ts), counted against the quota too */
  inFlightBatchBytes?: () => number;
  now: () => number;
  /** answers a disk-full failure with 507 (See [Note: Disk full]) */
  diskSpace?: DiskSpace;
  /** expires idle partials before the quota refuses a creation (See [Note: Abandoned partials]) */
  partials?: AbandonedPartials;
}

export const TUS_PATH = '/files';

function isTusErrorShape(err: unknown): err is { status_code: number; body: string } {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { status_code?: unknown }).status_code === 'number'
  );
}

export function createTusEndpoint(deps: TusEndpointDeps): {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  cleanUpExpired(): Promise<number>;
  completeLeftovers(): Promise<number>;
} {
  const { store, index, blobs, metrics, logger } = deps;

  const reject = (err: VaultHttpError, reason: keyof VaultMetrics['uploadsRejected']) => {
    metrics.uploadsRejected[reason] += 1;
    return err.toTusError();
  };

  const tus = new Server({
    path: TUS_PATH,
    datastore: store,
    relativeLocation: false,
    // No CORS: the vault is not for browsers on other origins (@tus/server's default is "*").
    allowedOrigins: () => false,
    maxSize: deps.maxSizeBytes ?? undefined,
    // Upload ids are 32 lowercase hex; anything else (e.g. "..%2Fvault.db") is unknown.
    getFileIdFromRequest: (_req, lastPath) =>
      lastPath !== undefined && UPLOAD_ID.test(lastPath) ? lastPath : undefined,
    onUploadCreate: async (_req, upload) => {
      let declared;
      try {
        declared = parseUploadMetadata(upload.metadata);
      } catch (err) {
        if (err instanceof VaultHttpError) throw reject(err, 'invalid');
        throw err;
      }
      const size = upload.size ?? 0;
      if (quotaRefusal(declared.sha256, size) && deps.partials) {
        await deps.partials.expireIdle(); // abandoned partials may hold the room
      }
      const refusal = quotaRefusal(declared.sha256, size);
      if (refusal) throw reject(refusal, 'quota_exceeded');
      // Reserved synchronously with the check, so two concurrent creations cannot both fit.
      index.recordUploadCreated({ id: upload.id, sha256: declared.sha256, size, at: deps.now() });
      metrics.uploadsStarted += 1;
      return {};
    },
    onUploadFinish: async (_req, upload) => {
      await finishOnce(upload);
      return {};
    },
    onResponseError: async (_req, err) => {
      // Every error the vault sends is JSON (see http-error.ts); hooks already built theirs.
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
    },
  });

  /**
   * The quota counts held content plus the sizes reserved by uploads in flight; content the
   * vault already holds costs nothing, so it is exempt. Undefined when the upload fits.
   */
  function quotaRefusal(sha256: string, size: number): VaultHttpError | undefined {
    if (deps.quotaBytes === null || index.getAsset(sha256) !== undefined) return undefined;
    const used = index.committedAndReservedBytes() + (deps.inFlightBatchBytes?.() ?? 0);
    if (used + size <= deps.quotaBytes) return undefined;
    const reserved = index.reservedBytes();
    return new VaultHttpError(
      507,
      'quota_exceeded',
      `this upload needs ${size} bytes and the vault has ${Math.max(0, deps.quotaBytes - used)} of its ${deps.quotaBytes}-byte quota left` +
        (reserved > 0 ? ` (${reserved} bytes are reserved by uploads in progress)` : ''),
      { reservedBytes: reserved },
    );
  }

  // One finish per upload at a time: the final PATCH and a HEAD (or the startup pass) may
  // both find an upload complete.
  const finishing = new Map<string, Promise<void>>();
  function finishOnce(upload: Upload): Promise<void> {
    let p = finishing.get(upload.id);
    if (!p) {
      p = store.work.run(() => finishUpload(upload)).finally(() => finishing.delete(upload.id));
      finishing.set(upload.id, p);
    }
    return p;
  }
  store.completeUpload = finishOnce;
  store.finishInProgress = (id) => finishing.get(id);

  async function finishUpload(upload: Upload): Promise<void> {
    const record = index.getUpload(upload.id);
    if (record?.state === 'finished') return; // a repeated final PATCH: already done
    const declared = parseUploadMetadata(upload.metadata);
    const size = upload.size ?? 0;
    const partial = store.partialPath(upload.id);
    const t0 = performance.now();
    const actual = await store.hashes.digest(upload.id, size, partial);
    const verifyMs = performance.now() - t0;
    if (actual !== declared.sha256) {
      metrics.verificationFailures += 1;
      await store.remove(upload.id);
      logger.warn('upload failed verification', { uploadId: upload.id, size });
      throw reject(
        new VaultHttpError(
          460,
          'checksum_mismatch',
          `the bytes received hash to ${actual}, not to the declared sha256 ${declared.sha256}; the upload was discarded: upload the file again`,
        ),
        'checksum_mismatch',
      );
    }
    await blobs.adopt(partial, actual);
    const isNew = index.commitVerifiedUpload(upload.id, {
      sha256: actual,
      size,
      mime: declared.mime,
      kind: kindOf(declared.mime, declared.filename),
      filename: declared.filename,
      relpath: declared.relpath,
      mtimeMs: declared.mtimeMs,
      at: deps.now(),
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

  return {
    /**
     * Verifies and commits every partial that holds all its bytes (left so by a crash
     * between the last byte and the commit). Run once at start.
     */
    async completeLeftovers(): Promise<number> {
      let completed = 0;
      for (const row of index.listUploads()) {
        if (row.state !== 'receiving') continue;
        const upload = await store.getUpload(row.id).catch(() => undefined);
        if (upload && index.getUpload(row.id)?.state === 'finished') completed += 1;
      }
      return completed;
    },
    async handle(req, res) {
      // Error bodies are JSON, also those @tus/server writes without onResponseError.
      sendErrorsAsJson(res);
      // srvx's response promise never settles when the client is already gone: stop
      // waiting when the response closes (the store's own work is tracked separately).
      await Promise.race([
        tus.handle(req, res),
        new Promise<void>((resolve) => {
          if (res.destroyed) resolve();
          res.once('close', () => resolve());
        }),
      ]);
    },
    cleanUpExpired: async () => {
      const removed = await tus.cleanUpExpiredUploads();
      const finishedBefore = deps.now() - store.getExpiration();
      index.forgetFinishedUploadsBefore(finishedBefore);
      return removed;
    },
  };
}
