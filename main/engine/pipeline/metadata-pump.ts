// Metadata off the hot path: reads exiftool metadata for hashed files and sends it to the vault
// once the vault holds the content (POST /api/v1/metadata, 500 files a request). It never
// moves a file's state: a slow, hung or failing exiftool delays metadata only, never an upload.
//
// Invariant: metadata_state goes pending -> read -> sent, and 'sent' is written only after
// the vault answered that it stored the record; a file whose content changes goes back to
// pending (the hash pump and reconcile reset it).
//
// [Note: Sending metadata]
// - Batches: up to 500 records per POST /api/v1/metadata; the vault answers per record. A
//   vault without that endpoint (404/405) gets one PUT .../assets/:sha256/metadata each.
// - A refused field (the vault names it, e.g. width 0) is dropped from what is sent, listed
//   in the record's `dropped` with the vault's words (metadata/refusals.ts), noted among the
//   file's problems, and the rest is resent: one bad value never costs the whole record.
// - A record the vault will not take at all (no field to drop, unknown asset, the request
//   refused for that file alone) stays 'read' with a problem saying so: it is not retried
//   this run, and is offered again on the next one.
// - Records go out in full batches while reads are still coming in: the vault makes one
//   synced commit per request (an fsync, on its event loop), so sending every few records
//   as exiftool finished them cost a 2,000-file first backup ~150 commits and 2 s of the
//   embedded vault's main thread. A partial batch is sent once nothing is being read any
//   more, or sendDelayMs after it was first held back, whichever comes first.
// - The vault failing as a whole (down, 5xx, timeouts) is retried with the shared backoff.
//   Nothing waits for that here: what is not sent is durably 'read' (or 'pending') in the
//   store, for the next run or the daemon; `backup` waits at most its grace period.
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { basename, extname } from 'node:path';
import { isAbortError, KeepsakeError } from '../errors.js';
import { backoffDelay, defaultBackoff } from './backoff.js';
import { detached } from './detached.js';
import {
  dropRefusedField,
  metadataToSend,
  parseStoredMetadata,
  refusalFromErrorBody,
  type StoredMetadata,
} from '../metadata/refusals.js';
import type { GroupingFacts, MediaMetadata, MetadataReader } from '../metadata/types.js';
import type { Clock, Logger, TimerHandle } from '../ports.js';
// the path the vault shows; its exact bytes travel in the file's location (location-pump.ts)
import { displayPath } from '../raw-path.js';
import { classifyByExtension } from '../watch/media-types.js';
import type { FileRecord, Store } from '../store/store.js';
import { UploadHttpError } from '../vault/response-table.js';
import type { MetadataItemResult, VaultClient } from '../vault/vault-client.js';
import { MAX_METADATA_BATCH_ITEMS as metadataBatchSize } from '../../../common/vault-protocol.js';

/** Ends the problem of a record the vault would not take this run. */
const heldSuffix = ' It will be offered again on the next run.';

/** Bound on the raw tags kept per file (the files.metadata column). */
const maxRawJsonBytes = 32 * 1024;

export interface MetadataPumpOptions {
  store: Store;
  reader: MetadataReader;
  /** null: no vault configured (metadata is read, not sent). */
  vault: VaultClient | null;
  clock: Clock;
  logger: Logger;
  /**
   * Reads in flight (the reader batches them over its exiftool processes); raised to what
   * the reader says keeps its processes busy.
   */
  concurrency: number;
  /** Do not send (dry run, or paused). Read on each pass. */
  sendingAllowed: () => boolean;
  /**
   * Longest a partial batch waits for more records while reads are in flight (default
   * 1000 ms). See [Note: Sending metadata].
   */
  sendDelayMs?: number;
  /**
   * Whether files are being hashed or uploaded (default: always). The reader leaves that work
   * a core while it is; see [Note: exiftool processes] in metadata/metadata-reader.ts.
   */
  engineBusy?: () => boolean;
  events: {
    fileChanged(file: FileRecord): void;
    pauseRequired(reason: 'sign_in_needed', message: string): void;
  };
}

export interface MetadataPump {
  kick(): void;
  /** Nothing being read or sent and nothing waiting to be (in the DB). */
  drained(): boolean;
  close(): Promise<void>;
}

