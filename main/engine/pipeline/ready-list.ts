// An in-memory list of the files one stage may take next (to hash, to upload), fed by the
// store's committed changes instead of a query after every completion.
// See [Note: Ready lists].
//
// Invariant: every file the stage could take is either in the list or still in the database
// with `stale` set (the list overflowed, or it was never loaded): take() then reloads from the
// store's ordered query before answering. An entry may be out of date (a change not yet
// committed moved the file on): the stage's transition is a compare-and-set, so taking a stale
// entry costs one failed apply(), never a wrong move.
//
// [Note: Ready lists]
// Asking SQLite for "the next files to hash / upload" after every completed file cost most of
// the main thread on a large first backup (a query, a sort by the index, row mapping, for
// each of 20,000 files, in three stages). Now each stage keeps the next few thousand
// candidates in memory in upload order (manual first, newest first), the store announces
// every committed change, and each announcement adds the file to (or drops it from) the
// lists it belongs to. The query runs only to (re)load a list: at start, and after the list
// overflowed its capacity (a scan of 100,000 new files is never held in memory at once).
// A list that overflowed holds only some of the candidates, and not always the ones due
// first: a stage whose candidates become due at different times (the hash pump's settle
// time) must reload when the store says a candidate is due that the list did not give
// (See [Note: A due file the list did not hold] in hash-pump.ts).
import type { FileRecord } from '../store/types.js';

export interface ReadyListOptions {
  /** Entries held at most; beyond it the list is marked stale and reloaded as it drains. */
  capacity: number;
  /** The first `limit` candidates in order, from the store (the truth). */
  load(limit: number): FileRecord[];
  /** Whether a file in this (committed) state belongs in the list. */
  belongs(file: FileRecord): boolean;
  /** unix ms from which the file may be taken (settle time, retry time); 0 = now. */
  readyAt(file: FileRecord): number;
}

export interface ReadyList {
  /** A committed change of a file: adds, replaces or drops its entry. */
  offer(file: FileRecord): void;
  /**
   * The database may hold entries the list does not: reload before the next take once the
   * list has drained to half its capacity (at once if it holds fewer).
   */
  invalidate(): void;
  /** Reloads from the store before the next take, however full the list is. */
  reload(): void;
  /** True when the database may hold candidates the list does not (overflow, invalidate). */
  stale(): boolean;
  /** Up to n entries ready at `now`, in order, without removing them. */
  peek(n: number, now: number, skip?: (file: FileRecord) => boolean): FileRecord[];
  remove(id: number): void;
  size(): number;
}

function uploadOrder(a: FileRecord, b: FileRecord): number {
  return b.priority - a.priority || b.mtimeMs - a.mtimeMs || a.id - b.id;
}

export function createReadyList(options: ReadyListOptions): ReadyList {
  let entries = new Map<number, FileRecord>();
  let order: FileRecord[] = [];
  let head = 0;
  let sorted = true;
  let stale = true;
  let mustReload = false;

  function reload(): void {
    mustReload = false;
    const rows = options.load(options.capacity);
    entries = new Map(rows.map((f) => [f.id, f]));
    stale = rows.length >= options.capacity;
    order = rows;
    head = 0;
    sorted = false;
  }

  function ordered(): FileRecord[] {
    if (mustReload || (stale && entries.size < options.capacity / 2)) reload();
    if (!sorted || head > order.length / 2) {
      order = [...entries.values()].sort(uploadOrder);
      head = 0;
      sorted = true;
    }
    // Entries taken or dropped at the front: step past them once, not on every peek.
    while (head < order.length && entries.get(order[head]!.id) !== order[head]) head++;
    return order;
  }

  return {
    offer(file) {
      const had = entries.get(file.id);
      if (!options.belongs(file)) {
        if (had) entries.delete(file.id);
        return;
      }
      if (had === undefined && entries.size >= options.capacity) {
        stale = true;
        return;
      }
      entries.set(file.id, file);
      sorted = false;
    },
    invalidate() {
      stale = true;
    },
    reload() {
      stale = true;
      mustReload = true;
    },
    stale: () => stale,
    peek(n, now, skip) {
      const list = ordered();
      const out: FileRecord[] = [];
      for (let i = head; i < list.length && out.length < n; i++) {
        const f = list[i]!;
        if (entries.get(f.id) !== f) continue;
        if (options.readyAt(f) > now) continue;
        if (skip?.(f)) continue;
        out.push(f);
      }
      return out;
    },
    remove(id) {
      entries.delete(id);
    },
    size: () => entries.size,
  };
}
