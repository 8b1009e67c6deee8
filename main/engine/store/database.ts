// The single gateway to the engine's SQLite file: opens it (WAL), checks its integrity
// (PRAGMA quick_check), applies pending migrations in one transaction, refuses a database
// written by a newer Keepsake, and sets a corrupt database aside (renamed, never deleted)
// before starting a fresh one. It also says which SQLite failures are storage faults (a full
// disk, a damaged file) rather than bugs: see [Note: Storage faults].
//
// Invariant: after openDatabase() returns, PRAGMA user_version === latestVersion and the
// schema is exactly what migrations.ts describes.
//
// [Note: Storage faults]
// Two SQLite failures are not bugs and must end in words a person can act on, never a crash
// or a loop: the disk under the data directory is full (SQLITE_FULL; an I/O error or ENOSPC
// while the disk has next to nothing free counts too, since SQLite reports a failed write of
// its WAL that way), and the file is damaged (SQLITE_CORRUPT / SQLITE_NOTADB). storageFault()
// turns either into a KeepsakeError ('disk_full' / 'database_corrupt'). The store stops
// writing on the first one (store.ts), the engine pauses with it and `keepsake backup` stops
// on it. A damaged database is marked (markDamaged) so the next open sets it aside and
// rebuilds it: a rebuilt database asks the vault about every hash before uploading, so
// nothing the vault already holds is sent again.
import { existsSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { diskFullError, KeepsakeError } from '../errors.js';
import type { Clock, Logger } from '../ports.js';
import { latestVersion, migrations, type Migration } from './migrations.js';

export type SqliteDatabase = Database.Database;

export interface OpenDatabaseOptions {
  logger: Logger;
  clock: Pick<Clock, 'now'>;
  /** For tests: stop at this schema version instead of the latest. */
  targetVersion?: number;
  /** For tests: the migration list to apply (defaults to migrations.ts). */
  migrations?: readonly Migration[];
}

export interface OpenedDatabase {
  db: SqliteDatabase;
  /** Where a corrupt database was moved to, when one was set aside. */
  setAside: string | null;
}

/** Opens (creating if needed) and migrates the database at `file`. */
export function openDatabase(file: string, options: OpenDatabaseOptions): OpenedDatabase {
  try {
    if (existsSync(damageMarker(file))) {
      throw new KeepsakeError('database_corrupt', 'the database was found damaged while in use');
    }
    return { db: openAndMigrate(file, options), setAside: null };
  } catch (caught) {
    const fault = storageFault(caught, file);
    if (fault?.code !== 'database_corrupt') throw fault ?? caught;
    const setAside = `${file}.corrupt-${options.clock.now()}`;
    options.logger.error('database is corrupt: setting it aside and rebuilding', {
      file,
      setAside,
      error: String(caught),
    });
    if (existsSync(file)) renameSync(file, setAside);
    for (const suffix of ['-wal', '-shm']) {
      if (existsSync(file + suffix)) renameSync(file + suffix, setAside + suffix);
    }
    rmSync(damageMarker(file), { force: true });
    try {
      return { db: openAndMigrate(file, options), setAside };
    } catch (err) {
      throw storageFault(err, file) ?? err;
    }
  }
}

/** Where a damage found while the database was in use is remembered until the next open. */
function damageMarker(file: string): string {
  return `${file}.damaged`;
}

/**
 * Remembers that the database at `file` was found damaged while in use, so the next open sets
 * it aside and rebuilds it (it cannot be renamed under an open connection on every platform).
 */
export function markDamaged(file: string): void {
  try {
    writeFileSync(damageMarker(file), 'found damaged while in use\n');
  } catch {
    // A disk too full for this marker also fails quick_check at the next open, or works again.
  }
}

/**
 * A storage fault as seen from outside the engine that holds the database (`keepsake status`
 * beside a daemon paused on it): the damage mark, or a disk without room to go on.
 */
export function storageProblem(file: string): KeepsakeError | null {
  if (existsSync(damageMarker(file))) return storageFault({ code: 'SQLITE_CORRUPT' }, file);
  if (!roomToGoOn(file)) return diskFullError(dirname(file));
  return null;
}

/** Below this much free space, an I/O error writing the database is taken as a full disk. */
const nearlyFullBytes = 1024 * 1024;

/**
 * The storage fault behind an error from SQLite or the file system, or null when it is not
 * one (a bug, or another condition). See [Note: Storage faults].
 */
export function storageFault(err: unknown, file: string): KeepsakeError | null {
  if (err instanceof KeepsakeError) {
    return err.code === 'disk_full' || err.code === 'database_corrupt' ? err : null;
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  const dir = dirname(file);
  if (code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT_') || code === 'SQLITE_NOTADB') {
    return new KeepsakeError(
      'database_corrupt',
      `Keepsake's database in ${dir} is damaged; it is set aside (kept, renamed) and rebuilt from your folders and the vault at the next start.`,
      false,
      { cause: err },
    );
  }
  const full =
    code === 'SQLITE_FULL' ||
    code === 'ENOSPC' ||
    ((code === 'SQLITE_IOERR' || code.startsWith('SQLITE_IOERR_')) && nearlyFull(dir));
  if (!full) return null;
  return diskFullError(dir, err);
}

function nearlyFull(dir: string): boolean {
  return freeBytes(dir) < nearlyFullBytes;
}

/**
 * Room a full disk must have again before the database is written to once more: a small probe
 * write fits in the WAL's old frames long before a rescan fits, and going on at once would
 * only fill the disk again (and again, every retry).
 */
const roomToGoOnBytes = 4 * 1024 * 1024;

/** Whether the disk under the database has room to go on after a disk-full fault. */
export function roomToGoOn(file: string): boolean {
  return freeBytes(dirname(file)) >= roomToGoOnBytes;
}

function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Opens an existing database for reading only (`keepsake status` beside a running daemon). */
export function openDatabaseReadOnly(file: string): SqliteDatabase {
  if (!existsSync(file)) {
    throw new KeepsakeError('not_found', `No Keepsake database at ${file}`);
  }
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > latestVersion) {
    db.close();
    throw newerError(file, version);
  }
  return db;
}

function openAndMigrate(file: string, options: OpenDatabaseOptions): SqliteDatabase {
  const db = new Database(file);
  try {
    // Read the version before changing anything (journal mode included): a database from a
    // newer Keepsake must be left exactly as it was.
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > latestVersion && options.migrations === undefined)
      throw newerError(file, version);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // Touch the schema so a file that is not a database fails here, not later, and check
    // every page's structure: damage in the middle of the file otherwise surfaces only when
    // a query happens to read it, as "database disk image is malformed" on every run.
    db.prepare('SELECT count(*) AS n FROM sqlite_master').get();
    if (version > 0) {
      const problems = db.pragma('quick_check(1)', { simple: true }) as string;
      if (problems !== 'ok') {
        const err = new Error(`quick_check: ${problems}`) as Error & { code: string };
        err.code = 'SQLITE_CORRUPT';
        throw err;
      }
    }
    migrate(db, file, options);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: SqliteDatabase, file: string, options: OpenDatabaseOptions): void {
  const list = options.migrations ?? migrations;
  const target = options.targetVersion ?? list[list.length - 1]?.version ?? 0;
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > latestVersion && options.migrations === undefined) {
    throw newerError(file, current);
  }
  const pending = list.filter((m) => m.version > current && m.version <= target);
  if (pending.length === 0) return;
  db.transaction(() => {
    for (const m of pending) db.exec(m.sql);
    db.pragma(`user_version = ${target}`);
  })();
  options.logger.info('database migrated', {
    from: current,
    to: target,
    applied: pending.map((m) => m.name),
  });
}

function newerError(file: string, version: number): KeepsakeError {
  return new KeepsakeError(
    'database_newer',
    `The database ${file} was written by a newer Keepsake (schema ${version}, this one knows up to ${latestVersion}). Update Keepsake, or use another --data-dir.`,
  );
}
