// `keepsake restore` without the command line (issue 10 section 2): rebuilds
// DIR/<folder label>/<path> for every selected location, byte-exact names and mtimes, from the
// vault alone. See [Note: Where a restored file goes].
//
// Invariant: nothing that exists under DIR is ever replaced or changed; a file is only ever
// added, and only after its bytes hashed to its content's SHA-256 (fetch-content.ts).
//
// [Note: Where a restored file goes]
// Each location has one wanted path, DIR/<folder>/<path>. Placement walks the locations in
// the vault's order, one at a time, so the outcome does not depend on download timing:
// - nothing there: restore it there;
// - a file there with the same bytes (size, then SHA-256): skip it (a second run downloads
//   nothing);
// - anything else there (another file, a folder, a name this run already gave to other
//   bytes): try "NAME (restored).EXT", then "NAME (restored 2).EXT", ... with the same rules,
//   so both are kept and a re-run finds its earlier choice again.
// Contents are then fetched once each: the first path of a content is downloaded (or copied
// from an identical file already there), the others are copied from it locally and proven
// again, so album copies and duplicates cost no extra download.
//
// [Note: A failed file keeps its partial]
// A file whose attempts ran out (the network kept cutting, the vault kept answering 5xx, the
// content is damaged on the vault for now) keeps its `.keepsake-partial-*` file: the bytes in
// it came from the vault, so the next run resumes from them instead of starting over. A
// partial is deleted only when its bytes are proven wrong (the finished file did not hash to
// the content's SHA-256: fetch-content.ts removes it then), or when it was proven whole but
// its target was taken meanwhile (EEXIST: the next run places the file under another name,
// so this partial would never be found again).
import { setMaxListeners } from 'node:events';
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isAbortError, KeepsakeError } from '../errors.js';
import type { Clock, Logger } from '../ports.js';
import type { VaultClient } from '../vault/vault-client.js';
import {
  type ContentSource,
  copyToPartial,
  fetchToPartial,
  finishPartial,
  hashFile,
  partialPathOf,
  placePartial,
} from './fetch-content.js';
import { type RestoreFilters, type RestoreItem, selectRestoreItems } from './selection.js';
import { type ConvertOptions, formatFor, writeConvertedCopy } from './convert.js';

export interface RestoreOptions {
  vault: VaultClient;
  content: ContentSource;
  /** The destination folder (made if need be). */
  to: string;
  filters: RestoreFilters;
  /** Select and place only: nothing is downloaded or written. */
  dryRun?: boolean;
  /** Contents fetched at once (default 8: small files wait more on fsync than on the CPU). */
  concurrency?: number;
  /** Attempts per file for passing faults (network, vault busy, a wrong digest); default 5. */
  attempts?: number;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
  /** Updated as the restore goes (the CLI's progress bar reads it). */
  progress?: RestoreProgress;
  /** compatible copies of the files restored (See [Note: Restoring compatible copies]) */
  convert?: ConvertOptions;
}

export interface RestoreProgress {
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
}

export interface RestoreFailure {
  path: string;
  code: string;
  message: string;
}

export interface RestoreSummary {
  /** locations selected */
  files: number;
  restored: number;
  /** already there, byte-identical */
  skipped: number;
  failed: number;
  bytesDownloaded: number;
  seconds: number;
  failures: RestoreFailure[];
  /** dry run: what would be restored, where (display paths relative to DIR) */
  wouldRestore?: { path: string; size: number }[];
  /** --convert: the copies written (display paths; `renamedFrom`: the name that was taken) */
  converted?: { path: string; to: string; renamedFrom: string | null; checked: string }[];
  /** --convert: files a rule matched that have no copy, and why (their original stays) */
  notConverted?: { path: string; reason: string }[];
}

type Placement =
  /** fresh: no partial of it was in its folder when placement looked (nothing to resume) */
  | { kind: 'restore'; item: RestoreItem; target: Buffer; fresh: boolean }
  | { kind: 'skip'; item: RestoreItem; target: Buffer }
  | { kind: 'fail'; item: RestoreItem; failure: RestoreFailure };

const SLASH = Buffer.from('/');

/** Why a folder label or path from the vault cannot be written under DIR, or null. */
function unsafePlace(item: RestoreItem): string | null {
  const folder = item.folder;
  if (folder === '' || folder === '.' || folder === '..' || /[/\0]/.test(folder)) {
    return `the folder label "${folder}" is not one name`;
  }
  if (item.path.length === 0 || item.path.includes(0)) return 'the path is empty or holds NUL';
  let start = 0;
  for (let i = 0; i <= item.path.length; i++) {
    if (i === item.path.length || item.path[i] === 0x2f) {
      const seg = item.path.subarray(start, i).toString('latin1');
      if (seg === '' || seg === '.' || seg === '..') return 'the path leaves its folder';
      start = i + 1;
    }
  }
  return null;
}

