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
// The candidates come from two ready lists (small, large) fed by the store's committed
// changes (see [Note: Ready lists] in ready-list.ts); store.nextToUpload (index
// files_upload_order, EXPLAIN-tested) only (re)loads them.
//
// [Note: Small files in batches]
// When the uploader can send many files in one request (uploadBatch, POST /api/v1/batch), a
// slot takes up to batchMaxFiles queued files of at most batchFileMaxBytes each (one tus
// chunk), up to batchMaxBytes in all, in upload order: one request and one vault commit for
// the group instead of a tus conversation each. Each file's outcome is its own transition
// (stored -> verified, duplicate -> foundOnVault, refused -> as an upload() error of that
// code); a whole-batch failure is each file's failure. Larger files, and every file when the
// uploader has no uploadBatch (a plain tus server), go one by one through upload(); so does
// a lone small file (nothing to group it with: the watcher's usual case). Batches stay small
// (probeBatchFiles) until one went through as a batch: a vault without the endpoint gets that
// first batch file by file inside uploadBatch, and from then on (batchesSupported() false)
// every file has its own slot, as before batches existed.
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
import type { BatchItemOutcome, Uploader } from '../vault/types.js';
import { ProgressMeter, ThroughputMeter } from '../vault/progress.js';
import type { VaultClient } from '../vault/vault-client.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { detached } from './detached.js';
import { createReadyList } from './ready-list.js';
import { transitions, type Transition } from './transitions.js';
import { createWakeTimer } from './wake-timer.js';
import { basename } from 'node:path';

export interface UploadQueueEvents {
  activity(event: Omit<ActivityEvent, 'id' | 'at'>): void;
  /** The vault refused us for a reason only a person can fix: pause the engine. */
  pauseRequired(reason: 'sign_in_needed' | 'vault_full', message: string): void;
  vaultReachable(reachable: boolean): void;
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
  /** Files up to this size go in batches when the uploader has uploadBatch (default 8 MiB). */
  batchFileMaxBytes?: number;
  /** At most this many files per batch (default 500). */
  batchMaxFiles?: number;
  /** At most this many bytes per batch (default 16 MiB). */
  batchMaxBytes?: number;
  /** Do the dedup check but never upload (`keepsake backup --dry-run`). */
  dryRun: boolean;
  random?: () => number;
  events: UploadQueueEvents;
}

/** One request in flight: one file through upload(), or a batch of small files. */
interface Slot {
  files: FileRecord[];
  batch: boolean;
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
  /**
   * Held: no new upload starts, the ones in flight go on to their end (unlike a pause, which
   * aborts them). See runtime/update-gate.ts.
   */
  setHeld(held: boolean): void;
  /** Uploads (single files or batches) in flight now. */
  inFlight(): number;
  /** Aborts the in-flight uploads of one folder's files (the folder is being removed). */
  abortFolder(folderId: number): void;
  /** Uploads in flight, for status and progress events. */
  current(): UploadProgress[];
  /** true when nothing is in flight and no pass is running. */
  idle(): boolean;
  /**
   * File bytes sent to the vault since this queue started: after a resume only what was
   * sent again, and a byte re-sent after a fault counts twice (it crossed the wire twice).
   */
  bytesUploaded(): number;
  /** Bytes per second over the last few seconds, across every upload and batch. */
  throughput(): number;
  /** Aborts in-flight uploads (offsets kept) and waits for them to unwind. */
  close(): Promise<void>;
}

function uploadOrder(a: FileRecord, b: FileRecord): number {
  return b.priority - a.priority || b.mtimeMs - a.mtimeMs || a.id - b.id;
}

