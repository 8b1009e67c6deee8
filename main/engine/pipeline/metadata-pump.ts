// Metadata off the hot path: reads exiftool metadata for hashed files and sends it to the vault
// once the vault holds the content (PUT /api/v1/assets/:sha256/metadata). It never moves a
// file's state: a slow, hung or failing exiftool delays metadata only, never an upload.
//
// Invariant: metadata_state goes pending -> read -> sent; a file whose content changes goes
// back to pending (the hash pump and reconcile reset it).
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { isAbortError, KeepsakeError } from '../errors.js';
import { backoffDelay, defaultBackoff } from './backoff.js';
import type { MediaMetadata, MetadataReader } from '../metadata/types.js';
import type { Clock, Logger, TimerHandle } from '../ports.js';
import type { FileRecord, Store } from '../store/store.js';
import type { VaultClient } from '../vault/vault-client.js';

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
  let sendFailures = 0;

  function kick(): void {
    if (closed || queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      fillReads();
      void sendAll();
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
      const p = read(file).finally(() => {
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
    try {
      const result = await reader.read(file.path, file.mtimeMs, controller.signal);
      let raw = JSON.stringify(result.raw);
      if (raw.length > maxRawJsonBytes) raw = JSON.stringify({ truncated: true });
      json = `{"metadata":${JSON.stringify(result.metadata)},"raw":${raw}}`;
      problems = result.problems.map((p) => p.message);
      captureTime = result.metadata.captureTime;
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
    store.setMetadata(file.id, json, problems, captureTime);
    const rec = store.getFile(file.id);
    if (rec) events.fileChanged(rec);
  }

  async function sendAll(): Promise<void> {
    if (sending || closed || sendRetryTimer !== null || !options.sendingAllowed()) return;
    if (vault === null) return;
    sending = true;
    try {
      for (;;) {
        if (closed || !options.sendingAllowed()) return;
        const batch = store.metadataToSend(50);
        if (batch.length === 0) return;
        // A few PUTs at once: they are small, and the vault answers each quickly.
        await Promise.all(batch.map((item) => sendOne(item.file, item.metadataJson)));
        if (sendRetryTimer !== null) return;
      }
    } finally {
      sending = false;
    }
  }

  async function sendOne(file: FileRecord, metadataJson: string | null): Promise<void> {
    if (file.sha256 === null || vault === null) return;
    const parsed = metadataJson
      ? (JSON.parse(metadataJson) as { metadata?: MediaMetadata | null })
      : null;
    if (!parsed?.metadata) {
      store.setMetadataSent(file.id);
      return;
    }
    const body: MediaMetadata = { ...parsed.metadata, originalPath: file.path, device };
    try {
      await vault.putMetadata(file.sha256, body, controller.signal);
      store.setMetadataSent(file.id);
      sendFailures = 0;
    } catch (err) {
      if (isAbortError(err) || closed) return;
      if (err instanceof KeepsakeError && err.code === 'sign_in_needed') {
        events.pauseRequired('sign_in_needed', err.message);
        return;
      }
      if (err instanceof KeepsakeError && !err.retryable) {
        // The vault refused this body for good (e.g. too large): do not retry it forever.
        logger.warn('the vault refused metadata', { path: file.path, error: err.message });
        store.setMetadataSent(file.id);
        return;
      }
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
  }

  return {
    kick,
    drained() {
      if (reading.size > 0 || sending || queued) return false;
      if (store.metadataPending(1).length > 0) return false;
      return vault === null || !options.sendingAllowed() || store.metadataToSend(1).length === 0;
    },
    async close() {
      closed = true;
      if (sendRetryTimer !== null) clock.clearTimeout(sendRetryTimer);
      controller.abort();
      await Promise.allSettled([...reading.values()]);
    },
  };
}
