// Drives discovered files through hashing to queued. Owns the moves discovered -> hashing ->
// queued | discovered | missing | failed, and the settle rule (see [Note: Settle]).
//
// Invariant: a row's sha256 is either NULL or the hash of the content with exactly the row's
// (size, mtime, ino, dev): the hasher's stat-before == stat-after guarantees the pairing.
//
// [Note: Settle]
// A file is hashed only once its size and mtime have held still for settleMs: its mtime is
// older than settleMs, or the identity we last saw has not changed for settleMs (seen_at; this
// covers an mtime in the future or preserved by a copy tool). A half-copied file keeps moving
// its mtime, so it waits; if it changes anyway while hashed, the hasher throws file_changed
// and it starts over. A file whose identity matches another row with a known hash (a rename,
// a move, a hard link) takes that hash without being read again.
//
// [Note: Large files, read once]
// A file larger than hashWhileSendingAbove (one upload chunk) is not read here: after the
// settle rule and a stat that finds its identity unchanged, it goes to the upload queue
// unhashed (hashDeferred) and the uploader hashes it while sending it (See [Note: Hash while
// sending] in tus-uploader.ts), so its bytes leave the disk once instead of twice. The vault
// still verifies the SHA-256 the final request declares before the file counts as safe, and
// `verified` records that hash on the row.
// The trade-off is the dedup check, which needs the hash first: a large file would be sent
// before anyone knows whether the vault holds it. Two cheap questions keep copies from being
// sent: here, a file with another row of exactly its size (a copy on this machine, a file in
// two watched folders) is hashed first, as before; and the vault's answer to the upload's
// creation says whether it holds content of exactly this size, in which case the uploader
// hashes the file and asks before sending a byte (See [Note: A copy the vault may hold] in
// tus-uploader.ts: another device's copy, or this device's after its database was lost).
// Byte-exact sizes of distinct multi-megabyte files rarely collide, so the extra local read
// is paid almost only where it saves a send. Should both miss (two devices sending the same
// file at once), the vault still stores the content once (its blobs are content-addressed)
// and the file ends backed_up: the cost is bandwidth, never storage or correctness. No hash
// is deferred in a dry run (it reports what the dedup check says) nor without a vault
// (hashing is then the whole job).
//
// What to hash next comes from a ready list fed by the store's committed changes (see
// [Note: Ready lists] in ready-list.ts), not from a query after every hashed file.
import { basename } from 'node:path';
import type { ActivityEvent } from '../../../common/contract.js';
import { isAbortError, KeepsakeError } from '../errors.js';
import type { FileHasher, FileIdentity } from '../hash/types.js';
import type { Clock, Logger } from '../ports.js';
import type { FileRecord, Store } from '../store/store.js';
import { createReadyList } from './ready-list.js';
import { transitions, type Transition } from './transitions.js';
import { createWakeTimer } from './wake-timer.js';

export type StatPath = (
  path: string,
) => Promise<{ kind: 'file' | 'directory' | 'other'; identity: FileIdentity } | null>;

export interface HashPumpOptions {
  store: Store;
  hasher: FileHasher;
  statPath: StatPath;
  clock: Clock;
  logger: Logger;
  settleMs: number;
  /**
   * Files larger than this go to the uploader unhashed (See [Note: Large files, read once]);
   * null: every file is hashed first.
   */
  hashWhileSendingAbove: number | null;
  /** Files hashed at once (the hasher queues beyond its thread count). */
  concurrency: number;
  events: {
    activity(event: Omit<ActivityEvent, 'id' | 'at'>): void;
  };
}

export interface HashPump {
  kick(): void;
  idle(): boolean;
  close(): Promise<void>;
}

function sameId(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino && a.dev === b.dev;
}

