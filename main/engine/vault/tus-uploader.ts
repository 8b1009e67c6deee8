// Keepsake's tus 1.0 client (https://tus.io/protocols/resumable-upload), on got: creation
// (with upload, for small files), PATCH streamed from disk in chunks, HEAD to resume,
// termination. Works with the Keepsake Vault and any standard tus server.
//
// Invariant: the offset reported through onOffset is one the server sent back in an
// Upload-Offset header, never the count of bytes written; after any fault or restart the
// next byte sent is the one the server asked for (a HEAD comes first). See
// [Note: Upload response table] in response-table.ts for what each answer leads to.
//
// [Note: A lost final answer]
// When the answer to the last PATCH is lost (connection cut after the server got every
// byte), the vault has verified and stored the file and may have forgotten the upload:
// the HEAD that follows answers 404. Before starting the file over, the uploader asks the
// vault's dedup API whether it holds this SHA-256; if so the file is done (the vault only
// lists content whose bytes it hashed itself). A plain tus server keeps finished uploads,
// so its HEAD answers the full offset instead.
//
// [Note: Creation with upload]
// A file no larger than one chunk is sent in the creation request itself (tus
// creation-with-upload), so a photo costs one request, not two. The price: its URL is only
// known after its bytes went out, so a crash mid-request re-sends that one chunk (the
// bound the design allows) and leaves an orphan partial on the server, which the server's
// expiration removes. Larger files are created empty, their URL persisted through
// onCreated, and only then is data sent. A server that ignores the body (no
// creation-with-upload) answers without Upload-Offset; we then PATCH from 0 as usual.
//
// [Note: Hash while sending]
// A large file may come unhashed (job.sha256 null) so that it is read once, not once to hash
// and again to send. The uploader creates it with `Keepsake-Deferred-Hash: 1` and no sha256
// in Upload-Metadata, hashes each chunk as it streams it, and sends the digest as
// `Keepsake-Sha256` on the final PATCH; the vault answers that PATCH 204 only when its own
// hash of the stored bytes matches (460 otherwise). HTTP headers precede the body, so the
// last chunk is hashed from disk just before the final PATCH and then sent: at most one
// chunk is read twice, the second time from the page cache. Bytes streamed in a PATCH that
// the server did not confirm are taken back out of the running hash (a copy taken before
// the PATCH, then the confirmed part re-read). After a crash the hash state is not
// persisted: on resume the confirmed prefix [0, offset) is re-read from disk to rebuild it
// (local reads only; nothing is re-sent). With no hash taken beforehand, a file rewritten
// between two chunks is caught by its size and mtime, checked before every PATCH and before
// the digest (file_changed), as any read-once backup tool does; a rewrite of the last chunk
// after it was hashed fails the vault's check (460). Files no larger than one chunk are hashed before
// their single request and use the old path. A plain tus server (token null) gets neither
// header: it stores what it is sent and the uploader returns the hash it computed.
// Whenever the digest is known, the final PATCH to a Keepsake Vault carries it, so an
// upload created either way finishes the same.
//
// [Note: A copy the vault may hold]
// An unhashed file skipped the dedup check. The vault's answer to its creation says
// (Keepsake-Size-Held: 1) when it already holds content of exactly this size: then, before
// a byte is sent, the file is hashed from disk and the vault asked by that hash; if it holds
// it, the new upload is terminated and the file is done, as after a dedup check. Exact sizes
// of distinct multi-megabyte files rarely collide, so this costs a local read only where a
// copy is likely (another device's, or this device's after its database was lost), and
// saves sending it.
import { type Hash, createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { open, type FileHandle } from 'node:fs/promises';
import { fsPath } from '../raw-path.js';
import { Readable } from 'node:stream';
import {
  DEFERRED_HASH_HEADER,
  FINAL_SHA256_HEADER,
  SIZE_HELD_HEADER,
  withoutControlCharacters,
} from '../../../common/vault-protocol.js';
import { KeepsakeError, fromFsError } from '../errors.js';
import { backoffDelay } from '../pipeline/backoff.js';
import type { Clock, Logger } from '../ports.js';
import { type BandwidthPolicy, formatRate } from './bandwidth.js';
import { type HttpClient, createHttpClient, redactUrl } from './http-client.js';
import { ProgressMeter } from './progress.js';
import {
  type ResponseAction,
  UploadHttpError,
  abortReason,
  actionForStatus,
  isNetworkError,
  untrustedCertificate,
} from './response-table.js';
import { BandwidthThrottle } from './throttle.js';
import type {
  BatchItemOutcome,
  BatchUploadJob,
  UploadCallbacks,
  UploadJob,
  UploadResult,
  Uploader,
} from './types.js';
import { BatchesNotSupported, uploadBatches } from './batch-upload.js';
import { type VaultClient, createVaultClient } from './vault-client.js';

export interface TusUploaderOptions {
  /** Vault base URL, e.g. http://127.0.0.1:7418; uploads go to `${endpoint}/files/`. */
  endpoint: string;
  /** Bearer token; null for a plain tus server. */
  token: string | null;
  /** Default 8 MiB. */
  chunkSizeBytes?: number;
  bandwidth?: BandwidthPolicy | null;
  /** PEM bundle added to the system's trusted CAs (corporate TLS inspection). */
  caFile?: string;
  logger: Logger;
  clock: Clock;
  /** Consecutive transient failures without progress before giving up; default 10. */
  maxNetworkRetries?: number;
  /** A socket silent this long counts as a network fault; default 30 s. */
  idleTimeoutMs?: number;
  /** First backoff delay; doubles per consecutive failure up to retryMaxDelayMs. Default 500 ms. */
  retryBaseDelayMs?: number;
  /** Default 30 s. */
  retryMaxDelayMs?: number;
  /** undefined = HTTP(S)_PROXY/NO_PROXY from env; null = no proxy; a URL = always this proxy. */
  proxyUrl?: string | null;
  /** The environment to read proxy variables from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * The engine's one HTTP client to this vault (shared with the vault client); when absent
   * the uploader builds its own from caFile/proxyUrl/env. A given client is not destroyed
   * by close(): its owner does that.
   */
  http?: HttpClient;
}

const TUS_VERSION = '1.0.0';
/** Error codes that concern one file, not the vault or the network. */
const FILE_CODES: ReadonlySet<string> = new Set([
  'file_changed',
  'file_not_found',
  'permission_denied',
  'not_a_regular_file',
  'read_error',
  'verification_failed',
  'too_large',
  'upload_rejected',
]);
const DEFAULT_CHUNK = 8 * 1024 * 1024;
const READ_BUFFER = 256 * 1024;

export function createTusUploader(options: TusUploaderOptions): TusUploader {
  return new TusUploader(options);
}

/** Thrown inside a session when the server's answer needs the response table. */
class StatusAction extends Error {
  constructor(readonly action: ResponseAction) {
    super(action.kind === 'fail' ? action.error.message : action.reason);
  }
}

export class TusUploader implements Uploader {
  readonly chunkSize: number;
  readonly filesUrl: string;
  readonly http: HttpClient;
  private readonly ownsHttp: boolean;
  /** The dedup API of a Keepsake Vault over the same HTTP client; null for plain tus. */
  private readonly vault: VaultClient | null;
  readonly throttle: BandwidthThrottle;
  private readonly active = new Set<AbortController>();
  private closed = false;
  /** false once the vault answered 404/405 to a batch: small files go one by one. */
  private batchSupport = true;

  constructor(readonly options: TusUploaderOptions) {
    this.chunkSize = options.chunkSizeBytes ?? DEFAULT_CHUNK;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1) {
      throw new KeepsakeError('invalid_argument', `Chunk size ${this.chunkSize} is not valid.`);
    }
    let base: URL;
    try {
      base = new URL(options.endpoint);
    } catch (err) {
      throw new KeepsakeError(
        'invalid_argument',
        `"${options.endpoint}" is not a vault URL (expected e.g. https://vault.example.com).`,
        false,
        { cause: err },
      );
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new KeepsakeError(
        'invalid_argument',
        `The vault URL must start with https:// or http://, not ${base.protocol}`,
      );
    }
    this.filesUrl = new URL('files/', base.href.endsWith('/') ? base.href : `${base.href}/`).href;
    this.ownsHttp = options.http === undefined;
    this.http =
      options.http ??
      createHttpClient({
        endpoint: base.href,
        ...(options.caFile !== undefined ? { caFile: options.caFile } : {}),
        ...(options.proxyUrl !== undefined ? { proxyUrl: options.proxyUrl } : {}),
        ...(options.env !== undefined ? { env: options.env } : {}),
        idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
      });
    this.vault =
      options.token === null
        ? null
        : createVaultClient({ endpoint: base.href, token: options.token, http: this.http });
    this.throttle = new BandwidthThrottle(options.clock, options.bandwidth ?? null);
    options.logger.debug('uploader ready', {
      filesUrl: redactUrl(this.filesUrl),
      chunkSize: this.chunkSize,
      proxy: this.http.proxy,
      bandwidth: formatRate(this.throttle.currentRate()),
    });
  }

  async upload(
    job: UploadJob,
    callbacks: UploadCallbacks,
    signal: AbortSignal,
  ): Promise<UploadResult> {
    if (this.closed) throw new KeepsakeError('internal', 'The uploader is closed.');
    throwIfAborted(signal);
    // One controller per upload, aborted by the caller's signal or by close(). (Not
    // AbortSignal.any: the queue may reuse one long-lived signal for many uploads.)
    const controller = new AbortController();
    const forward = () => controller.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    this.active.add(controller);
    const combined = controller.signal;
    let handle: FileHandle | null = null;
    try {
      try {
        handle = await open(fsPath(job.path), 'r');
      } catch (err) {
        throw fromFsError(err, job.path);
      }
      const session = new UploadSession(this, job, callbacks, combined, handle);
      return await session.run();
    } finally {
      signal.removeEventListener('abort', forward);
      this.active.delete(controller);
      // Not awaited: with the threadpool busy (an in-process vault fsyncing), a close can
      // wait behind it, and a pause must answer within a second.
      void handle?.close().catch(() => {});
    }
  }

  /**
   * Small files in one request each batch (batch-upload.ts). A plain tus server (no token)
   * or a vault without the batch endpoint gets them one by one through upload().
   */
  async uploadBatch(
    jobs: readonly BatchUploadJob[],
    signal: AbortSignal,
    onSent?: (bytes: number) => void,
  ): Promise<BatchItemOutcome[]> {
    if (this.closed) throw new KeepsakeError('internal', 'The uploader is closed.');
    throwIfAborted(signal);
    const token = this.options.token;
    if (token !== null && this.batchSupport) {
      const controller = new AbortController();
      const forward = () => controller.abort(signal.reason);
      signal.addEventListener('abort', forward, { once: true });
      this.active.add(controller);
      try {
        return await uploadBatches(
          {
            http: this.http,
            batchUrl: new URL('api/v1/batch', this.filesUrl.replace(/files\/$/, '')).href,
            token,
            throttle: this.throttle,
            clock: this.options.clock,
            logger: this.options.logger.child({ part: 'batch' }),
            maxRetries: this.maxRetries,
            backoff: (attempt) => this.backoff(attempt),
            ...(onSent ? { onSent } : {}),
          },
          jobs,
          controller.signal,
        );
      } catch (err) {
        if (!(err instanceof BatchesNotSupported)) throw err;
        this.batchSupport = false;
        this.options.logger.info('the vault takes no batches; sending small files one by one');
      } finally {
        signal.removeEventListener('abort', forward);
        this.active.delete(controller);
      }
    }
    const outcomes: BatchItemOutcome[] = [];
    for (const job of jobs) outcomes.push(await this.uploadAlone(job, signal, onSent));
    return outcomes;
  }

  batchesSupported(): boolean {
    return this.options.token !== null && this.batchSupport;
  }

  /** One file of a batch through upload(); errors of that file become its outcome. */
  private async uploadAlone(
    job: BatchUploadJob,
    signal: AbortSignal,
    onSent?: (bytes: number) => void,
  ): Promise<BatchItemOutcome> {
    const quiet = {
      onCreated: () => {},
      onOffset: () => {},
      onProgress: () => {},
      ...(onSent ? { onSent } : {}),
    };
    try {
      const result = await this.upload({ ...job, resume: null }, quiet, signal);
      return { fileId: job.fileId, sha256: result.sha256, outcome: 'stored' };
    } catch (err) {
      if (err instanceof KeepsakeError && FILE_CODES.has(err.code)) {
        return { fileId: job.fileId, sha256: job.sha256, outcome: 'refused', error: err };
      }
      throw err; // the vault, the network, or a pause: the whole batch
    }
  }

  async abandon(uploadUrl: string, signal?: AbortSignal): Promise<void> {
    const log = this.options.logger.child({ uploadUrl: redactUrl(uploadUrl) });
    const sig = signal ?? new AbortController().signal;
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(sig);
      let delay: number | null = null;
      try {
        const res = await this.request('DELETE', uploadUrl, {}, sig);
        if (
          res.statusCode === 204 ||
          res.statusCode === 200 ||
          res.statusCode === 404 ||
          res.statusCode === 410
        ) {
          log.debug('upload terminated', { status: res.statusCode });
          return;
        }
        const action = this.actionFor('DELETE', uploadUrl, res);
        if (action.kind === 'fail') throw action.error;
        delay = action.kind === 'retry' ? action.delayMs : null;
      } catch (err) {
        if (sig.aborted) throw abortReason(sig);
        if (err instanceof KeepsakeError) throw err;
        if (!isNetworkError(err)) throw err;
        const tls = untrustedCertificate(err);
        if (tls) throw tls;
      }
      if (attempt > Math.min(3, this.maxRetries)) {
        throw new KeepsakeError('network', 'Could not reach the vault to cancel an upload.', true);
      }
      await this.options.clock.sleep(delay ?? this.backoff(attempt), sig);
    }
  }

  setBandwidthLimit(bytesPerSecond: number | null): void {
    this.throttle.setBytesPerSecond(bytesPerSecond);
    this.options.logger.info('bandwidth limit', { limit: formatRate(bytesPerSecond) });
  }

  setBandwidthPolicy(policy: BandwidthPolicy | null): void {
    this.throttle.setPolicy(policy);
    this.options.logger.info('bandwidth policy', {
      policy:
        policy?.kind === 'schedule' ? policy.text : formatRate(policy?.bytesPerSecond ?? null),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.active) c.abort(new DOMException('The uploader is closing', 'AbortError'));
    this.throttle.close();
    if (this.ownsHttp) this.http.destroy();
    await Promise.resolve();
  }

  // --- shared by sessions ---

  /**
   * Whether a Keepsake Vault already holds verified content with this SHA-256 (its dedup
   * API). Plain tus servers (token null) have no such API: always false. Any failure
   * answers false, which only costs a re-upload.
   */
  async vaultHolds(sha256: string, signal: AbortSignal): Promise<boolean> {
    if (this.vault === null) return false;
    try {
      return (await this.vault.check([sha256], signal)).has(sha256);
    } catch {
      if (signal.aborted) throw abortReason(signal);
      return false;
    }
  }

  get maxRetries(): number {
    return this.options.maxNetworkRetries ?? 10;
  }

  backoff(attempt: number): number {
    return backoffDelay(
      {
        baseMs: this.options.retryBaseDelayMs ?? 500,
        maxMs: this.options.retryMaxDelayMs ?? 30_000,
        maxAttempts: this.maxRetries,
      },
      attempt,
    );
  }

  headers(extra: Record<string, string>): Record<string, string> {
    return {
      'tus-resumable': TUS_VERSION,
      ...(this.options.token !== null ? { authorization: `Bearer ${this.options.token}` } : {}),
      ...extra,
    };
  }

  request(
    method: 'POST' | 'PATCH' | 'HEAD' | 'DELETE',
    url: string,
    headers: Record<string, string>,
    signal: AbortSignal,
    body?: NodeJS.ReadableStream,
  ) {
    return this.http.got(url, {
      method,
      headers: this.headers(headers),
      signal,
      ...(body ? { body: body as never } : {}),
    });
  }

  actionFor(
    method: string,
    url: string,
    res: {
      statusCode: number;
      body: string;
      headers: Record<string, string | string[] | undefined>;
    },
  ): ResponseAction {
    const retryAfter = res.headers['retry-after'];
    return actionForStatus({
      method,
      url,
      status: res.statusCode,
      body: res.body,
      retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      nowMs: this.options.clock.now(),
    });
  }
}