/** "NAME.EXT" -> "NAME (restored).EXT" (n = 1) or "NAME (restored n).EXT", as bytes. */
export function suffixedName(target: Buffer, n: number): Buffer {
  if (n === 0) return target;
  const slash = target.lastIndexOf(0x2f);
  const name = target.subarray(slash + 1);
  const dot = name.lastIndexOf(0x2e);
  const cut = dot > 0 ? slash + 1 + dot : target.length;
  const tag = Buffer.from(n === 1 ? ' (restored)' : ` (restored ${n})`);
  return Buffer.concat([target.subarray(0, cut), tag, target.subarray(cut)]);
}

function display(root: Buffer, target: Buffer): string {
  return target.subarray(root.length + 1).toString('utf8');
}

export async function runRestore(options: RestoreOptions): Promise<RestoreSummary> {
  const { clock, logger, signal } = options;
  const started = clock.now();
  const root = Buffer.from(resolve(options.to));
  const items = await selectRestoreItems(options.vault, options.filters, signal);
  const placements = await place(root, items, signal);
  const progress = options.progress ?? { filesTotal: 0, filesDone: 0, bytesTotal: 0, bytesDone: 0 };
  const toRestore = placements.filter(
    (p): p is Extract<Placement, { kind: 'restore' }> => p.kind === 'restore',
  );
  progress.filesTotal = items.length;
  progress.bytesTotal = toRestore.reduce((n, p) => n + p.item.size, 0);
  progress.filesDone = items.length - toRestore.length;
  const summary: RestoreSummary = {
    files: items.length,
    restored: 0,
    skipped: placements.filter((p) => p.kind === 'skip').length,
    failed: 0,
    bytesDownloaded: 0,
    seconds: 0,
    failures: [],
  };
  for (const p of placements) {
    if (p.kind === 'fail') {
      summary.failed++;
      summary.failures.push(p.failure);
    }
  }
  if (options.dryRun === true) {
    summary.wouldRestore = toRestore.map((p) => ({
      path: display(root, p.target),
      size: p.item.size,
    }));
    summary.seconds = (clock.now() - started) / 1000;
    return summary;
  }

  // One job per content: its first path is fetched, the rest copied from it.
  const proven = new Map<string, Buffer>();
  for (const p of placements) if (p.kind === 'skip') proven.set(p.item.sha256, p.target);
  const jobs = new Map<string, Extract<Placement, { kind: 'restore' }>[]>();
  for (const p of toRestore) {
    const list = jobs.get(p.item.sha256);
    if (list) list.push(p);
    else jobs.set(p.item.sha256, [p]);
  }
  const attempts = options.attempts ?? 5;
  /** Folders this run made or found (hex of the path bytes): one mkdir each, not per file. */
  const madeDirs = new Set<string>();

  async function restoreOne(p: Extract<Placement, { kind: 'restore' }>): Promise<void> {
    const { item, target } = p;
    const partial = partialPathOf(target, item.sha256);
    const dir = target.subarray(0, target.lastIndexOf(0x2f));
    const dirKey = dir.toString('hex');
    if (!madeDirs.has(dirKey)) {
      await mkdir(dir, { recursive: true });
      madeDirs.add(dirKey);
    }
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      let done = 0;
      try {
        const from = proven.get(item.sha256);
        if (from !== undefined) {
          await copyToPartial(from, item, partial);
          await finishPartial(partial, target, item.mtimeMs);
        } else {
          const received = await fetchToPartial(
            options.content,
            item,
            partial,
            signal,
            (n) => {
              done += n;
              progress.bytesDone += n;
            },
            attempt === 1 && p.fresh,
          );
          summary.bytesDownloaded += received; // after the await: workers run side by side
          await placePartial(partial, target);
        }
        progress.bytesDone += item.size - done;
        proven.set(item.sha256, target);
        summary.restored++;
        await convertOne(item, target);
        return;
      } catch (err) {
        progress.bytesDone -= done;
        if (isAbortError(err) || signal.aborted) throw err;
        const retryable = err instanceof KeepsakeError && err.retryable;
        if (!retryable || attempt >= attempts) throw err;
        logger.warn('restoring a file failed; retrying', {
          path: display(root, target),
          error: String(err),
          attempt,
        });
        await clock.sleep(Math.min(8000, 500 * 2 ** (attempt - 1)), signal);
      }
    }
  }

  /** Originals to remove once the run is over (they may still be copied from until then). */
  const replaced: Buffer[] = [];
  const convert = options.convert;
  if (convert !== undefined) {
    summary.converted = [];
    summary.notConverted = [];
  }

  /** See [Note: Restoring compatible copies] in convert.ts. */
  async function convertOne(item: RestoreItem, target: Buffer): Promise<void> {
    if (convert === undefined) return;
    const format = formatFor(convert.rules, item.displayPath);
    if (format === null) return;
    try {
      const outcome = await writeConvertedCopy(
        options.content,
        item.sha256,
        target,
        format,
        item.mtimeMs,
        signal,
      );
      if (outcome.kind === 'left') {
        summary.notConverted?.push({ path: display(root, target), reason: outcome.reason });
        return;
      }
      summary.converted?.push({
        path: display(root, target),
        to: display(root, outcome.target),
        renamedFrom: outcome.renamedFrom === null ? null : display(root, outcome.renamedFrom),
        checked: outcome.checked,
      });
      if (!convert.keepOriginals) replaced.push(target);
    } catch (err) {
      if (isAbortError(err) || signal.aborted) throw err;
      summary.notConverted?.push({
        path: display(root, target),
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  }

  async function runJob(list: Extract<Placement, { kind: 'restore' }>[]): Promise<void> {
    for (const p of list) {
      try {
        await restoreOne(p);
      } catch (err) {
        if (isAbortError(err) || signal.aborted) throw err;
        const code = (err as { code?: unknown }).code;
        summary.failed++;
        summary.failures.push({
          path: display(root, p.target),
          code: typeof code === 'string' ? code : 'internal',
          message: err instanceof Error ? err.message : String(err),
        });
        // See [Note: A failed file keeps its partial].
        if (code === 'EEXIST') {
          await rm(partialPathOf(p.target, p.item.sha256), { force: true }).catch(() => {});
        }
      } finally {
        progress.filesDone++;
      }
    }
  }

  setMaxListeners(0, signal); // one abort listener per request in flight
  const queue = [...jobs.values()];
  const workers = Array.from({ length: Math.max(1, options.concurrency ?? 8) }, async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) await runJob(job);
  });
  await Promise.all(workers);
  for (const original of replaced) await rm(original, { force: true });
  summary.seconds = (clock.now() - started) / 1000;
  return summary;
}

