// The persistent upload queue: dedup first, then uploads, with retries. It owns the moves
// queued -> duplicate | uploading -> backed_up | failed | queued (retry) and reacts to the
// uploader's KeepsakeError codes (see [Note: Upload outcomes]).
//
// Invariants: a file is uploading only while this process holds a slot for it; the upload URL
// and confirmed offset persisted in the files row are the server's (onCreated/onOffset), so a
// pause, a crash or a shutdown loses at most the chunk in flight.
//
// [Note: Upload order]
// Manual additions first (priority 1), then newest first (mtime descending): recent photos are
// the ones not yet anywhere else. At most max(1, concurrency - 1) slots may hold a large file
// (> largeFileBytes) at once, so a few long videos cannot starve the photos behind them.
// The query behind it is store.nextToUpload (index files_upload_order, EXPLAIN-tested).
//
// [Note: Uploading is committed first]
// uploadStarted is committed at once, not with the next group: a file the vault may hold
// must never be found "queued, checked" after a crash, or the next start would send it again
// without asking. Found "uploading" instead, it is asked about again (uploadInterrupted), and
// an upload the vault completed before the crash is recorded as a duplicate, not re-sent.
//
// [Note: Upload outcomes]
// success                  -> backed_up (the vault verified our sha256)
// AbortError               -> queued, URL and offset kept (pause, shutdown)
// file_changed             -> discovered (re-hash; the partial upload is abandoned)
// file_not_found           -> missing
// verification_failed      -> discovered to re-hash, at most maxVerifyFailures times, then
//                             failed "content changed or was corrupted in transit"
// sign_in_needed           -> queued, and the engine pauses with reason sign_in_needed
// vault_full               -> queued, and the engine pauses with reason vault_full
// too_large, upload_rejected, not_a_regular_file -> failed (not retryable)
// anything else            -> queued with a backoff delay, failed after maxAttempts
import type { ActivityEvent, UploadProgress } from '../../../common/contract.js';
import { isAbortError, KeepsakeError } from '../errors.js';
import type { Clock, Logger, TimerHandle } from '../ports.js';
import type { FileRecord, Store } from '../store/store.js';
import type { Uploader } from '../vault/types.js';
import type { VaultClient } from '../vault/vault-client.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { transitions, type Transition } from './transitions.js';
import { createWakeTimer } from './wake-timer.js';
import { basename } from 'node:path';

export interface UploadQueueEvents {
  activity(event: Omit<ActivityEvent, 'id' | 'at'>): void;
  /** The vault refused us for a reason only a person can fix: pause the engine. */
  pauseRequired(reason: 'sign_in_needed' | 'vault_full', message: string): void;
  vaultReachable(reachable: boolean): void;
  /** A file went back to discovered (re-hash needed). */
  needsHash(): void;
  /** A file reached backed_up or duplicate (metadata may be sent). */
  safe(): void;
  progress(): void;
}

export interface UploadQueueOptions {
  store: Store;
  /** null: no vault configured (the engine only indexes and hashes). */
  vault: VaultClient | null;
  uploader: Uploader;
  clock: Clock;
  logger: Logger;
  backoff: BackoffPolicy;
  /** Read on every scheduling pass, so a settings change applies live. */
  concurrency: () => number;
  largeFileBytes: number;
  maxVerifyFailures: number;
  /** Do the dedup check but never upload (`keepsake backup --dry-run`). */
  dryRun: boolean;
  random?: () => number;
  events: UploadQueueEvents;
}

interface Slot {
  file: FileRecord;
  controller: AbortController;
  bytesSent: number;
  bytesPerSecond: number;
  etaSeconds: number | null;
  done: Promise<void>;
}

export interface UploadQueue {
  /** Looks for work now (new queued files, a changed setting, a resume). */
  kick(): void;
  /**
   * Looks for work shortly: while files are being hashed one by one, this gathers their
   * hashes into one dedup request instead of one request per file.
   */
  kickSoon(): void;
  setPaused(paused: boolean): void;
  /** Aborts the in-flight uploads of one folder's files (the folder is being removed). */
  abortFolder(folderId: number): void;
  /** Uploads in flight, for status and progress events. */
  current(): UploadProgress[];
  /** true when nothing is in flight and no pass is running. */
  idle(): boolean;
  /** Bytes the vault confirmed since this queue started. */
  bytesUploaded(): number;
  /** Aborts in-flight uploads (offsets kept) and waits for them to unwind. */
  close(): Promise<void>;
}