/** One file's upload: the loop of create / HEAD / PATCH and recovery. */
class UploadSession {
  private url: string | null;
  /** The server-confirmed offset; null = unknown (HEAD before sending anything). */
  private offset: number | null;
  private reported = -1;
  private failures = 0;
  /** The URL of an upload the server no longer knows, until a new one is created. */
  private lostUrl: string | null = null;
  private readonly log: Logger;
  private readonly meter: ProgressMeter;
  /** The content's SHA-256: job.sha256, or once known for a job sent unhashed. */
  private sha256: string | null;
  /** For a job sent unhashed: the running hash of bytes [0, hashedUpTo). */
  private hash: Hash | null;
  private hashedUpTo = 0;

  constructor(
    private readonly up: TusUploader,
    private readonly job: UploadJob,
    private readonly callbacks: UploadCallbacks,
    private readonly signal: AbortSignal,
    private readonly handle: FileHandle,
  ) {
    this.url = job.resume?.uploadUrl ?? null;
    this.offset = this.url === null ? 0 : null;
    this.log = up.options.logger.child({ fileId: job.fileId });
    this.sha256 = job.sha256;
    this.hash = job.sha256 === null ? createHash('sha256') : null;
    this.meter = new ProgressMeter(up.options.clock, job.fileId, job.size, (s) =>
      callbacks.onProgress(s),
    );
  }