export function createUploadQueue(options: UploadQueueOptions): UploadQueue {
  const { store, vault, uploader, clock, logger, events } = options;
  const random = options.random ?? Math.random;
  const large = options.largeFileBytes;
  const batchFileMaxBytes = options.batchFileMaxBytes ?? 8 * 1024 * 1024;
  const batchMaxFiles = options.batchMaxFiles ?? 500;
  const batchMaxBytes = options.batchMaxBytes ?? 16 * 1024 * 1024;
  const probeBatchFiles = 16;
  let batchProven = false;
  const slots = new Set<Slot>();
  const slotOf = new Map<number, Slot>();
  let paused = false;
  let held = false;
  let closed = false;
  let passQueued = false;
  let dedupWanted = true;
  /** The vault refused the token: no dedup check until someone kicks (a resume). */
  let dedupBlocked = false;
  let dedupRunning = false;
  let dedupRetryAt: number | null = null;
  let dedupFailures = 0;
  const wakeTimer = createWakeTimer(clock, () => wake());
  const wire = new ThroughputMeter(clock);
  let soonTimer: TimerHandle | null = null;
  const soonMs = 100;

  const uploadable = (f: FileRecord) => f.state === 'queued' && f.dedupChecked;
  const retryAt = (f: FileRecord) => f.nextAttemptAt ?? 0;
  const smallList = createReadyList({
    capacity: 8192,
    load: (limit) => store.nextToUpload(Number.MAX_SAFE_INTEGER, limit, large),
    belongs: (f) => uploadable(f) && f.size <= large,
    readyAt: retryAt,
  });
  const largeList = createReadyList({
    capacity: 1024,
    load: (limit) => store.nextLargeToUpload(Number.MAX_SAFE_INTEGER, limit, large + 1),
    belongs: (f) => uploadable(f) && f.size > large,
    readyAt: retryAt,
  });
  const unsubscribe = store.onCommitted((changes) => {
    let upload = false;
    let check = false;
    for (const { file } of changes) {
      smallList.offer(file);
      largeList.offer(file);
      if (file.state === 'queued') {
        if (file.dedupChecked) upload = true;
        else check = true;
      }
    }
    if (check) {
      dedupWanted = true;
      kickSoon();
    }
    if (upload) wake();
  });

  /** Looks for work in the lists (a slot freed, a retry is due, new files were announced). */
  function wake(): void {
    if (closed || passQueued) return;
    passQueued = true;
    queueMicrotask(() => {
      passQueued = false;
      pass();
    });
  }

  /** From outside (start, resume, a setting): the database may hold work nobody announced. */
  function kick(): void {
    dedupWanted = true;
    dedupBlocked = false;
    smallList.invalidate();
    largeList.invalidate();
    wake();
  }

  function scheduleAt(at: number): void {
    if (closed) return;
    wakeTimer.scheduleAt(at);
  }

  function pass(): void {
    try {
      if (paused || closed || vault === null) return;
      if (dedupWanted && !dedupBlocked) {
        void detached(dedup(vault), { store, logger, what: 'asking the vault for duplicates' });
      }
      if (options.dryRun || held) return;
      fillSlots();
    } catch (err) {
      logger.error('upload queue pass failed', { error: String(err) });
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
      dedupWanted = false;
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
            // Asked again on resume (kick), not before: only a person can fix this.
            dedupBlocked = true;
            events.pauseRequired('sign_in_needed', err.message);
            return;
          }
          dedupWanted = true;
          dedupFailures++;
          const delay = backoffDelay(options.backoff, dedupFailures, random);
          dedupRetryAt = clock.now() + delay;
          events.vaultReachable(false);
          logger.warn('dedup check failed; will retry', { error: String(err), delay });
          scheduleAt(dedupRetryAt);
          return;
        }
        if (closed) return;
        store.batch(() => {
          for (const f of batch) {
            const isPresent = f.sha256 !== null && present.has(f.sha256);
            store.apply(f.id, isPresent ? transitions.foundOnVault() : transitions.notOnVault());
          }
        });
      }
    } finally {
      dedupRunning = false;
      if (dedupWanted && !closed) wake();
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
    let free = n - slots.size;
    if (free <= 0) return;
    const now = clock.now();
    const largeActive = [...slots].filter((s) => !s.batch && s.files[0]!.size > large).length;
    let largeAllowed = Math.max(0, Math.max(1, n - 1) - largeActive);
    // Identical content in two places uploads once: a twin waits while its content is in
    // flight, then start finds the content safe and records a duplicate.
    const shaInFlight = new Set<string>();
    for (const slot of slots) for (const f of slot.files) if (f.sha256) shaInFlight.add(f.sha256);
    const skip = (f: FileRecord) =>
      slotOf.has(f.id) || (f.sha256 !== null && shaInFlight.has(f.sha256));
    const batching = uploader.uploadBatch !== undefined && (uploader.batchesSupported?.() ?? true);
    // Until one batch went through as a batch, keep them small: a vault without the batch
    // endpoint gets the first one sent file by file (see [Note: Small files in batches]).
    const maxFiles = batchProven ? batchMaxFiles : Math.min(batchMaxFiles, probeBatchFiles);
    const smalls = smallList.peek(batching ? free * maxFiles : free, now, skip);
    const larges = largeAllowed > 0 ? largeList.peek(largeAllowed, now, skip) : [];
    const seenSha = new Set<string>();
    // A twin claimed as a duplicate frees nothing, and the twins after it were stepped over
    // (seenSha): look again once this pass ends, or a third copy would wait forever.
    let settledTwin = false;
    const startOne = (f: FileRecord): boolean => {
      const started = startSingle(f);
      if (!started) settledTwin = true;
      return started;
    };
    let si = 0;
    let li = 0;
    const next = (list: FileRecord[], i: number): [FileRecord | undefined, number] => {
      while (i < list.length) {
        const f = list[i]!;
        if (f.sha256 === null || !seenSha.has(f.sha256)) return [f, i];
        i++;
      }
      return [undefined, i];
    };
    const take = (f: FileRecord) => {
      if (f.sha256 !== null) seenSha.add(f.sha256);
      smallList.remove(f.id);
      largeList.remove(f.id);
    };
    while (free > 0) {
      let s: FileRecord | undefined;
      let l: FileRecord | undefined;
      [s, si] = next(smalls, si);
      if (largeAllowed > 0) [l, li] = next(larges, li);
      if (s === undefined && l === undefined) break;
      if (l !== undefined && (s === undefined || uploadOrder(l, s) < 0)) {
        li++;
        largeAllowed--;
        take(l);
        if (startOne(l)) free--;
        continue;
      }
      const first = s!;
      if (!batching || first.size > batchFileMaxBytes) {
        si++;
        take(first);
        if (startOne(first)) free--;
        continue;
      }
      const group: FileRecord[] = [];
      let bytes = 0;
      for (;;) {
        let f: FileRecord | undefined;
        [f, si] = next(smalls, si);
        if (f === undefined || f.size > batchFileMaxBytes || group.length >= maxFiles) break;
        if (group.length > 0 && bytes + f.size > batchMaxBytes) break;
        si++;
        take(f);
        group.push(f);
        bytes += f.size;
      }
      // A batch of one is a plain upload (resumable, and the watcher's usual case).
      if (group.length === 1 ? startOne(group[0]!) : startBatch(group)) free--;
      else settledTwin = true;
    }
    if (settledTwin && free > 0) wake();
    // Slots left empty: maybe only retries are waiting; wake up when the first one is due.
    // (With every slot busy, the next finished upload looks again anyway.)
    if (free > 0) {
      const at = store.nextRetryAt(now);
      if (at !== null) scheduleAt(at);
    }
  }

  /** Moves a picked file to uploading, or to duplicate when its content became safe. */
  function claim(queued: FileRecord): FileRecord | null {
    if (queued.sha256 !== null && store.isShaSafe(queued.sha256)) {
      // Its twin finished uploading meanwhile (or a rename of known content): nothing to send.
      store.apply(queued.id, transitions.foundOnVault());
      return null;
    }
    // sha256 may be null: a large file hashed while it is sent (hashDeferred).
    return store.apply(queued.id, transitions.uploadStarted());
  }

  function occupy(files: FileRecord[], batch: boolean, run: (slot: Slot) => Promise<void>): void {
    const slot: Slot = {
      files,
      batch,
      controller: new AbortController(),
      bytesSent: batch ? 0 : (files[0]!.uploadOffset ?? 0),
      bytesPerSecond: 0,
      etaSeconds: null,
      done: Promise.resolve(),
    };
    slots.add(slot);
    for (const f of files) slotOf.set(f.id, slot);
    // Durable before a byte is sent. See [Note: Uploading is committed first].
    store.commit();
    slot.done = detached(run(slot), { store, logger, what: 'uploading' }).finally(() => {
      slots.delete(slot);
      for (const f of files) slotOf.delete(f.id);
      events.progress();
      wake();
    });
  }

  function startSingle(queued: FileRecord): boolean {
    const file = claim(queued);
    if (file === null) return false;
    occupy([file], false, run);
    return true;
  }

  function startBatch(queued: FileRecord[]): boolean {
    const files = queued.map(claim).filter((f): f is FileRecord => f !== null);
    if (files.length === 0) return false;
    occupy(files, true, runBatch);
    return true;
  }

  async function runBatch(slot: Slot): Promise<void> {
    const { files, controller } = slot;
    const send = uploader.uploadBatch?.bind(uploader);
    if (send === undefined) throw new Error('runBatch without uploadBatch');
    // The frames go out one file after another: progress is the batch's bytes so far.
    const total = files.reduce((n, f) => n + f.size, 0);
    const meter = new ProgressMeter(clock, files[0]!.id, total, (sample) => {
      slot.bytesPerSecond = sample.bytesPerSecond;
      slot.etaSeconds = sample.etaSeconds;
      events.progress();
    });
    let outcomes: BatchItemOutcome[];
    try {
      outcomes = await send(
        files.map((f) => ({
          fileId: f.id,
          path: f.path,
          size: f.size,
          sha256: f.sha256 ?? '',
          mtimeMs: f.mtimeMs,
          filename: basename(f.path),
          relPath: f.relPath,
          mime: f.mime,
        })),
        controller.signal,
        (n) => {
          wire.record(n);
          slot.bytesSent += n;
          meter.update(slot.bytesSent);
        },
      );
    } catch (err) {
      for (const f of files) handleFailure(f, err, controller.signal.aborted);
      return;
    }
    events.vaultReachable(true);
    batchProven ||= uploader.batchesSupported?.() ?? true;
    const waiting = new Map(files.map((f) => [f.id, f]));
    const now = clock.now();
    let stored = 0;
    for (const o of outcomes) {
      const f = waiting.get(o.fileId);
      if (f === undefined) continue;
      waiting.delete(o.fileId);
      if (o.outcome === 'refused') {
        handleFailure(f, o.error, false);
      } else if (o.sha256.toLowerCase() !== f.sha256) {
        handleFailure(f, verificationFailed(), false);
      } else if (o.outcome === 'stored') {
        if (store.apply(f.id, transitions.verified(now))) stored++;
      } else {
        store.apply(f.id, transitions.foundOnVault());
      }
    }
    // A file the vault did not answer for is not known to be safe: send it again later.
    for (const f of waiting.values()) {
      retryLater(f, 'internal', 'The vault did not answer for this file of a batch.');
    }
    if (stored > 0) {
      const only = files.length === 1 ? files[0] : undefined;
      events.activity({
        level: 'info',
        message: only ? `Backed up ${basename(only.path)}` : `Backed up ${stored} files`,
        path: only ? only.path : null,
        code: null,
      });
    }
  }

  function verificationFailed(): KeepsakeError {
    return new KeepsakeError(
      'verification_failed',
      'The vault stored content with a different SHA-256.',
      true,
    );
  }

  async function run(slot: Slot): Promise<void> {
    const { controller } = slot;
    const file = slot.files[0]!;
    // null: hashed while sent; the vault checks the hash the uploader declares at the end.
    const sha256 = file.sha256;
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
          onCreated: (uploadUrl) => {
            // Durable before any data is sent: a crash then resumes instead of starting over.
            store.update(file.id, { uploadUrl, uploadOffset: 0 });
            store.commit();
          },
          onOffset: (offset) => store.update(file.id, { uploadOffset: offset }),
          onProgress: (sample) => {
            slot.bytesSent = sample.bytesSent;
            slot.bytesPerSecond = sample.bytesPerSecond;
            slot.etaSeconds = sample.etaSeconds;
            events.progress();
          },
          onSent: (n) => wire.record(n),
        },
        controller.signal,
      );
      const verified = result.sha256.toLowerCase();
      if (sha256 !== null && verified !== sha256) throw verificationFailed();
      const rec = store.apply(
        file.id,
        transitions.verified(clock.now(), sha256 === null ? verified : undefined),
      );
      events.vaultReachable(true);
      if (rec) {
        events.activity({
          level: 'info',
          message: `Backed up ${basename(file.path)}`,
          path: file.path,
          code: null,
        });
      }
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
      case 'disk_full':
      case 'database_corrupt':
      case 'invalid_argument':
      case 'not_found':
      case 'setting_locked':
      case 'metadata_unreadable':
      case 'not_supported':
      case 'eject_failed':
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

  function singleProgress(s: Slot): UploadProgress[] {
    const f = s.files[0]!;
    return [
      {
        fileId: f.id,
        path: f.path,
        bytesSent: Math.min(f.size, s.bytesSent),
        bytesTotal: f.size,
        bytesPerSecond: s.bytesPerSecond,
        etaSeconds: s.etaSeconds,
      },
    ];
  }

  /**
   * A batch's files in frame order: those before the batch's byte count are sent, the one it
   * falls in is being sent (it carries the batch's rate), the rest wait their turn.
   */
  function batchProgress(s: Slot): UploadProgress[] {
    let before = 0;
    return s.files.map((f) => {
      const sent = Math.max(0, Math.min(f.size, s.bytesSent - before));
      const sending = sent < f.size && s.bytesSent >= before;
      before += f.size;
      return {
        fileId: f.id,
        path: f.path,
        bytesSent: sent,
        bytesTotal: f.size,
        bytesPerSecond: sending ? s.bytesPerSecond : 0,
        etaSeconds:
          sending && s.bytesPerSecond > 0 ? Math.ceil((f.size - sent) / s.bytesPerSecond) : null,
      };
    });
  }

  function kickSoon(): void {
    if (closed || soonTimer !== null) return;
    // Uploads in flight keep the slots busy anyway; an idle queue should not wait long.
    soonTimer = clock.setTimeout(() => {
      soonTimer = null;
      dedupWanted = true;
      wake();
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
    setHeld(value) {
      held = value;
      if (!held) kick();
    },
    inFlight: () => slots.size,
    abortFolder(folderId) {
      for (const slot of slots) {
        if (slot.files.some((f) => f.folderId === folderId)) slot.controller.abort();
      }
    },
    current() {
      return [...slots].flatMap((s) => (s.batch ? batchProgress(s) : singleProgress(s)));
    },
    throughput: () => wire.rate(),
    idle() {
      return slots.size === 0 && !passQueued && !dedupRunning && soonTimer === null;
    },
    bytesUploaded: () => wire.bytes(),
    async close() {
      closed = true;
      unsubscribe();
      wakeTimer.cancel();
      if (soonTimer !== null) clock.clearTimeout(soonTimer);
      for (const slot of slots.values()) slot.controller.abort();
      await Promise.all([...slots.values()].map((s) => s.done));
    },
  };
}
