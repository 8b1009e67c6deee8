// The single gateway to the engine's SQLite file: opens it (WAL), applies pending migrations
// in one transaction, refuses a database written by a newer Keepsake, and sets a corrupt
// database aside (renamed, never deleted) before starting a fresh one.
//
// Invariant: after openDatabase() returns, PRAGMA user_version === latestVersion and the
// schema is exactly what migrations.ts describes.
import { existsSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import { KeepsakeError } from '../errors.js';
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
    return { db: openAndMigrate(file, options), setAside: null };
  } catch (err) {
    if (!isCorruption(err)) throw err;
    const setAside = `${file}.corrupt-${options.clock.now()}`;
    options.logger.error('database is corrupt: setting it aside and rebuilding', {
      file,
      setAside,
      error: String(err),
    });
    renameSync(file, setAside);
    for (const suffix of ['-wal', '-shm']) {
      if (existsSync(file + suffix)) renameSync(file + suffix, setAside + suffix);
    }
    return { db: openAndMigrate(file, options), setAside };
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
    // Touch the schema so a file that is not a database fails here, not later.
    db.prepare('SELECT count(*) AS n FROM sqlite_master').get();
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

function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT';
}