export function createMetadataPump(options: MetadataPumpOptions): MetadataPump {
  const { store, reader, vault, clock, logger, events } = options;
  const device = hostname();
  const concurrency = Math.max(options.concurrency, reader.wantsInFlight ?? 0);
  const reading = new Map<number, Promise<void>>();
  const controller = new AbortController();
  // Every read and metadata PUT in flight listens on this one signal (one listener each,
  // removed when it settles): allow that many without Node's leak warning.
  setMaxListeners(concurrency * 2 + 10, controller.signal);
  let sending = false;
  let queued = false;
  let closed = false;
  let sendRetryTimer: TimerHandle | null = null;
  /** Set while a partial batch is held back for more records. */
  let flushTimer: TimerHandle | null = null;
  /** The held-back partial batch is due: send it even if reads are in flight. */
  let flushDue = false;
  const sendDelayMs = options.sendDelayMs ?? 1000;
  let sendFailures = 0;
  /** false once the vault answered 404/405 to POST /api/v1/metadata (an older vault). */
  let batchEndpoint = true;
  /** Files whose metadata the vault would not take this run (they stay 'read'). */
  const held = new Set<number>();

  function kick(): void {
    if (closed || queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      reader.setEngineBusy?.(options.engineBusy?.() ?? true);
      fillReads();
      void detached(sendAll(), { store, logger, what: 'sending metadata' });
    });
  }

  function fillReads(): void {
    const free = concurrency - reading.size;
    if (free <= 0 || closed) return;
    const files = store
      .metadataPending(free + reading.size)
      .filter((f) => !reading.has(f.id))
      .slice(0, free);
    for (const file of files) {
      const p = detached(read(file), { store, logger, what: 'reading metadata' }).finally(() => {
        reading.delete(file.id);
        kick();
      });
      reading.set(file.id, p);
    }
  }

  async function read(file: FileRecord): Promise<void> {
    let json: string;
    let problems: string[];
    let captureTime: string | null;
    let grouping: GroupingFacts | null = null;
    try {
      const xmp = file.mediaKind === 'media' ? xmpSidecarOf(file.path) : null;
      const result = await reader.read(
        file.path,
        file.mtimeMs,
        controller.signal,
        xmp === null ? undefined : { xmpSidecar: xmp },
      );
      let raw = JSON.stringify(result.raw);
      if (raw.length > maxRawJsonBytes) raw = JSON.stringify({ truncated: true });
      json = `{"metadata":${JSON.stringify(result.metadata)},"raw":${raw}}`;
      problems = result.problems.map((p) => p.message);
      captureTime = result.metadata.captureTime;
      grouping = result.grouping ?? null;
    } catch (err) {
      if (isAbortError(err) || closed) return;
      logger.warn('metadata read failed', { path: file.path, error: String(err) });
      json = JSON.stringify({ metadata: null, raw: {} });
      problems = ['The metadata could not be read; the file is backed up without it.'];
      captureTime = null;
    }
    // The file may have changed meanwhile: only record metadata for the same content.
    const now = store.getFile(file.id);
    if (now === null || now.sha256 !== file.sha256 || now.metadataState !== 'pending') return;
    store.groups.setFacts(file.id, grouping);
    store.setMetadata(file.id, json, problems, captureTime);
    const rec = store.getFile(file.id);
    if (rec) events.fileChanged(rec);
    // A new or changed XMP: the photo it belongs to is read again with it.
    if (file.mediaKind === 'sidecar' && /\.xmp$/i.test(file.path)) {
      const base = file.path.slice(0, -'.xmp'.length);
      const beside =
        classifyByExtension(basename(base))?.kind === 'media'
          ? { exact: base }
          : { prefix: `${base}.` };
      if (store.groups.rereadMedia(beside) > 0) kick();
    }
  }

  /**
   * The XMP sidecar a photo is read with: name.ext.xmp, else name.xmp, as the files beside it
   * (any letter case of the extension). See [Note: XMP sidecar precedence].
   */
  function xmpSidecarOf(path: string): string | null {
    const stem = path.slice(0, path.length - extname(path).length);
    for (const candidate of [`${path}.xmp`, `${path}.XMP`, `${stem}.xmp`, `${stem}.XMP`]) {
      const row = store.getFileByPath(candidate);
      if (row !== null && row.mediaKind === 'sidecar' && row.state !== 'missing') return candidate;
    }
    return null;
  }

  /**
   * Sends what is read, up to 500 files per request, until nothing is left, the vault fails
   * (retried later with backoff) or sending is not allowed. See [Note: Sending metadata].
   */
  async function sendAll(): Promise<void> {
    if (sending || closed || sendRetryTimer !== null || !options.sendingAllowed()) return;
    if (vault === null) return;
    sending = true;
    try {
      for (;;) {
        if (closed || !options.sendingAllowed()) return;
        // Counted first: the pump is kicked after every read and commit, and reading up to
        // 500 rows (with their metadata JSON) only to hold a partial batch back cost a
        // 2,000-file first backup ~0.4 s of the main thread. Held rows may be among them.
        if (
          reading.size > 0 &&
          !flushDue &&
          flushTimer !== null &&
          store.countMetadataToSend(metadataBatchSize + held.size) - held.size < metadataBatchSize
        ) {
          return;
        }
        const rows = store
          .metadataToSend(metadataBatchSize + held.size)
          .filter((r) => !held.has(r.file.id))
          .slice(0, metadataBatchSize);
        if (rows.length === 0) return;
        if (rows.length < metadataBatchSize && reading.size > 0 && !flushDue) {
          // More records are being read: wait for a fuller batch (bounded by the timer).
          flushTimer ??= clock.setTimeout(() => {
            flushTimer = null;
            flushDue = true;
            kick();
          }, sendDelayMs);
          flushTimer.unref?.();
          return;
        }
        flushDue = false;
        if (flushTimer !== null) clock.clearTimeout(flushTimer);
        flushTimer = null;
        if (!(await sendRows(rows)) || sendRetryTimer !== null) return;
      }
    } finally {
      sending = false;
    }
  }

  interface Outgoing {
    file: FileRecord & { sha256: string };
    stored: StoredMetadata;
    body: MediaMetadata;
  }

  /** One round: false when the vault failed as a whole (a retry is scheduled) or paused. */
  async function sendRows(rows: { file: FileRecord; metadataJson: string | null }[]) {
    const items: Outgoing[] = [];
    for (const { file, metadataJson } of rows) {
      const stored = parseStoredMetadata(metadataJson);
      const body =
        stored && metadataToSend(stored, { originalPath: displayPath(file.path), device });
      if (file.sha256 === null || !stored || !body) {
        store.setMetadataSent(file.id); // nothing was read: nothing to send
        continue;
      }
      items.push({ file: { ...file, sha256: file.sha256 }, stored, body });
    }
    if (items.length === 0) return true;
    let results: (MetadataItemResult | undefined)[];
    try {
      results = await sendItems(items);
    } catch (err) {
      if (isAbortError(err) || closed) return false;
      if (err instanceof KeepsakeError && err.code === 'sign_in_needed') {
        events.pauseRequired('sign_in_needed', err.message);
        return false;
      }
      if (err instanceof KeepsakeError && !err.retryable) {
        // The request as a whole was refused (too large, malformed): find the file it is
        // about by sending each alone; one alone that is refused waits for the next run.
        if (items.length > 1) {
          for (const item of items) {
            if (!(await sendRows([{ file: item.file, metadataJson: JSON.stringify(item.stored) }])))
              return false;
          }
          return true;
        }
        const [only] = items;
        if (only) hold(only, `The vault refused this file's metadata (${err.message}).`);
        return true;
      }
      scheduleRetry(err);
      return false;
    }
    sendFailures = 0;
    items.forEach((item, i) => settleItem(item, results[i]));
    return true;
  }

  function settleItem(item: Outgoing, result: MetadataItemResult | undefined): void {
    if (result === undefined) return; // not answered (a fallback round stopped early)
    if (result.status === 'stored') {
      // an earlier run's "not sent" note is no longer true
      const now = store.getFile(item.file.id);
      if (now?.metadataProblems.some((p) => p.endsWith(heldSuffix))) {
        const problems = now.metadataProblems.filter((p) => !p.endsWith(heldSuffix));
        store.setMetadata(now.id, JSON.stringify(item.stored), problems, now.captureTime);
      }
      store.setMetadataSent(item.file.id);
      return;
    }
    if (result.status === 'unknown_asset') {
      hold(item, 'The vault does not hold this file, so its metadata was not sent.');
      return;
    }
    const dropped = dropRefusedField(item.stored, result, {
      originalPath: displayPath(item.file.path),
      device,
    });
    if (dropped === null) {
      hold(
        item,
        `The vault refused this file's metadata (${result.message ?? 'no reason given'}).`,
      );
      return;
    }
    logger.warn('the vault refused a metadata field; resending without it', {
      path: item.file.path,
      field: result.field,
      message: result.message,
    });
    // still 'read': the next round sends the record without the field
    recordProblem(item.file.id, JSON.stringify(dropped.stored), dropped.note);
  }

  /** Leaves a file's metadata queued (not sent) for the next run, with a problem saying why. */
  function hold(item: Outgoing, why: string): void {
    held.add(item.file.id);
    logger.warn('metadata not sent', { path: item.file.path, why });
    recordProblem(item.file.id, JSON.stringify(item.stored), `${why}${heldSuffix}`);
  }

  function recordProblem(id: number, json: string, problem: string): void {
    const now = store.getFile(id);
    if (now === null || now.metadataState !== 'read') return;
    const problems = now.metadataProblems.includes(problem)
      ? now.metadataProblems
      : [...now.metadataProblems, problem];
    store.setMetadata(id, json, problems, now.captureTime);
    const rec = store.getFile(id);
    if (rec) events.fileChanged(rec);
  }

  /**
   * The vault's answer per item: one POST /api/v1/metadata, or one PUT per file from a vault
   * without the batch endpoint (404/405 on the POST). A fallback round that fails midway
   * answers what it got so far and throws only if nothing was answered.
   */
  async function sendItems(items: Outgoing[]): Promise<(MetadataItemResult | undefined)[]> {
    if (vault === null) return [];
    if (batchEndpoint) {
      try {
        return await vault.putMetadataBatch(
          items.map((i) => ({ sha256: i.file.sha256, metadata: i.body })),
          controller.signal,
        );
      } catch (err) {
        if (!(err instanceof UploadHttpError && (err.status === 404 || err.status === 405)))
          throw err;
        logger.info('the vault has no metadata batch endpoint; sending one file at a time');
        batchEndpoint = false;
      }
    }
    const results: (MetadataItemResult | undefined)[] = [];
    for (const item of items) {
      try {
        await vault.putMetadata(item.file.sha256, item.body, controller.signal);
        results.push({ sha256: item.file.sha256, status: 'stored' });
      } catch (err) {
        const sha256 = item.file.sha256;
        if (isAbortError(err)) throw err;
        if (err instanceof UploadHttpError && err.status === 404) {
          results.push({ sha256, status: 'unknown_asset' });
        } else if (err instanceof UploadHttpError && err.status === 400) {
          results.push({ sha256, status: 'refused', ...refusalFromErrorBody(err.responseBody) });
        } else if (
          err instanceof KeepsakeError &&
          !err.retryable &&
          err.code !== 'sign_in_needed'
        ) {
          results.push({ sha256, status: 'refused', message: err.message });
        } else if (results.length === 0) {
          throw err;
        } else {
          items.slice(results.length).forEach(() => results.push(undefined));
          scheduleRetry(err);
          break;
        }
      }
    }
    return results;
  }

  function scheduleRetry(err: unknown): void {
    if (closed || isAbortError(err)) return;
    sendFailures++;
    const delay = backoffDelay(defaultBackoff, sendFailures);
    logger.warn('sending metadata failed; will retry', { error: String(err), delay });
    if (sendRetryTimer === null) {
      sendRetryTimer = clock.setTimeout(() => {
        sendRetryTimer = null;
        kick();
      }, delay);
      sendRetryTimer.unref?.();
    }
  }

  return {
    kick,
    drained() {
      if (reading.size > 0 || sending || queued) return false;
      if (store.metadataPending(1).length > 0) return false;
      if (vault === null || !options.sendingAllowed()) return true;
      return store.metadataToSend(held.size + 1).every((r) => held.has(r.file.id));
    },
    async close() {
      closed = true;
      if (sendRetryTimer !== null) clock.clearTimeout(sendRetryTimer);
      if (flushTimer !== null) clock.clearTimeout(flushTimer);
      controller.abort();
      await Promise.allSettled([...reading.values()]);
    },
  };
}