  async run(): Promise<UploadResult> {
    for (;;) {
      throwIfAborted(this.signal);
      try {
        if (this.url === null) {
          const lost = this.lostUrl;
          if (lost !== null && (await this.up.vaultHolds(await this.digest(), this.signal))) {
            // See [Note: A lost final answer].
            this.log.info('the vault already verified this content', { size: this.job.size });
            this.meter.update(this.job.size, true);
            return { sha256: await this.digest(), uploadUrl: lost };
          }
          this.lostUrl = null;
          await this.create();
          if (this.url !== null && (await this.heldAlready(this.url))) {
            this.meter.update(this.job.size, true);
            return { sha256: await this.digest(), uploadUrl: this.url };
          }
        } else if (this.offset === null) {
          await this.head();
        } else if (this.offset < this.job.size) {
          await this.patch();
        }
        if (this.url !== null && this.offset === this.job.size) {
          this.meter.update(this.job.size, true);
          this.log.debug('upload complete', { size: this.job.size });
          return { sha256: await this.digest(), uploadUrl: this.url };
        }
      } catch (err) {
        await this.recover(err);
      }
    }
  }

  // --- the tus requests ---

  private async create(): Promise<void> {
    const job = this.job;
    const withData = job.size > 0 && job.size <= this.up.chunkSize;
    if (withData) await this.checkFileUnchanged();
    // One request (or none) of data: hash first, the old way. See [Note: Hash while sending].
    if (job.size <= this.up.chunkSize) await this.digest();
    const headers: Record<string, string> = {
      'upload-length': String(job.size),
      'upload-metadata': encodeMetadata(job, this.sha256),
    };
    if (this.sha256 === null && this.up.options.token !== null) {
      headers[DEFERRED_HASH_HEADER.toLowerCase()] = '1';
    }
    const res = await this.send('POST', this.up.filesUrl, headers, withData ? 0 : null, job.size);
    if (res.statusCode !== 201)
      throw new StatusAction(this.up.actionFor('POST', this.up.filesUrl, res));
    const location = header(res.headers, 'location');
    if (!location) {
      throw new UploadHttpError(
        'upload_rejected',
        'The vault created the upload but sent no Location.',
        false,
        {
          method: 'POST',
          url: this.up.filesUrl,
          status: 201,
        },
      );
    }
    this.url = new URL(location, this.up.filesUrl).href;
    this.sizeHeld = header(res.headers, SIZE_HELD_HEADER.toLowerCase()) === '1';
    this.offset = 0;
    this.callbacks.onCreated(this.url);
    this.reported = 0;
    const confirmed = parseOffset(header(res.headers, 'upload-offset'));
    if (withData && confirmed !== null) this.confirm(confirmed, job.size);
    this.log.debug('upload created', { url: redactUrl(this.url), offset: this.offset });
  }

