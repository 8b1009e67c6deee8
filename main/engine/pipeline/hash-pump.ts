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
//
// [Note: A due file the list did not hold]
// A first backup of 5,000 fresh files (the bench's re-run tree) once sat for good with every
// row discovered. The ready list holds at most `readyCapacity` files; the scan inserts newest
// first (and a reload takes them in upload order, newest first too), so an overflowing list
// held the newest files, which settle LAST, while the oldest, which settle first, stayed in
// the database only. The pump slept until the database's earliest settle time
// (store.nextSettleAt, over every discovered row), woke to a list with nothing settled, and
// then, that time being past, scheduled no wake-up at all: nothing else would ever run it.
// Reproduced with the CLI (5,000 files, mtimes 0.1 s apart by folder, settle 20 s: all rows
// discovered after 120 s) and in tests/unit/engine/pipeline/hash-pump.test.ts.
// Now: (1) the list loads the files already settled first, then the newest of the rest; (2)
// when a fill took fewer files than it could and the database says a discovered file is due,
// a list that may miss files (stale: it overflowed) reloads at once, and a list that should
// hold every candidate (not stale, no change still unannounced) breaks its invariant: that is
// logged once as a warning and the list reloads all the same (the safety net); (3) while a
// file is due that still could not be taken, the pump polls every dueRetryMs instead of
// sleeping without a wake-up, so a backup can be slow but never sit forever.
import { basename } from 'node:path';
import type { ActivityEvent } from '../../../common/contract.js';
import { isAbortError, KeepsakeError } from '../errors.js';
import type { FileHasher, FileIdentity } from '../hash/types.js';
import type { Clock, Logger } from '../ports.js';
import type { FileRecord, Store } from '../store/store.js';
import { detached } from './detached.js';
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
  /** Files the ready list holds at most (default 4096). */
  readyCapacity?: number;
  events: {
    activity(event: Omit<ActivityEvent, 'id' | 'at'>): void;
  };
}

export interface HashPump {
  kick(): void;
  idle(): boolean;
  close(): Promise<void>;
}

/**
 * How often the pump looks again while a file is due that it could not take (an announcement
 * still on its way, or a broken invariant): it never sleeps without a wake-up.
 */
const dueRetryMs = 1000;

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
  let invariantWarned = false;
  const ready = createReadyList({
    capacity: options.readyCapacity ?? 4096,
    // The settled files first, then the newest of the rest (readyAt tells them apart).
    // See [Note: A due file the list did not hold].
    load: (limit) => {
      const due = store.nextToHash(clock.now(), options.settleMs, limit);
      if (due.length >= limit) return due;
      const have = new Set(due.map((f) => f.id));
      const rest = store.nextToHash(Number.MAX_SAFE_INTEGER, 0, limit);
      for (const f of rest) {
        if (due.length >= limit) break;
        if (!have.has(f.id)) due.push(f);
      }
      return due;
    },
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
    let picked = start(free, now);
    if (picked < free) {
      const at = store.nextSettleAt(options.settleMs);
      if (at === null) return;
      if (at > now) {
        scheduleAt(at);
        return;
      }
      // A discovered file is due, yet the list gave no more. See [Note: A due file the list
      // did not hold].
      if (ready.stale()) {
        ready.reload();
        picked += start(free - picked, now);
      } else if (picked === 0 && inFlight.size === 0 && store.unannouncedChanges() === 0) {
        if (!invariantWarned) {
          invariantWarned = true;
          logger.warn(
            'ready list invariant broken: a discovered file is due that the hash list does not hold; reloading it from the database',
            { dueSince: at },
          );
        }
        ready.reload();
        picked += start(free, now);
      }
      if (picked === 0 && inFlight.size === 0) scheduleAt(now + dueRetryMs);
    }
  }

  /** Starts up to n files the list has ready at `now`; returns how many. */
  function start(n: number, now: number): number {
    const picked = ready.peek(n, now, (f) => inFlight.has(f.id));
    for (const file of picked) {
      ready.remove(file.id);
      const p = detached(process(file), { store, logger, what: 'hashing' }).finally(() => {
        inFlight.delete(file.id);
        kick();
      });
      inFlight.set(file.id, p);
    }
    return picked.length;
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
