// The Keepsake Vault: composes the index, the blob store, the tus endpoint and the JSON API
// behind one HTTP server (the composition root of server/). Used by `keepsake vault`, and
// started in-process as the embedded default vault by the app and the CLI.
// Layout of the data directory:
//   vault.db (+ -wal, -shm)   the SQLite index (see index/migrations.ts)
//   token                     the generated bearer token, 0600
//   vault.lock                the pid of the vault using this directory
//   uploads/                  tus partials (<id>) and their info (<id>.json); batch temp
//                             files (batch-*, See [Note: Small files in batches])
//   upload-state/             empty: hash checkpoints of older versions, removed at start
//   blobs/ab/<sha256>         verified content, each content once (ab/cd/<sha256> in
//                             vaults made before blobs.layout: See [Note: Blob layout]);
//                             <sha256>.ksz when stored compressed (See [Note: One way to
//                             read a blob] and [Note: Compressing blobs in the background])
//   blobs.layout              how blobs/ is laid out
//   previews/ab/<sha256>-thumb.jpg, -preview.jpg
//                             derived pictures, remade at will (See [Note: Preview work is
//                             the index] in previews.ts)
//
// [Note: Several vault nodes]
// `keepsake vault` also runs as several stateless nodes behind a load balancer (issue 14):
// each with its own --data-dir (lock, token file, temp files), all sharing the index
// (--index postgres://…), the blobs (--blobs s3://…), the partial uploads (--uploads DIR, a
// shared file system) and the previews (--previews-dir DIR), with one admin token
// (KEEPSAKE_VAULT_TOKEN). What holds across nodes, and why:
// - verified before visible: a node puts a blob from a file whose SHA-256 it verified, and
//   commits the asset row only after the put (See the blob store's Notes); a crash between
//   leaves an object without a row, which `keepsake vault sweep` finds;
// - the same content finished on two nodes at once is one object (its key is its hash) and
//   one row (INSERT … ON CONFLICT DO NOTHING): both clients are answered success;
// - the quota is one SERIALIZABLE transaction in the shared index (recordUploadCreated), not
//   per-node memory; a batch's bytes in flight are counted by the node receiving it until it
//   commits (small files, seconds);
// - any node continues an upload: the partial is in the shared directory and the running
//   hash is rebuilt from its bytes by the node that takes it over (See upload-hash.ts). The
//   per-upload lock is per node, so two PATCHes of one upload racing on two nodes could
//   interleave their bytes: the SHA-256 check at the end then refuses the result and the
//   client sends it again; nothing unverified is ever visible;
// - start-up sweeps leave other nodes' work alone (See [Note: Sweeping beside other nodes]
//   in startup-sweep.ts).
// Every route but /healthz, /api/v1/enrol and the fleet page (/fleet/, its own cookie: See
// fleet-page.ts) needs `Authorization: Bearer TOKEN`.
import { mkdir, access, constants as fsConstants, readdir, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { API_PREFIX, createApi, sendError, sendJson } from './api.js';
import { AssetHealth } from './asset-health.js';
import { createDevicesApi, DeviceRegistry, type FleetThresholds } from './devices.js';
import { createFleetPage, isFleetPath } from './fleet-page.js';
import { createTrashApi, DEFAULT_TRASH_RETENTION_DAYS } from './trash.js';
import { AbandonedPartials, DEFAULT_PARTIAL_TTL_MS } from './partials.js';
import { createBatchApi } from './batch-api.js';
import { type BlobStore, FsBlobStore } from './blob-store.js';
import { openBlobStore } from './blobs/open-blob-store.js';
import { BlobCompressor, settleCompressing } from './compressor.js';
import { DiskSpace, isOutOfSpace } from './disk-space.js';
import { VaultHttpError } from './http-error.js';
import type { VaultIndex } from './index/vault-index.js';
import { openIndexToStart } from './stopped-vault.js';
import { isPostgresLocation } from './index/open-sql.js';
import { listen, type VaultTimeouts, type VaultTls } from './listener.js';
import { acquireDataDirLock, type DataDirLock } from './lock.js';
import { silentVaultLogger, type VaultLogger } from './logger.js';
import { type RouteClass, VaultMetrics } from './metrics.js';
import { createPreviewsApi } from './previews-api.js';
import { findFfmpeg, findHeifDecoder } from './preview-render.js';
import { createAssetConverter } from './asset-convert.js';
import {
  PREVIEWS_DIR,
  PreviewFiles,
  type PreviewOptions,
  PreviewWorker,
  rendererFor,
} from './previews.js';
import { type ScrubOptions, startScrubber } from './scrub.js';
import { VaultStartError } from './start-error.js';
import { sweepAfterStart } from './startup-sweep.js';
import { loadOrCreateToken } from './token.js';
import { ENROLL_PATH, TUS_PATH } from '../common/vault-protocol.js';
import { createTusEndpoint } from './tus-endpoint.js';
import { VerifyingFileStore } from './verifying-file-store.js';

export type { VaultLogger } from './logger.js';
export { VaultStartError } from './start-error.js';

export const DEFAULT_VAULT_PORT = 7418;
export { DEFAULT_PARTIAL_TTL_MS } from './partials.js';

export interface VaultOptions {
  /** this node's own directory: token, lock, temp files, previews; and by default all else */
  dataDir: string;
  /**
   * the index: a postgres:// URL that several vault nodes share (See [Note: Several vault
   * nodes]), or a SQLite file; default <dataDir>/vault.db
   */
  index?: string;
  /**
   * where partial uploads live; with several nodes a directory they all share (NFS, EFS), so
   * any node continues an upload another started; default <dataDir>/uploads
   */
  uploadsDir?: string;
  /** thumbnails and previews; with several nodes a directory they share; default <dataDir>/previews */
  previewsDir?: string;
  /** default 127.0.0.1 */
  host?: string;
  /** default 7418; 0 = an ephemeral port */
  port?: number;
  /** else generated on first start, stored in dataDir (0600), reused after */
  token?: string;
  /** total bytes of content the vault may hold; null/undefined = unlimited */
  quotaBytes?: number | null;
  /** largest single upload, bytes; null/undefined = unlimited */
  maxSizeBytes?: number | null;
  /**
   * a partial upload idle this long (ms) is deleted and its quota reservation released (tus
   * expiration); default 24 h. See [Note: Abandoned partials] in partials.ts.
   */
  partialTtlMs?: number;
  /** the background scrubber's pace (See [Note: Scrub pacing] in scrub.ts); false = off */
  scrub?: ScrubOptions | false;
  /** bytes of disk always left free; default 2 % of the filesystem (See [Note: Disk full]) */
  diskMarginBytes?: number;
  /** serve HTTPS with this certificate and key (See [Note: Plain HTTP on a network]) */
  tls?: VaultTls;
  /** idle limits of connections (See [Note: Vault timeouts] in listener.ts) */
  timeouts?: VaultTimeouts;
  /**
   * compressible content stored compressed, in the background (See [Note: Compressing blobs
   * in the background] in compressor.ts); default on, false = off (what is stored compressed
   * already stays so, and is read as always)
   */
  compression?: boolean;
  /**
   * where verified content is stored: a directory, or an S3-compatible bucket as
   * `s3://BUCKET/PREFIX?endpoint=URL&region=NAME` (credentials from the AWS environment, See
   * server/blobs/s3-location.ts); default `<dataDir>/blobs`. See server/blobs/port.ts.
   */
  blobs?: string;
  /** thumbnails and previews made in the background (See previews.ts); false = none made */
  previews?: PreviewOptions | false;
  logger?: VaultLogger;
  /** when a device counts as behind or silent (See devices.ts) */
  fleet?: FleetThresholds;
  /** the vault's clock, unix ms; tests pass a controllable one (default Date.now) */
  now?: () => number;
  /** the built renderer the fleet page is served from (See fleet-page.ts); default dist/renderer */
  fleetPageDir?: string;
  /** days a content stays in the trash before an empty may remove it (default 30; See trash.ts) */
  trashRetentionDays?: number;
}

export interface RunningVault {
  /** http://HOST:PORT, or https:// with TLS */
  url: string;
  /** what the operator must be told, e.g. plain HTTP on a network address */
  warnings: string[];
  token: string;
  /** true when the token was generated by this start (print it once) */
  tokenGenerated: boolean;
  close(): Promise<void>;
}

function checkOptions(o: VaultOptions): void {
  const nonNegInt = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (o.port !== undefined && (!nonNegInt(o.port) || o.port > 65535)) {
    throw new VaultStartError('invalid_option', `port must be 0..65535 (got ${o.port})`);
  }
  for (const [name, v] of [
    ['quota', o.quotaBytes],
    ['max size', o.maxSizeBytes],
    ['disk margin', o.diskMarginBytes],
  ] as const) {
    if (v !== undefined && v !== null && !nonNegInt(v)) {
      throw new VaultStartError(
        'invalid_option',
        `${name} must be a whole number of bytes (got ${v})`,
      );
    }
  }
  if (o.token !== undefined && !/^[\x21-\x7e]{1,512}$/.test(o.token)) {
    throw new VaultStartError('invalid_option', 'the token must be 1-512 visible ASCII characters');
  }
  if (o.partialTtlMs !== undefined && !(nonNegInt(o.partialTtlMs) && o.partialTtlMs > 0)) {
    throw new VaultStartError('invalid_option', 'the partial TTL must be a positive number of ms');
  }
  if (o.trashRetentionDays !== undefined && !nonNegInt(o.trashRetentionDays)) {
    throw new VaultStartError(
      'invalid_option',
      'the trash retention must be a whole number of days (0 or more)',
    );
  }
  const scrub = o.scrub === false ? {} : (o.scrub ?? {});
  for (const [name, v] of [
    ['scrub period', scrub.periodMs],
    ['scrub rate', scrub.maxBytesPerSecond],
  ] as const) {
    if (v !== undefined && !(nonNegInt(v) && v > 0)) {
      throw new VaultStartError('invalid_option', `${name} must be a positive whole number`);
    }
  }
}

async function prepareDataDir(dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await access(dataDir, fsConstants.W_OK | fsConstants.X_OK);
    for (const sub of ['uploads', 'upload-state', 'blobs', PREVIEWS_DIR]) {
      await mkdir(join(dataDir, sub), { recursive: true, mode: 0o700 });
    }
  } catch (err) {
    throw new VaultStartError(
      'data_dir_unwritable',
      `cannot use ${dataDir} as the vault's data directory: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { cause: err },
    );
  }
}

/** A directory vault nodes may share (made when missing); `fallback` when none is given. */
async function prepareSharedDir(
  given: string | undefined,
  fallback: string,
  what: string,
): Promise<string> {
  if (given === undefined) return fallback;
  const dir = resolve(given);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, fsConstants.W_OK | fsConstants.X_OK);
  } catch (err) {
    throw new VaultStartError(
      'data_dir_unwritable',
      `cannot use ${dir} for ${what}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { cause: err },
    );
  }
  return dir;
}