  /**
   * After creating an unhashed upload the vault said may be a copy: hashes the file and asks.
   * True (the new upload terminated) when the vault holds it. See [Note: A copy the vault may
   * hold].
   */
  private async heldAlready(url: string): Promise<boolean> {
    if (!this.sizeHeld || this.sha256 !== null) return false;
    this.sizeHeld = false;
    const sha256 = await this.digest();
    if (!(await this.up.vaultHolds(sha256, this.signal))) return false;
    this.log.info('the vault already holds this content; not sending it', { size: this.job.size });
    await this.up.abandon(url, this.signal).catch(() => {});
    return true;
  }

  /** The creation's answer said the vault holds content of this size (deferred hash only). */
  private sizeHeld = false;

  private async head(): Promise<void> {
    const url = this.url ?? '';
    const res = await this.up.request('HEAD', url, {}, this.signal);
    if (res.statusCode !== 200 && res.statusCode !== 204) {
      throw new StatusAction(this.up.actionFor('HEAD', url, res));
    }
    const offset = parseOffset(header(res.headers, 'upload-offset'));
    const length = parseOffset(header(res.headers, 'upload-length'));
    if (
      offset === null ||
      offset > this.job.size ||
      (length !== null && length !== this.job.size)
    ) {
      // Not an upload of this file (or a broken answer): start afresh.
      throw new StatusAction({
        kind: 'restart',
        reason: `HEAD answered offset ${offset} length ${length}`,
      });
    }
    this.offset = offset;
    if (offset !== this.reported) {
      this.reported = offset;
      this.callbacks.onOffset(offset);
    }
    this.meter.update(offset, true);
    this.log.debug('resuming', { offset });
  }