/** Decides where each location goes. See [Note: Where a restored file goes]. */
async function place(
  root: Buffer,
  items: readonly RestoreItem[],
  signal: AbortSignal,
): Promise<Placement[]> {
  /** Paths this run gave out (hex of the bytes) -> the content placed there. */
  const claimed = new Map<string, string>();
  const listings = new Map<string, Listing>();
  const out: Placement[] = [];
  for (const item of items) {
    signal.throwIfAborted();
    const problem = unsafePlace(item);
    if (problem !== null) {
      out.push({
        kind: 'fail',
        item,
        failure: {
          path: `${item.folder}/${item.displayPath}`,
          code: 'invalid_argument',
          message: `Not restored: ${problem}.`,
        },
      });
      continue;
    }
    const wanted = Buffer.concat([root, SLASH, Buffer.from(item.folder), SLASH, item.path]);
    for (let n = 0; ; n++) {
      const target = suffixedName(wanted, n);
      const key = target.toString('hex');
      const claimedBy = claimed.get(key);
      if (claimedBy !== undefined) {
        if (claimedBy === item.sha256) {
          out.push({ kind: 'skip', item, target });
          break;
        }
        continue;
      }
      const listing = await listFolder(target.subarray(0, target.lastIndexOf(0x2f)), listings);
      const there = await whatIsAt(target, item, listing);
      if (there === 'absent') {
        claimed.set(key, item.sha256);
        const partial = partialPathOf(target, item.sha256);
        const partialName = partial.subarray(partial.lastIndexOf(0x2f) + 1).toString('hex');
        const fresh = typeof listing === 'string' || !listing.has(partialName);
        out.push({ kind: 'restore', item, target, fresh });
        break;
      }
      if (there === 'same') {
        claimed.set(key, item.sha256);
        out.push({ kind: 'skip', item, target });
        break;
      }
      if (there === 'blocked' || n >= 999) {
        out.push({
          kind: 'fail',
          item,
          failure: {
            path: display(root, wanted),
            code: 'not_a_regular_file',
            message:
              there === 'blocked'
                ? 'Not restored: a file is in the way of its folder (it was left as it is).'
                : 'Not restored: too many different files already have this name.',
          },
        });
        break;
      }
    }
  }
  return out;
}

/**
 * The names in a folder (hex of their bytes), listed once per folder per run: most targets of
 * a restore are absent, and one readdir answers for all of a folder's files instead of a
 * failed lstat each. 'absent': no such folder yet; 'blocked': a file is where a folder of the
 * path should be.
 */
type Listing = Set<string> | 'absent' | 'blocked';

async function listFolder(dir: Buffer, cache: Map<string, Listing>): Promise<Listing> {
  const key = dir.toString('hex');
  const known = cache.get(key);
  if (known !== undefined) return known;
  let listing: Listing;
  try {
    const names = await readdir(dir, { encoding: 'buffer' });
    listing = new Set(names.map((n) => n.toString('hex')));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') listing = 'absent';
    else if (code === 'ENOTDIR') listing = 'blocked';
    else throw err;
  }
  cache.set(key, listing);
  return listing;
}

async function whatIsAt(
  target: Buffer,
  item: RestoreItem,
  listing: Listing,
): Promise<'absent' | 'same' | 'other' | 'blocked'> {
  if (typeof listing === 'string') return listing;
  if (!listing.has(target.subarray(target.lastIndexOf(0x2f) + 1).toString('hex'))) return 'absent';
  let st;
  try {
    st = await lstat(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'absent';
    if (code === 'ENOTDIR') return 'blocked'; // a file where a folder of the path should be
    throw err;
  }
  if (!st.isFile() || st.size !== item.size) return 'other';
  return (await hashFile(target)) === item.sha256 ? 'same' : 'other';
}