export function createHashPump(options: HashPumpOptions): HashPump {
  const { store, hasher, clock, logger, events } = options;
  const inFlight = new Map<number, Promise<void>>();
  const controller = new AbortController();
  let queued = false;
  let closed = false;
  const wakeTimer = createWakeTimer(clock, () => kick(), 10);
  const ready = createReadyList({
    capacity: 4096,
    // Every discovered file in order, settled or not (readyAt tells them apart).
    load: (limit) => store.nextToHash(Number.MAX_SAFE_INTEGER, 0, limit),
    belongs: (f) => f.state === 'discovered',
    readyAt: (f) => Math.min(f.mtimeMs, f.seenAt) + options.settleMs,
  });
  const unsubscribe = store.onCommitted((changes) => {
    let more = false;
    for (const { file } of changes) {
      ready.offer(file);
      if (file.state === 'discovered') more = true;
    }
    if (more) kick();
  });

  function kick(): void {
    if (closed || queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      fill();
    });
  }

  function scheduleAt(at: number): void {
    wakeTimer.scheduleAt(at);
  }

  function fill(): void {
    if (closed) return;
    const free = options.concurrency - inFlight.size;
    if (free <= 0) return;
    const now = clock.now();
    const picked = ready.peek(free, now, (f) => inFlight.has(f.id));
    for (const file of picked) {
      ready.remove(file.id);
      const p = process(file).finally(() => {
        inFlight.delete(file.id);
        kick();
      });
      inFlight.set(file.id, p);
    }
    if (picked.length < free) {
      const at = store.nextSettleAt(options.settleMs);
      if (at !== null && at > now) scheduleAt(at);
    }
  }

  function move(id: number, transition: Transition): FileRecord | null {
    return store.apply(id, transition);
  }

  async function process(file: FileRecord): Promise<void> {
    // The stored hash stands for an unchanged identity (a file back from missing or excluded).
    if (file.sha256 !== null) {
      move(file.id, transitions.hashKnown(file.sha256));
      return;
    }
    const twin = store.findSameContent(file);
    if (twin?.sha256) {
      move(file.id, transitions.hashKnown(twin.sha256));
      return;
    }
    if (move(file.id, transitions.hashingStarted()) === null) return;
    if (sendUnhashed(file) && (await deferHash(file))) return;
    try {
      const result = await hasher.hashFile(file.path, controller.signal);
      const settled = sameId(result, file) || clock.now() - result.mtimeMs >= options.settleMs;
      if (settled) {
        move(file.id, transitions.hashed(result));
      } else {
        // It moved since the scan and is still fresh: wait for it to settle again.
        move(file.id, transitions.stillChanging(result, clock.now()));
      }
    } catch (err) {
      await handleError(file, err);
    }
  }

  function sendUnhashed(file: FileRecord): boolean {
    const above = options.hashWhileSendingAbove;
    return above !== null && file.size > above && !store.hasOtherOfSize(file.size, file.id);
  }

  /**
   * Hands a large file to the upload queue unhashed if it still is what the scan saw; false
   * when it is no regular file any more (hashing it reports why).
   */
  async function deferHash(file: FileRecord): Promise<boolean> {
    const now = await options.statPath(file.path).catch(() => null);
    if (now === null) {
      move(file.id, transitions.gone(['hashing']));
    } else if (now.kind !== 'file') {
      return false;
    } else if (sameId(now.identity, file)) {
      logger.debug('large file: hashed while it is sent', { path: file.path, size: file.size });
      move(file.id, transitions.hashDeferred());
    } else {
      // Moved since the scan: wait for it to settle with the identity seen now.
      move(file.id, transitions.stillChanging(now.identity, clock.now()));
    }
    return true;
  }

  async function handleError(file: FileRecord, err: unknown): Promise<void> {
    if (isAbortError(err) || closed) {
      move(file.id, transitions.hashInterrupted());
      return;
    }
    const code = err instanceof KeepsakeError ? err.code : 'internal';
    const message = err instanceof Error ? err.message : String(err);
    // eslint-disable-next-line @typescript-eslint/switch-exhaustiveness-check -- every other code is a failure with its message
    switch (code) {
      case 'file_changed': {
        const now = await options.statPath(file.path).catch(() => null);
        if (now === null) {
          move(file.id, transitions.gone(['hashing']));
          return;
        }
        move(file.id, transitions.stillChanging(now.identity, clock.now()));
        return;
      }
      case 'file_not_found':
        move(file.id, transitions.gone(['hashing']));
        return;
      default: {
        const retryable = err instanceof KeepsakeError ? err.retryable : false;
        if (!(err instanceof KeepsakeError)) {
          logger.error('hashing failed unexpectedly', { path: file.path, error: String(err) });
        }
        move(file.id, transitions.hashFailed({ code, message, retryable }));
        events.activity({
          level: 'error',
          message: `${basename(file.path)}: ${message}`,
          path: file.path,
          code,
        });
      }
    }
  }

  return {
    kick() {
      // Asked from outside (start, a retry, a resume): the database may hold files the list
      // has not heard of.
      ready.invalidate();
      kick();
    },
    idle: () => inFlight.size === 0 && !queued,
    async close() {
      closed = true;
      unsubscribe();
      wakeTimer.cancel();
      controller.abort();
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