  private async patch(): Promise<void> {
    const url = this.url ?? '';
    const start = this.offset ?? 0;
    await this.checkFileUnchanged();
    const end = Math.min(this.job.size, start + this.up.chunkSize);
    const headers: Record<string, string> = { 'upload-offset': String(start) };
    // See [Note: Hash while sending].
    const final = end === this.job.size;
    if (final) {
      const sha256 = await this.digest();
      if (this.up.options.token !== null) headers[FINAL_SHA256_HEADER.toLowerCase()] = sha256;
    } else {
      await this.hashUpTo(start);
    }
    const hashing = !final && this.hash !== null && this.sha256 === null;
    const before = hashing ? (this.hash?.copy() ?? null) : null;
    let res;
    try {
      res = await this.send('PATCH', url, headers, start, end, hashing);
    } finally {
      if (before !== null) this.rewindHash(before, start);
    }
    if (res.statusCode !== 204 && res.statusCode !== 200) {
      throw new StatusAction(this.up.actionFor('PATCH', url, res));
    }
    const confirmed = parseOffset(header(res.headers, 'upload-offset'));
    if (before !== null && confirmed === end) {
      // Every byte hashed on the way was confirmed: keep them.
      this.hash = this.sentHash;
      this.hashedUpTo = end;
    }
    if (confirmed === null || confirmed < start || confirmed > this.job.size) {
      throw new StatusAction({
        kind: 'resync',
        reason: `PATCH answered Upload-Offset ${confirmed}`,
      });
    }
    this.confirm(confirmed, end);
  }

