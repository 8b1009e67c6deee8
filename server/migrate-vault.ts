// `keepsake vault migrate` (issue 14): copies a stopped single-machine vault (its SQLite
// vault.db and its filesystem blobs) into the scaled setup (a PostgreSQL index and an
// S3-compatible bucket, or any other index and blob store behind the ports), verifying every
// blob's SHA-256 on the way. Resumable: run it again after any stop and it continues.
// Invariants: the source's data-dir lock is held for the whole run, so the old vault cannot
// start meanwhile; an assets row reaches the target only after its object is there, verified
// (See [Note: Blobs before rows]); nothing already on the target is overwritten.
//
// [Note: Blobs before rows]
// The scaled vault keeps the single-machine rule "every index row has its object" ([Note:
// Commit order] in blob-store.ts). The migration keeps it too: assets are copied in pages in
// id order; for each page, every content's bytes are read from the source through
// openContent (plain or compressed), hashed as they are read into a local work file, and only
// bytes that hash to the content's name are put to the target store (which, like an upload,
// stores a content not yet there and is done only when it is durable); then the page's assets
// rows and their health rows are committed in one transaction. A stop anywhere leaves at most
// objects without rows, which the next run finds on the target, verifies by reading them back
// and keeps. An asset whose row is already on the target was completed by an earlier run,
// after its object was placed: its object is not read again (that would make every resume
// re-read the whole bucket); `keepsake vault scrub` re-reads everything when wanted.
//
// [Note: A damaged source blob]
// A source blob whose bytes do not hash to its name (or that is not there, or whose compressed
// framing is broken) is NOT copied: on the target an object under a content key always holds
// that content (See [Note: Verified before visible on S3] in blobs/s3-blob-store.ts). Its
// assets row IS copied, with a health row saying 'damaged' (or 'missing'), not left behind,
// because the row carries what the vault cannot get back from anywhere else (the first
// uploader's name, path and metadata, the albums, groups and places that name the content),
// and because 'damaged' is a state the vault already heals: it counts the content as not held,
// so the next backup of a client that holds the original uploads it again, and that verified
// upload replaces the object and makes the health 'ok' ([Note: Replacing a bad blob] in
// blob-store.ts). A report lists every such content; it is the one exception to "every row
// has its object", and it is the one the vault's health already names.
import { existsSync } from 'node:fs';
import { mkdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FsBlobStore } from './blob-store.js';
import { type BlobCheck, readVerified } from './blob-verify.js';
import type { BlobRepairs, BlobStore } from './blobs/port.js';
import { IndexTooNewError, migrateIndex } from './index/migrate.js';
import { openSqlDatabase } from './index/open-sql.js';
import type { SqlDatabase } from './index/sql.js';
import { SqliteSql } from './index/sqlite-sql.js';
import {
  IndexConflictError,
  IndexCopy,
  type IndexRow,
  ROW_TABLES,
  SKIPPED_TABLES,
  UnknownTableError,
} from './index/table-copy.js';
import { acquireDataDirLock } from './lock.js';
import { VaultStartError } from './start-error.js';

export { IndexConflictError };

export type VaultMigrateErrorCode =
  | 'no_vault'
  | 'data_dir_locked'
  | 'index_too_new'
  | 'schema_mismatch'
  | 'index_conflict'
  | 'unknown_table';