async function sameFileSystem(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)]);
  return sa.dev === sb.dev;
}

/**
 * Empties this node's own temp directory when partials live elsewhere: nothing in it outlives
 * the process that made it (a batch, the compressor's temp, a decoded copy).
 */
async function sweepTemps(tempDir: string): Promise<void> {
  for (const name of await readdir(tempDir)) {
    await rm(join(tempDir, name), { force: true, recursive: true });
  }
}

/** The parts of an /api/v1/ path, percent-decoded (400 when the encoding is broken). */
function apiPathParts(pathname: string): string[] {
  try {
    return pathname
      .slice(API_PREFIX.length)
      .split('/')
      .map((p) => decodeURIComponent(p));
  } catch {
    throw new VaultHttpError(400, 'invalid_path', 'the request path is not valid percent-encoding');
  }
}

function routeClassOf(pathname: string): RouteClass {
  if (pathname === '/healthz') return 'health';
  if (pathname === '/metrics') return 'metrics';
  if (pathname.startsWith(API_PREFIX)) return 'api';
  if (pathname === TUS_PATH || pathname.startsWith(`${TUS_PATH}/`)) return 'tus';
  return 'other';
}

export async function startVault(options: VaultOptions): Promise<RunningVault> {
  checkOptions(options);
  const dataDir = resolve(options.dataDir);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_VAULT_PORT;
  const logger = options.logger ?? silentVaultLogger;
  const quotaBytes = options.quotaBytes ?? null;
  const maxSizeBytes = options.maxSizeBytes ?? null;
  const partialTtlMs = options.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS;
  const now = options.now ?? (() => Date.now());

  await prepareDataDir(dataDir);
  const lock: DataDirLock = await acquireDataDirLock(dataDir);
  let index: VaultIndex | undefined;
  let openedBlobs: BlobStore | undefined;
  try {
    const { token, generated } = await loadOrCreateToken(dataDir, options.token);
    const indexLocation = options.index ?? join(dataDir, 'vault.db');
    const sharedIndex = isPostgresLocation(indexLocation);
    index = await openIndexToStart(indexLocation);
    const idx = index;
    const metrics = new VaultMetrics();
    const blobs = openBlobStore(options.blobs, dataDir, {
      knownBad: (sha256) => idx.health.problem(sha256),
      repaired: async (sha256) => {
        await idx.health.record(sha256, 'ok', now());
        logger.info('repaired stored content with a verified upload', { sha256 });
        // (called only for uploads, so after previewWorker below is set)
        await previewWorker?.remake(sha256);
        if (compressor) compressor.reconsider(sha256);
        else {
          idx.encodings.forget(sha256).catch((err: unknown) =>
            logger.warn('a repaired content could not be marked for compressing again', {
              sha256,
              error: String(err),
            }),
          );
        }
      },
    });
    openedBlobs = blobs;
    await blobs.init();
    // The compressor rewrites blobs in place on a filesystem: See [Note: Verified before
    // visible on S3] in blobs/s3-blob-store.ts.
    const compressible = blobs instanceof FsBlobStore ? blobs : undefined;
    if (compressible === undefined && options.compression !== false) {
      logger.info('compression is off: content in an S3 bucket is stored as uploaded', {
        blobs: blobs.where,
      });
    }
    const health = new AssetHealth({ index: idx, blobs, metrics, logger, now });
    metrics.assetProblems = () => idx.health.counts();
    metrics.previewCounts = () => idx.previews.counts();
    // This node's temp files (batches, the compressor's, decoded copies) stay in its own
    // data directory; partials go where every node can reach them.
    const tempDir = join(dataDir, 'uploads');
    const uploadsDir = await prepareSharedDir(options.uploadsDir, tempDir, 'partial uploads');
    const stateDir = join(dataDir, 'upload-state');
    await sweepAfterStart({
      uploadsDir,
      stateDir,
      index: idx,
      logger,
      ...(sharedIndex ? { shared: { now, filesShared: uploadsDir !== tempDir } } : {}),
    });
    if (tempDir !== uploadsDir) {
      // A verified partial becomes a blob by rename (See [Note: Commit order] in
      // blob-store.ts), which cannot cross file systems.
      if (blobs instanceof FsBlobStore && !(await sameFileSystem(uploadsDir, blobs.root))) {
        throw new VaultStartError(
          'invalid_option',
          `partial uploads (${uploadsDir}) must be on the same file system as the blobs (${blobs.root}); with several vault nodes, store the blobs in a bucket (--blobs s3://…)`,
        );
      }
      await sweepTemps(tempDir);
    }
    if (compressible) await settleCompressing({ index: idx, blobs: compressible, logger });
    const diskSpace = new DiskSpace({ directory: dataDir, marginBytes: options.diskMarginBytes });
    const store = new VerifyingFileStore({
      diskSpace,
      directory: uploadsDir,
      expirationMs: partialTtlMs,
      finishedUpload: async (id) => {
        const u = await idx.getUpload(id);
        return u?.state === 'finished' ? { size: u.size, createdAt: u.createdAt } : undefined;
      },
      onWritten: (w) => {
        metrics.bytesReceived += w.bytes;
        logger.debug('upload bytes stored', { ...w });
      },
      onRemoved: (id) => idx.forgetUpload(id),
    });
    metrics.hashStateRebuilds = () => store.hashes.rebuilds;
    const partials = new AbandonedPartials({
      ttlMs: partialTtlMs,
      now,
      partialPath: (id) => store.partialPath(id),
      receiving: async () => (await idx.listUploads()).filter((u) => u.state === 'receiving'),
      remove: (id) => store.remove(id),
      logger,
    });
    store.partials = partials;
    const tus = createTusEndpoint({
      partials,
      store,
      index: idx,
      blobs,
      metrics,
      logger,
      quotaBytes,
      maxSizeBytes,
      now,
      diskSpace,
    });
    const completed = await tus.completeLeftovers();
    if (completed > 0)
      logger.info('vault start: committed uploads that had all their bytes', { completed });
    const batch = createBatchApi({
      index: idx,
      blobs,
      metrics,
      logger,
      uploadsDir: tempDir,
      quotaBytes,
      maxSizeBytes,
      diskSpace,
      now,
    });
    const previewFiles = new PreviewFiles(
      await prepareSharedDir(options.previewsDir, join(dataDir, PREVIEWS_DIR), 'previews'),
    );
    const previewWorker =
      options.previews === false
        ? undefined
        : new PreviewWorker({
            index: idx,
            blobs,
            files: previewFiles,
            renderer: await rendererFor(options.previews),
            logger,
            now,
            concurrency: options.previews?.concurrency,
            tempDir,
          });
    await previewWorker?.forgetCuredReasons();
    const compressor =
      options.compression === false || compressible === undefined
        ? undefined
        : new BlobCompressor({ index: idx, blobs: compressible, logger, tempDir });
    idx.onNewAssets = () => {
      previewWorker?.notify();
      compressor?.notify();
    };
    const previews = createPreviewsApi({
      index: idx,
      files: previewFiles,
      making: previewWorker !== undefined,
    });
    const registry = new DeviceRegistry(idx.devices, now, options.fleet);
    const devicesApi = createDevicesApi(registry);
    metrics.fleet = () => registry.list();
    const fleetPage = createFleetPage({
      adminToken: token,
      ...(options.fleetPageDir !== undefined ? { pageDir: options.fleetPageDir } : {}),
      secure: options.tls !== undefined,
      snapshot: async () => ({ now: now(), devices: await registry.list() }),
    });
    const converter = createAssetConverter(
      { index: idx, blobs, health, metrics, tempDir },
      {
        ffmpegPath:
          options.previews !== false && options.previews?.ffmpegPath !== undefined
            ? options.previews.ffmpegPath
            : await findFfmpeg(),
        heifDecoderPath:
          options.previews !== false && options.previews?.heifDecoderPath !== undefined
            ? options.previews.heifDecoderPath
            : await findHeifDecoder(),
      },
    );
    const api = createApi({
      convert: converter,
      index: idx,
      blobs,
      quotaBytes,
      now,
      health,
      metrics,
      batch,
      previews,
      trash: createTrashApi({
        index: idx,
        blobs,
        previews: previewFiles,
        now,
        retentionDays: options.trashRetentionDays ?? DEFAULT_TRASH_RETENTION_DAYS,
        logger,
      }),
    });

    const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const url = new URL(req.url ?? '/', 'http://vault.invalid');
      const method = req.method ?? 'GET';
      if (url.pathname === '/healthz') {
        if (method !== 'GET' && method !== 'HEAD') {
          throw new VaultHttpError(405, 'method_not_allowed', 'this resource answers GET only');
        }
        return sendJson(res, 200, { ok: true });
      }
      // The enrolment code is the credential of its exchange: no token yet.
      if (url.pathname === `/${ENROLL_PATH}`) return devicesApi.enrol(req, res);
      // The fleet page has its own sign-in: the admin token exchanged for a cookie.
      if (isFleetPath(url.pathname)) return fleetPage.handle(req, res, url);
      const principal = await registry.authenticate(req.headers.authorization, token);
      if (url.pathname === '/metrics') {
        if (principal.kind !== 'admin') {
          throw new VaultHttpError(403, 'forbidden', 'metrics need the vault administrator token');
        }
        const u = await idx.usage();
        const text = await metrics.render(u);
        res.writeHead(200, {
          'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
          'Content-Length': Buffer.byteLength(text),
        });
        res.end(text);
        return;
      }
      if (url.pathname.startsWith(API_PREFIX)) {
        const first = url.pathname.slice(API_PREFIX.length).split('/')[0];
        if (first === 'devices' || first === 'enrolments' || first === 'heartbeat') {
          return devicesApi.handle(req, res, principal, apiPathParts(url.pathname));
        }
        return api.handle(req, res, url, principal);
      }
      if (url.pathname === TUS_PATH || url.pathname.startsWith(`${TUS_PATH}/`)) {
        if (!['POST', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS'].includes(method)) {
          res.setHeader('Allow', 'POST, HEAD, PATCH, DELETE, OPTIONS');
          throw new VaultHttpError(
            405,
            'method_not_allowed',
            `tus uploads answer POST, HEAD, PATCH, DELETE and OPTIONS, not ${method}; content is served at /api/v1/assets/:sha256/content`,
          );
        }
        // tus 1.0 section 2.2: an unsupported (or missing) version gets 412 with Tus-Version.
        if (method !== 'OPTIONS' && req.headers['tus-resumable'] !== '1.0.0') {
          res.setHeader('Tus-Version', '1.0.0');
          throw new VaultHttpError(
            412,
            'precondition_failed',
            req.headers['tus-resumable'] === undefined
              ? 'the Tus-Resumable header is required (tus 1.0.0)'
              : `tus version ${String(req.headers['tus-resumable'])} is not supported; this vault speaks 1.0.0`,
          );
        }
        if (method === 'POST' && req.headers['upload-defer-length'] !== undefined) {
          throw new VaultHttpError(
            400,
            'bad_request',
            'the vault needs Upload-Length at creation (Upload-Defer-Length is not supported)',
          );
        }
        return tus.handle(req, res, principal);
      }
      throw new VaultHttpError(404, 'not_found', `nothing at ${url.pathname}`);
    };

    const inFlight = new Set<Promise<void>>();
    const handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const started = performance.now();
      const pathname = (req.url ?? '/').split('?')[0] ?? '/';
      res.on('finish', () => {
        metrics.observeRequest(
          routeClassOf(pathname),
          req.method ?? 'GET',
          res.statusCode,
          (performance.now() - started) / 1000,
        );
      });
      const p = route(req, res)
        .catch((err: unknown) => {
          // A request refused part-way through its body (a batch on a full disk, ...) closes
          // its connection once answered: the unread rest of the body would otherwise hold
          // the connection, and the client's next request queued behind it would stall.
          if (!req.complete && !res.headersSent) {
            const socket = res.socket;
            res.setHeader('Connection', 'close');
            res.once('finish', () => socket?.destroy());
          }
          if (res.headersSent) {
            res.destroy();
            return;
          }
          if (err instanceof VaultHttpError) {
            sendError(res, err);
            return;
          }
          if (isOutOfSpace(err)) {
            logger.warn('request refused: the disk is full', { path: pathname });
            return diskSpace.refusalAfterFailure('this request').then((e) => sendError(res, e));
          }
          logger.error('request failed', {
            method: req.method,
            path: pathname,
            error: String(err),
          });
          sendError(
            res,
            new VaultHttpError(500, 'internal', 'the vault failed to handle this request'),
          );
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };

    const { server, url, warnings } = await listen({
      host,
      port,
      tls: options.tls,
      timeouts: options.timeouts,
      handler: handleRequest,
    });
    for (const warning of warnings) logger.warn(warning);

    const runCleanup = () => {
      tus.cleanUpExpired().catch((err: unknown) => {
        logger.warn('expired-upload cleanup failed', { error: String(err) });
      });
    };
    runCleanup();
    const cleanupTimer = setInterval(
      runCleanup,
      Math.max(1000, Math.min(partialTtlMs / 2, 3_600_000)),
    );
    cleanupTimer.unref();
    const scrubber =
      options.scrub === false
        ? undefined
        : startScrubber({ index: idx, health, metrics, logger, now, options: options.scrub ?? {} });
    previewWorker?.start();
    compressor?.start();
    logger.info('vault listening', { url, dataDir, blobs: blobs.where });

    let closing: Promise<void> | undefined;
    return {
      url,
      warnings,
      token,
      tokenGenerated: generated,
      close: () => {
        closing ??= (async () => {
          clearInterval(cleanupTimer);
          const closed = new Promise<void>((r) => server.close(() => r()));
          server.closeIdleConnections();
          // Requests in flight get a moment to finish, then their connections are cut (a
          // cut upload keeps its partial and resumes later).
          const settle = Promise.allSettled([...inFlight]);
          const timer = setTimeout(() => server.closeAllConnections(), 2000);
          await settle;
          clearTimeout(timer);
          server.closeAllConnections();
          await closed;
          await Promise.allSettled([...inFlight]);
          await store.work.idle();
          await scrubber?.stop();
          await previewWorker?.stop();
          await compressor?.stop();
          await converter.close();
          blobs.close();
          await idx.close();
          await lock.release();
          logger.info('vault closed', { dataDir });
        })();
        return closing;
      },
    };
  } catch (err) {
    openedBlobs?.close();
    await index?.close();
    await lock.release();
    throw err;
  }
}