  /** Records a server-confirmed offset; a short one means the rest was not stored. */
  private confirm(confirmed: number, sentUpTo: number): void {
    const before = this.offset ?? 0;
    this.offset = confirmed;
    if (confirmed > before || confirmed !== this.reported) {
      if (confirmed > before) this.failures = 0;
      this.reported = confirmed;
      this.callbacks.onOffset(confirmed);
    }
    this.meter.update(confirmed, confirmed === this.job.size);
    if (confirmed < sentUpTo) {
      this.log.warn('server stored less than was sent', { sentUpTo, confirmed });
      if (confirmed <= before) {
        throw new StatusAction({ kind: 'retry', delayMs: null, reason: 'no bytes stored' });
      }
    }
  }

  /**
   * Sends one request; with `from` set, streams file bytes [from, to) through the throttle
   * as its body. Network faults surface as got's RequestError; a file that ends early as
   * 'file_changed'.
   */
  private async send(
    method: 'POST' | 'PATCH',
    url: string,
    headers: Record<string, string>,
    from: number | null,
    to: number,
    hashing = false,
  ) {
    if (from === null) return this.up.request(method, url, headers, this.signal);
    const length = to - from;
    let onWire = 0;
    const sentHash = hashing ? this.hash : null;
    this.sentHash = sentHash;
    // Only errors of the file itself count as file errors: got destroys the body with its
    // own (network) errors, which must stay network errors.
    const failure: { error: KeepsakeError | null } = { error: null };
    const body = new FileRangeBody(
      this.handle,
      from,
      to,
      this.up.throttle,
      this.signal,
      (n) => {
        this.callbacks.onSent?.(n - onWire);
        onWire = n;
        this.meter.update(from + n);
      },
      sentHash === null ? null : (slice) => sentHash.update(slice),
      (err) => {
        failure.error ??= err instanceof KeepsakeError ? err : fromFsError(err, this.job.path);
        return failure.error;
      },
    );
    try {
      return await this.up.request(
        method,
        url,
        {
          ...headers,
          'content-type': 'application/offset+octet-stream',
          'content-length': String(length),
        },
        this.signal,
        body,
      );
    } catch (err) {
      if (failure.error) throw failure.error;
      throw err;
    } finally {
      body.destroy();
    }
  }