export function createUploadQueue(options: UploadQueueOptions): UploadQueue {
  const { store, vault, uploader, clock, logger, events } = options;
  const random = options.random ?? Math.random;
  const slots = new Map<number, Slot>();
  let paused = false;
  let closed = false;
  let passQueued = false;
  let passRunning = false;
  let dedupRunning = false;
  let dedupRetryAt: number | null = null;
  let dedupFailures = 0;
  const wakeTimer = createWakeTimer(clock, () => kick());
  let uploadedBytes = 0;
  let soonTimer: TimerHandle | null = null;
  const soonMs = 100;

  function kick(): void {
    if (closed || passQueued) return;
    passQueued = true;
    queueMicrotask(() => {
      passQueued = false;
      void pass();
    });
  }

  function scheduleAt(at: number): void {
    if (closed) return;
    wakeTimer.scheduleAt(at);
  }

  async function pass(): Promise<void> {
    if (passRunning) {
      passQueued = true;
      return;
    }
    passRunning = true;
    try {
      if (paused || closed || vault === null) return;
      await dedup(vault);
      if (paused || closed || options.dryRun) return;
      fillSlots();
    } catch (err) {
      logger.error('upload queue pass failed', { error: String(err) });
    } finally {
      passRunning = false;
      if (passQueued) {
        passQueued = false;
        kick();
      }
    }
  }

  /** Asks the vault which queued hashes it already holds: those are duplicates. */
  async function dedup(vault: VaultClient): Promise<void> {
    if (dedupRunning) return;
    const now = clock.now();
    if (dedupRetryAt !== null && now < dedupRetryAt) {
      scheduleAt(dedupRetryAt);
      return;
    }
    dedupRunning = true;
    try {
      for (;;) {
        if (paused || closed) return;
        const batch = store.dedupPending(1000);
        if (batch.length === 0) return;
        const hashes = [...new Set(batch.map((f) => f.sha256).filter((s): s is string => !!s))];
        let present: Set<string>;
        try {
          present = await vault.check(hashes);
          dedupFailures = 0;
          dedupRetryAt = null;
          events.vaultReachable(true);
        } catch (err) {
          if (err instanceof KeepsakeError && err.code === 'sign_in_needed') {
            events.pauseRequired('sign_in_needed', err.message);
            return;
          }
          dedupFailures++;
          const delay = backoffDelay(options.backoff, dedupFailures, random);
          dedupRetryAt = clock.now() + delay;
          events.vaultReachable(false);
          logger.warn('dedup check failed; will retry', { error: String(err), delay });
          scheduleAt(dedupRetryAt);
          return;
        }
        store.batch(() => {
          for (const f of batch) {
            const isPresent = f.sha256 !== null && present.has(f.sha256);
            store.apply(f.id, isPresent ? transitions.foundOnVault() : transitions.notOnVault());
          }
        });
        if (batch.some((f) => f.sha256 !== null && present.has(f.sha256))) events.safe();
      }
    } finally {
      dedupRunning = false;
    }
  }

  /**
   * An embedded vault listens on a new ephemeral port after every restart; an upload URL it
   * handed out before still names the old port. For loopback vaults, keep the path and take
   * the current endpoint's origin, so a restart resumes instead of starting over.
   */
  function rebaseLoopback(url: string): string {
    if (vault === null) return url;
    try {
      const u = new URL(url);
      const e = new URL(vault.endpoint);
      const loopback = (h: string) => h === '127.0.0.1' || h === 'localhost' || h === '[::1]';
      if (u.origin !== e.origin && loopback(u.hostname) && loopback(e.hostname)) {
        u.protocol = e.protocol;
        u.host = e.host;
      }
      return u.href;
    } catch {
      return url;
    }
  }

  function fillSlots(): void {
    const n = Math.max(1, options.concurrency());
    const free = n - slots.size;
    if (free <= 0) return;
    const now = clock.now();
    const large = options.largeFileBytes;
    const largeActive = [...slots.values()].filter((s) => s.file.size > large).length;
    const largeAllowed = Math.max(0, Math.max(1, n - 1) - largeActive);
    // Identical content in two places uploads once: a twin waits while its content is in
    // flight, then start() finds the content safe and records a duplicate.
    const shaInFlight = new Set([...slots.values()].map((s) => s.file.sha256));
    const extra = slots.size + 16;
    const smalls = store.nextToUpload(now, free + extra, large);
    const larges =
      largeAllowed > 0
        ? store
            .nextLargeToUpload(now, largeAllowed + extra, large + 1)
            .filter((f) => !slots.has(f.id) && !shaInFlight.has(f.sha256))
            .slice(0, largeAllowed)
        : [];
    const seenSha = new Set<string | null>();
    const picked = [...smalls, ...larges]
      .filter((f) => !slots.has(f.id) && !shaInFlight.has(f.sha256))
      .filter((f) => {
        if (seenSha.has(f.sha256)) return false;
        seenSha.add(f.sha256);
        return true;
      })
      .sort((a, b) => b.priority - a.priority || b.mtimeMs - a.mtimeMs)
      .slice(0, free);
    for (const file of picked) start(file);
    // Slots left empty: maybe only retries are waiting; wake up when the first one is due.
    // (With every slot busy, the next finished upload looks again anyway.)
    if (picked.length < free) {
      const retryAt = store.nextRetryAt(now);
      if (retryAt !== null) scheduleAt(retryAt);
    }
  }

  function start(queued: FileRecord): void {
    if (queued.sha256 !== null && store.isShaSafe(queued.sha256)) {
      // Its twin finished uploading meanwhile (or a rename of known content): nothing to send.
      const dup = store.apply(queued.id, transitions.foundOnVault());
      if (dup) events.safe();
      kick(); // its slot is still free
      return;
    }
    const file = store.apply(queued.id, transitions.uploadStarted());
    if (file === null || file.sha256 === null) return;
    // Durable before a byte is sent. See [Note: Uploading is committed first].
    store.commit();
    const controller = new AbortController();
    const slot: Slot = {
      file,
      controller,
      bytesSent: file.uploadOffset ?? 0,
      bytesPerSecond: 0,
      etaSeconds: null,
      done: Promise.resolve(),
    };
    slots.set(file.id, slot);
    slot.done = run(slot).finally(() => {
      slots.delete(file.id);
      events.progress();
      kick();
    });
  }

  async function run(slot: Slot): Promise<void> {
    const { file, controller } = slot;
    const sha256 = file.sha256 ?? '';
    try {
      const result = await uploader.upload(
        {
          fileId: file.id,
          path: file.path,
          size: file.size,
          sha256,
          mtimeMs: file.mtimeMs,
          filename: basename(file.path),
          relPath: file.relPath,
          mime: file.mime,
          resume:
            file.uploadUrl !== null
              ? { uploadUrl: rebaseLoopback(file.uploadUrl), offset: file.uploadOffset ?? 0 }
              : null,
        },
        {
          onCreated: (uploadUrl) => store.update(file.id, { uploadUrl, uploadOffset: 0 }),
          onOffset: (offset) => store.update(file.id, { uploadOffset: offset }),
          onProgress: (sample) => {
            slot.bytesSent = sample.bytesSent;
            slot.bytesPerSecond = sample.bytesPerSecond;
            slot.etaSeconds = sample.etaSeconds;
            events.progress();
          },
        },
        controller.signal,
      );
      if (result.sha256.toLowerCase() !== sha256) {
        throw new KeepsakeError(
          'verification_failed',
          'The vault stored content with a different SHA-256.',
          true,
        );
      }
      const rec = store.apply(file.id, transitions.verified(clock.now()));
      uploadedBytes += file.size;
      events.vaultReachable(true);
      if (rec) {
        events.activity({
          level: 'info',
          message: `Backed up ${basename(file.path)}`,
          path: file.path,
          code: null,
        });
      }
      events.safe();
    } catch (err) {
      handleFailure(file, err, controller.signal.aborted);
    }
  }

  function settle(file: FileRecord, transition: Transition): void {
    store.apply(file.id, transition);
  }

  function abandon(url: string | null): void {
    if (url === null) return;
    uploader.abandon(url).catch((err: unknown) => {
      logger.debug('abandoning an upload failed', { error: String(err) });
    });
  }

  function failed(file: FileRecord, code: string, message: string, retryable: boolean): void {
    settle(file, transitions.uploadFailed({ code, message, retryable }));
    events.activity({
      level: 'error',
      message: `${basename(file.path)}: ${message}`,
      path: file.path,
      code,
    });
  }

  function handleFailure(file: FileRecord, err: unknown, aborted: boolean): void {
    if (aborted || isAbortError(err)) {
      settle(file, transitions.uploadPaused());
      return;
    }
    const current = store.getFile(file.id);
    const url = current?.uploadUrl ?? file.uploadUrl;
    if (!(err instanceof KeepsakeError)) {
      logger.error('upload failed with an unexpected error', {
        path: file.path,
        error: String(err),
      });
      retryLater(file, 'internal', `Upload failed unexpectedly: ${String(err)}`);
      return;
    }
    const code = err.code;
    switch (code) {
      case 'file_changed':
        abandon(url);
        settle(file, transitions.changedDuringUpload(clock.now()));
        events.needsHash();
        return;
      case 'file_not_found':
        abandon(url);
        settle(file, transitions.gone(['uploading']));
        return;
      case 'verification_failed': {
        const failures = file.verifyFailures + 1;
        if (failures >= options.maxVerifyFailures) {
          settle(
            file,
            transitions.uploadFailed(
              { code, message: 'Content changed or was corrupted in transit', retryable: true },
              { verifyFailures: failures },
            ),
          );
          events.activity({
            level: 'error',
            message: `${basename(file.path)}: content changed or was corrupted in transit`,
            path: file.path,
            code,
          });
          return;
        }
        settle(file, transitions.verifyFailed(failures, clock.now()));
        events.needsHash();
        return;
      }
      case 'sign_in_needed':
      case 'vault_full':
        settle(file, transitions.uploadPaused());
        events.pauseRequired(code, err.message);
        return;
      case 'too_large':
      case 'upload_rejected':
      case 'not_a_regular_file':
        abandon(url);
        failed(file, code, err.message, false);
        return;
      case 'permission_denied':
        failed(file, code, err.message, true);
        return;
      case 'upload_gone':
        settle(file, transitions.uploadRestarted());
        return;
      case 'network':
      case 'vault_unreachable':
        events.vaultReachable(false);
        retryLater(file, code, err.message);
        return;
      case 'read_error':
      case 'folder_not_found':
      case 'folder_offline':
      case 'folder_not_a_directory':
      case 'folder_overlaps':
      case 'data_dir_locked':
      case 'database_newer':
      case 'invalid_argument':
      case 'not_found':
      case 'setting_locked':
      case 'metadata_unreadable':
      case 'internal':
        retryLater(file, code, err.message);
        return;
      default: {
        const never: never = code;
        retryLater(file, String(never), err.message);
      }
    }
  }

  function retryLater(file: FileRecord, code: string, message: string): void {
    const attempts = file.attempts + 1;
    if (attempts >= options.backoff.maxAttempts) {
      settle(
        file,
        transitions.uploadFailed(
          { code, message: `${message} (gave up after ${attempts} attempts)`, retryable: true },
          { attempts },
        ),
      );
      events.activity({
        level: 'error',
        message: `${basename(file.path)}: ${message}`,
        path: file.path,
        code,
      });
      return;
    }
    const at = clock.now() + backoffDelay(options.backoff, attempts, random);
    settle(file, transitions.retryLater(attempts, at, { code, message, retryable: true }));
    scheduleAt(at);
  }

  function kickSoon(): void {
    if (closed || soonTimer !== null) return;
    // Uploads in flight keep the slots busy anyway; an idle queue should not wait long.
    soonTimer = clock.setTimeout(() => {
      soonTimer = null;
      kick();
    }, soonMs);
    soonTimer.unref?.();
  }

  return {
    kick,
    kickSoon,
    setPaused(value) {
      paused = value;
      if (paused) {
        for (const slot of slots.values()) slot.controller.abort();
      } else {
        dedupRetryAt = null;
        kick();
      }
    },
    abortFolder(folderId) {
      for (const slot of slots.values()) {
        if (slot.file.folderId === folderId) slot.controller.abort();
      }
    },
    current() {
      return [...slots.values()].map((s) => ({
        fileId: s.file.id,
        path: s.file.path,
        bytesSent: s.bytesSent,
        bytesTotal: s.file.size,
        bytesPerSecond: s.bytesPerSecond,
        etaSeconds: s.etaSeconds,
      }));
    },
    idle() {
      return slots.size === 0 && !passRunning && !passQueued && !dedupRunning && soonTimer === null;
    },
    bytesUploaded: () => uploadedBytes,
    async close() {
      closed = true;
      wakeTimer.cancel();
      if (soonTimer !== null) clock.clearTimeout(soonTimer);
      for (const slot of slots.values()) slot.controller.abort();
      await Promise.all([...slots.values()].map((s) => s.done));
    },
  };
}