/** Why a migration refused or stopped, with a message a person can act on. */
export class VaultMigrateError extends Error {
  override name = 'VaultMigrateError';
  constructor(
    readonly code: VaultMigrateErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface MigrateVaultOptions {
  /** the stopped single-machine vault's data directory (vault.db, blobs/) */
  fromDataDir: string;
  /** the target index: a postgres:// URL (or a SQLite file path) */
  index: string;
  /**
   * Makes the target blob store (not yet initialised). It must consult `repairs` as the
   * vault's does, so that an object the migration found bad on the target is replaced.
   */
  openTargetBlobs: (repairs: BlobRepairs) => BlobStore;
  /**
   * A directory for the verified copies on their way to the target (emptied at start and
   * removed at the end). For a filesystem target it must be on the target's filesystem.
   */
  workDir: string;
  signal?: AbortSignal;
  onProgress?: (progress: MigrateProgress) => void;
  /** rows per transaction for the row tables (default 2,000) */
  batchRows?: number;
  /** assets per page: their blobs, then their rows in one transaction (default 500) */
  assetPage?: number;
  /** blobs copied at once (default 4) */
  concurrency?: number;
  /** the clock for health rows, unix ms */
  now?: () => number;
}

export interface MigrateProgress {
  /** the table being copied ('assets' includes their blobs) */
  table: string;
  /** rows of it done, and its rows in the source */
  done: number;
  total: number;
  blobs: BlobCounts;
}

export interface BlobCounts {
  /** read from the source, verified and put to the target by this run */
  copied: number;
  /** found on the target by this run and verified by reading it back */
  alreadyThere: number;
  /** their assets rows were committed by an earlier run, after the object was placed */
  copiedBefore: number;
  /** source bytes that do not hash to their name: not copied (See [Note: A damaged source blob]) */
  damaged: string[];
  /** no source blob at all: not copied */
  missing: string[];
  /** bytes put to the target by this run */
  bytesCopied: number;
  /** bytes read and hashed (source and target) by this run */
  bytesRead: number;
}

export interface MigrateReport {
  source: string;
  target: { index: string; blobs: string };
  schemaVersion: number;
  /** per table: rows inserted by this run, and rows an earlier run had copied */
  rows: Record<string, { copied: number; alreadyThere: number }>;
  /** counters set on the target */
  counters: number;
  /** tables left behind, and why (See [Note: What the migration copies] in index/table-copy.ts) */
  skipped: Readonly<Record<string, string>>;
  blobs: BlobCounts;
  seconds: number;
}

/** Runs `work` over `items`, at most `limit` at once. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Opens an index and brings it to the latest schema (a newer one is refused). */
async function openMigrated(open: () => Promise<SqlDatabase>, role: string): Promise<SqlDatabase> {
  const db = await open();
  try {
    await migrateIndex(db);
    return db;
  } catch (err) {
    await db.close();
    if (err instanceof IndexTooNewError) {
      throw new VaultMigrateError('index_too_new', `the ${role} index: ${err.message}`);
    }
    throw err;
  }
}

/** Copies the stopped vault in `fromDataDir` into the target. See the header. */
export async function migrateVault(opts: MigrateVaultOptions): Promise<MigrateReport> {
  const started = performance.now();
  const now = opts.now ?? Date.now;
  const dbPath = join(opts.fromDataDir, 'vault.db');
  if (!existsSync(dbPath)) {
    throw new VaultMigrateError('no_vault', `${opts.fromDataDir} holds no vault (no vault.db)`);
  }
  const lock = await acquireDataDirLock(opts.fromDataDir).catch((err: unknown) => {
    if (err instanceof VaultStartError && err.code === 'data_dir_locked') {
      throw new VaultMigrateError(
        'data_dir_locked',
        `a vault is running on ${opts.fromDataDir}; stop it before migrating it`,
      );
    }
    throw err;
  });
  let source: SqlDatabase | undefined;
  let target: SqlDatabase | undefined;
  let targetBlobs: BlobStore | undefined;
  try {
    source = await openMigrated(() => Promise.resolve(new SqliteSql(dbPath)), 'source');
    target = await openMigrated(() => openSqlDatabase(opts.index), 'target');
    const [sv, tv] = [await source.schemaVersion(), await target.schemaVersion()];
    if (sv !== tv) {
      throw new VaultMigrateError(
        'schema_mismatch',
        `the source index is at schema version ${sv} and the target at ${tv}: run the same keepsake version on both`,
      );
    }
    let copy: IndexCopy;
    try {
      copy = await IndexCopy.prepare(source, target);
    } catch (err) {
      if (err instanceof UnknownTableError) {
        throw new VaultMigrateError('unknown_table', err.message);
      }
      throw err;
    }
    // Objects found on the target that do not verify: adopt() replaces them (the store asks).
    const replace = new Set<string>();
    const repairs: BlobRepairs = {
      knownBad: (sha) => Promise.resolve(replace.has(sha) ? 'damaged' : undefined),
      repaired: () => undefined,
    };
    const sourceBlobs = new FsBlobStore(join(opts.fromDataDir, 'blobs'));
    targetBlobs = opts.openTargetBlobs(repairs);
    await targetBlobs.init();
    await rm(opts.workDir, { recursive: true, force: true });
    await mkdir(opts.workDir, { recursive: true });

    const report: MigrateReport = {
      source: opts.fromDataDir,
      target: { index: target.description, blobs: targetBlobs.where },
      schemaVersion: sv,
      rows: {},
      counters: 0,
      skipped: SKIPPED_TABLES,
      blobs: {
        copied: 0,
        alreadyThere: 0,
        copiedBefore: 0,
        damaged: [],
        missing: [],
        bytesCopied: 0,
        bytesRead: 0,
      },
      seconds: 0,
    };
    const aborted = () => {
      opts.signal?.throwIfAborted();
    };
    const rowTable = async (table: string) => {
      const total = await copy.count(table);
      let done = 0;
      opts.onProgress?.({ table, done, total, blobs: report.blobs });
      report.rows[table] = await copy.copyTable(table, opts.batchRows ?? 2000, (n) => {
        done += n;
        opts.onProgress?.({ table, done, total, blobs: report.blobs });
        aborted();
      });
    };
    const wrapConflict = async (step: () => Promise<void>) => {
      try {
        await step();
      } catch (err) {
        if (err instanceof IndexConflictError) {
          throw new VaultMigrateError('index_conflict', err.message, { cause: err });
        }
        throw err;
      }
    };

    await wrapConflict(async () => {
      // Devices first: assets and places name them.
      for (const table of ROW_TABLES.slice(0, 2)) await rowTable(table);
      await copyAssets(copy, sourceBlobs, targetBlobs!, replace, report, opts, now);
      for (const table of ROW_TABLES.slice(2)) await rowTable(table);
      report.counters = await copy.copyCounters();
    });
    await copy.moveIdentities();
    report.seconds = (performance.now() - started) / 1000;
    return report;
  } finally {
    targetBlobs?.close();
    await rm(opts.workDir, { recursive: true, force: true }).catch(() => undefined);
    await target?.close();
    await source?.close();
    await lock.release();
  }
}

/** Assets page by page, each content's blob before its row. See [Note: Blobs before rows]. */
async function copyAssets(
  copy: IndexCopy,
  sourceBlobs: BlobStore,
  targetBlobs: BlobStore,
  replace: Set<string>,
  report: MigrateReport,
  opts: MigrateVaultOptions,
  now: () => number,
): Promise<void> {
  const counts = report.blobs;
  const total = await copy.count('assets');
  let done = 0;
  const rows = { copied: 0, alreadyThere: 0 };
  report.rows['assets'] = rows;
  const checks = { copied: 0, alreadyThere: 0 };
  report.rows['asset_checks'] = checks;
  opts.onProgress?.({ table: 'assets', done, total, blobs: counts });

  const copyBlob = async (row: IndexRow): Promise<BlobCheck> => {
    const sha = row['sha256'] as string;
    const size = row['size'] as number;
    if (await targetBlobs.has(sha)) {
      // Left by a run stopped between its put and its commit (or put by someone else):
      // kept only if it reads back as this content.
      if ((await readVerified(targetBlobs, sha, size, null, counts)) === 'ok') {
        counts.alreadyThere++;
        return 'ok';
      }
      replace.add(sha);
    }
    const temp = join(opts.workDir, `${sha}.part`);
    const found = await readVerified(sourceBlobs, sha, size, temp, counts);
    if (found !== 'ok') {
      await unlink(temp).catch(() => undefined);
      (found === 'damaged' ? counts.damaged : counts.missing).push(sha);
      return found;
    }
    await targetBlobs.adopt(temp, sha);
    replace.delete(sha);
    counts.copied++;
    counts.bytesCopied += size;
    return 'ok';
  };

  for await (const read of copy.pages('assets', opts.assetPage ?? 500)) {
    opts.signal?.throwIfAborted();
    // The target holds what was put there: the original bytes, whatever the source stored.
    // Its encoding is therefore 'not yet considered' (NULL), so usage counts the plain size
    // and a filesystem target's compressor may compress it again (encoding-store.ts).
    const page = read.map((r) =>
      'stored_encoding' in r ? { ...r, stored_encoding: null, stored_bytes: null } : r,
    );
    const before = await copy.alreadyCopied('assets', page);
    const todo = page.filter((r) => !before.has(r));
    if (before.size > 0) {
      counts.copiedBefore += before.size;
      const problems = await copy.targetProblems([...before].map((r) => r['sha256'] as string));
      for (const [sha, state] of problems)
        (state === 'damaged' ? counts.damaged : counts.missing).push(sha);
    }
    const outcome = new Map<IndexRow, BlobCheck>();
    await eachLimited(todo, opts.concurrency ?? 4, async (row) => {
      opts.signal?.throwIfAborted();
      outcome.set(row, await copyBlob(row));
    });
    const health = await copy.sourceRowsWhere(
      'asset_checks',
      'sha256',
      todo.map((r) => r['sha256']),
    );
    const healthOf = new Map(health.map((h) => [h['sha256'] as string, h]));
    const at = now();
    const healthRows: IndexRow[] = [];
    for (const row of todo) {
      const sha = row['sha256'] as string;
      const found = outcome.get(row)!;
      const was = healthOf.get(sha);
      if (found === 'ok') {
        // Read and verified just now: a problem the source recorded is over.
        if (was === undefined) continue;
        healthRows.push(
          was['state'] === 'ok'
            ? was
            : { sha256: sha, state: 'ok', checked_at: at, problem_since: null },
        );
      } else {
        healthRows.push({
          sha256: sha,
          state: found,
          checked_at: at,
          problem_since: was?.['problem_since'] ?? at,
        });
      }
    }
    const [a, c] = await copy.inTargetTransaction(async (tx) => [
      await copy.insert(tx, 'assets', todo),
      await copy.insert(tx, 'asset_checks', healthRows),
    ]);
    rows.copied += a;
    rows.alreadyThere += page.length - a;
    checks.copied += c;
    checks.alreadyThere += healthRows.length - c;
    done += page.length;
    opts.onProgress?.({ table: 'assets', done, total, blobs: counts });
  }
}