  /** The hash object streamed into by the PATCH in flight (hash while sending). */
  private sentHash: Hash | null = null;

  /**
   * After a hashing PATCH: the running hash goes back to `before` (bytes [0, start)) unless
   * the PATCH's bytes were all confirmed (patch() then keeps the streamed-into hash).
   */
  private rewindHash(before: Hash, start: number): void {
    this.hash = before;
    this.hashedUpTo = start;
  }

  /** Brings the running hash up to `target` by reading the file (resume, a short PATCH). */
  private async hashUpTo(target: number): Promise<void> {
    if (this.hash === null || this.sha256 !== null) return;
    if (this.hashedUpTo > target) {
      this.hash = createHash('sha256');
      this.hashedUpTo = 0;
    }
    if (this.hashedUpTo < target) {
      this.log.debug('re-reading the confirmed prefix to rebuild its hash', {
        from: this.hashedUpTo,
        to: target,
      });
      await readInto(this.hash, this.handle, this.hashedUpTo, target, this.job.path);
      this.hashedUpTo = target;
    }
  }

  /** The content's SHA-256, computing it from disk if the job came unhashed. */
  private async digest(): Promise<string> {
    if (this.sha256 !== null) return this.sha256;
    await this.checkFileUnchanged();
    const hash = this.hash ?? createHash('sha256');
    const rest = hash.copy();
    await readInto(
      rest,
      this.handle,
      this.hash === null ? 0 : this.hashedUpTo,
      this.job.size,
      this.job.path,
    );
    this.sha256 = rest.digest('hex');
    return this.sha256;
  }

  private async checkFileUnchanged(): Promise<void> {
    let viaHandle;
    let viaPath;
    try {
      [viaHandle, viaPath] = await Promise.all([this.handle.stat(), stat(fsPath(this.job.path))]);
    } catch (err) {
      throw fromFsError(err, this.job.path);
    }
    const same = (s: { size: number; mtimeMs: number }) =>
      s.size === this.job.size && Math.abs(s.mtimeMs - this.job.mtimeMs) < 1;
    if (!same(viaHandle) || !same(viaPath) || viaHandle.ino !== viaPath.ino) {
      throw new KeepsakeError(
        'file_changed',
        `The file changed while it was being uploaded; it will be hashed again: ${this.job.path}`,
        true,
      );
    }
  }

  // --- recovery ---

  private async recover(err: unknown): Promise<void> {
    if (this.signal.aborted) throw abortReason(this.signal);
    let action: ResponseAction;
    if (err instanceof StatusAction) {
      action = err.action;
    } else if (err instanceof KeepsakeError) {
      if (err.code === 'file_changed' && this.url !== null) {
        // The partial no longer matches any content worth keeping: free it on the vault.
        await this.up.abandon(this.url, this.signal).catch(() => {});
      }
      throw err;
    } else if (isNetworkError(err)) {
      const tls = untrustedCertificate(err);
      if (tls) throw tls;
      const e = err as Error & { code?: string };
      action = { kind: 'retry', delayMs: null, reason: `${e.code ?? 'network'}: ${e.message}` };
    } else {
      throw err; // a bug
    }
    if (action.kind === 'fail') throw action.error;

    this.failures += 1;
    if (this.failures > this.up.maxRetries) {
      throw new KeepsakeError(
        'network',
        `Could not reach the vault after ${this.up.maxRetries} attempts (${action.reason}); will try again later.`,
        true,
      );
    }
    let delay: number;
    if (action.kind === 'restart') {
      this.log.info('upload gone on the server, starting a new one', { reason: action.reason });
      this.lostUrl = this.url;
      this.url = null;
      this.offset = 0;
      delay = this.failures === 1 ? 0 : this.up.backoff(this.failures - 1);
    } else if (action.kind === 'resync') {
      this.offset = null;
      delay = this.failures === 1 ? 0 : this.up.backoff(this.failures - 1);
    } else {
      if (this.url !== null) this.offset = null; // learn what the server kept
      delay = action.delayMs ?? this.up.backoff(this.failures);
    }
    if (this.reported >= 0) this.meter.update(this.reported, true);
    this.log.info('upload interrupted, will retry', {
      reason: action.reason,
      attempt: this.failures,
      delayMs: delay,
    });
    if (delay > 0)
      await this.up.options.clock.sleep(delay, this.signal).catch(() => {
        throw abortReason(this.signal);
      });
  }
}

/**
 * File bytes [from, to) read with positioned reads through the shared throttle, counted.
 * Never closes the file handle (the session owns it). A file that ends early fails the
 * body with 'file_changed'.
 */
class FileRangeBody extends Readable {
  private position: number;
  private reading = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly from: number,
    private readonly to: number,
    private readonly throttle: BandwidthThrottle,
    private readonly signal: AbortSignal,
    private readonly onBytes: (sent: number) => void,
    /** Sees every slice before it is pushed (hash while sending), or null. */
    private readonly onSlice: ((slice: Buffer) => void) | null,
    private readonly fileError: (err: unknown) => KeepsakeError,
  ) {
    super({ highWaterMark: READ_BUFFER });
    this.position = from;
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    void this.readSlice().then(
      (slice) => {
        this.reading = false;
        if (this.destroyed) return;
        if (slice === null) {
          this.push(null);
          return;
        }
        this.position += slice.length;
        this.onBytes(this.position - this.from);
        this.onSlice?.(slice);
        this.push(slice);
      },
      (err: unknown) => {
        this.reading = false;
        if (this.signal.aborted) this.destroy(abortReason(this.signal));
        else this.destroy(this.fileError(err));
      },
    );
  }

  /** The next slice of the range (after the throttle let it through), or null at its end. */
  private async readSlice(): Promise<Buffer | null> {
    const remaining = this.to - this.position;
    if (remaining <= 0) return null;
    const want = await this.throttle.take(Math.min(READ_BUFFER, remaining), this.signal);
    const buffer = Buffer.allocUnsafe(want);
    let filled = 0;
    while (filled < want) {
      const { bytesRead } = await this.handle.read(
        buffer,
        filled,
        want - filled,
        this.position + filled,
      );
      if (bytesRead === 0) {
        throw new KeepsakeError(
          'file_changed',
          'The file got shorter while it was being uploaded; it will be hashed again.',
          true,
        );
      }
      filled += bytesRead;
    }
    return buffer;
  }
}

/** Bytes [from, to) of the file into `hash` (local reads, no throttle). */
async function readInto(
  hash: Hash,
  handle: FileHandle,
  from: number,
  to: number,
  path: string,
): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(READ_BUFFER * 4, Math.max(1, to - from)));
  for (let at = from; at < to;) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, to - at), at));
    } catch (err) {
      throw fromFsError(err, path);
    }
    if (bytesRead === 0) {
      throw new KeepsakeError(
        'file_changed',
        `The file got shorter while it was being uploaded; it will be hashed again: ${path}`,
        true,
      );
    }
    hash.update(buffer.subarray(0, bytesRead));
    at += bytesRead;
  }
}

function encodeMetadata(job: UploadJob, sha256: string | null): string {
  const pairs: [string, string][] = [
    // The vault refuses control characters (a newline) in these labels; the exact bytes of a
    // name travel in its location (pathB64), so a readable stand-in loses nothing.
    ['filename', withoutControlCharacters(job.filename)],
    ...(sha256 !== null ? [['sha256', sha256] as [string, string]] : []),
    ['mtime', String(Math.trunc(job.mtimeMs))],
    ['relpath', withoutControlCharacters(job.relPath)],
  ];
  if (job.mime !== null) pairs.push(['mime', job.mime]);
  return pairs.map(([k, v]) => `${k} ${Buffer.from(v, 'utf8').toString('base64')}`).join(',');
}

function header(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseOffset(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value.trim())) return null;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : null;
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortReason(signal);
}
