// The database gateway: migrations bring a database from every earlier schema to the latest
// without losing rows, a database from a newer Keepsake is refused untouched, a failed
// migration changes nothing, and a corrupt file is set aside (never deleted) and rebuilt.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { KeepsakeError } from '../../../../main/engine/errors.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { openDatabase, openDatabaseReadOnly } from '../../../../main/engine/store/database.js';
import { latestVersion, migrations } from '../../../../main/engine/store/migrations.js';
import { makeTempDir } from '../../../support/paths.js';

const opts = { logger: silentLogger, clock: systemClock };

function columns(db: Database.Database): Record<string, string[]> {
  const tables = db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
    .all() as { name: string }[];
  return Object.fromEntries(
    tables.map((t) => [
      t.name,
      (db.pragma(`table_info(${t.name})`) as { name: string; type: string; notnull: number }[]).map(
        (c) => `${c.name}:${c.type}:${c.notnull}`,
      ),
    ]),
  );
}

function indexes(db: Database.Database): string[] {
  return (
    db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`,
      )
      .all() as { name: string }[]
  ).map((r) => r.name);
}

describe('store migrations', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('keepsake-migrations-'));
  });
  after(() => cleanup());

  it('a new database gets the latest schema, every table STRICT, in WAL mode', () => {
    const { db } = openDatabase(join(dir, 'fresh.db'), opts);
    try {
      assert.equal(db.pragma('user_version', { simple: true }), latestVersion);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      const tables = db
        .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'table'`)
        .all() as { name: string; sql: string }[];
      assert.deepEqual(tables.map((t) => t.name).sort(), [
        'activity',
        'files',
        'folder_problems',
        'folders',
        'groups_sent',
        'location_tombstones',
        'settings',
        'vault_repairs',
        'verify_receipts',
      ]);
      for (const t of tables) assert.match(t.sql, /\)\s*STRICT\s*$/, `${t.name} is STRICT`);
    } finally {
      db.close();
    }
  });

  for (let from = 0; from < latestVersion; from++) {
    it(`upgrades a database made at schema ${from} to ${latestVersion}, keeping its rows`, () => {
      const file = join(dir, `from-${from}.db`);
      const made = openDatabase(file, { ...opts, targetVersion: from });
      if (from >= 1) {
        // A folder and a file as that schema knew them.
        made.db.prepare(`INSERT INTO folders (path, added_at) VALUES ('/photos', 1)`).run();
        made.db
          .prepare(
            `INSERT INTO files (folder_id, path, rel_path, size, mtime_ms, ino, dev, seen_at,
               sha256, state, created_at, updated_at)
             VALUES (1, '/photos/a.jpg', 'a.jpg', 10, 1000, 5, 6, 1000,
               '${'a'.repeat(64)}', 'backed_up', 1, 1)`,
          )
          .run();
      }
      assert.equal(made.db.pragma('user_version', { simple: true }), from);
      made.db.close();

      const upgraded = openDatabase(file, opts).db;
      const fresh = openDatabase(join(dir, `fresh-${from}.db`), opts).db;
      try {
        assert.equal(upgraded.pragma('user_version', { simple: true }), latestVersion);
        assert.deepEqual(columns(upgraded), columns(fresh), 'same columns as a fresh database');
        assert.deepEqual(indexes(upgraded), indexes(fresh), 'same indexes as a fresh database');
        if (from >= 1) {
          const row = upgraded.prepare('SELECT path, state, sha256 FROM files').get() as {
            path: string;
            state: string;
            sha256: string;
          };
          assert.deepEqual(row, {
            path: '/photos/a.jpg',
            state: 'backed_up',
            sha256: 'a'.repeat(64),
          });
        }
      } finally {
        upgraded.close();
        fresh.close();
      }
    });
  }

  it('0014: HEIC, JPEG and MOV files already read are read again for their Live Photo identifier', () => {
    const file = join(dir, 'groups-14.db');
    const made = openDatabase(file, { ...opts, targetVersion: 13 }).db;
    made.prepare(`INSERT INTO folders (path, added_at) VALUES ('/photos', 1)`).run();
    const insert = made.prepare(
      `INSERT INTO files (folder_id, path, rel_path, size, mtime_ms, ino, dev, seen_at, sha256,
         state, media_kind, metadata_state, created_at, updated_at)
       VALUES (1, ?, ?, 1, 1, 1, 1, 1, NULL, 'backed_up', ?, ?, 1, 1)`,
    );
    for (const [name, kind, state] of [
      ['IMG_1.HEIC', 'media', 'sent'],
      ['IMG_1.mov', 'media', 'read'],
      ['b.Jpg', 'media', 'sent'],
      ['c.png', 'media', 'sent'],
      ['IMG_1.AAE', 'sidecar', 'sent'],
    ] as const) {
      insert.run(`/photos/${name}`, name, kind, state);
    }
    made.close();
    const db = openDatabase(file, opts).db;
    try {
      const rows = db
        .prepare('SELECT rel_path AS name, metadata_state AS state FROM files ORDER BY id')
        .all();
      assert.deepEqual(rows, [
        { name: 'IMG_1.HEIC', state: 'pending' },
        { name: 'IMG_1.mov', state: 'pending' },
        { name: 'b.Jpg', state: 'pending' },
        { name: 'c.png', state: 'sent' },
        { name: 'IMG_1.AAE', state: 'sent' },
      ]);
    } finally {
      db.close();
    }
  });

  it('0015: every file keeps every column, a safe file may then be on the vault only, and no folder has allowed freeing up space', () => {
    const file = join(dir, 'free-up-15.db');
    const made = openDatabase(file, { ...opts, targetVersion: 14 }).db;
    made.prepare(`INSERT INTO folders (path, added_at) VALUES ('/photos', 1)`).run();
    made
      .prepare(
        `INSERT INTO files (folder_id, path, rel_path, size, mtime_ms, ino, dev, seen_at, sha256,
           state, created_at, updated_at, proven_at, location_sha256, ctime_ms, rel_path_raw,
           emptied_from, location_refused, apple_content_id, captured_at_ms)
         VALUES (1, '/photos/a.jpg', 'a.jpg', 5, 6, 7, 8, 9, ?, 'backed_up', 1, 2, 3, ?, 10,
           X'ff', NULL, 'no', 'ID', 11)`,
      )
      .run('a'.repeat(64), 'a'.repeat(64));
    const before = made.prepare('SELECT * FROM files').all();
    made.close();
    // up to 0015 only: a later migration's new column is not this one's business
    const db = openDatabase(file, { ...opts, targetVersion: 15 }).db;
    try {
      assert.deepEqual(db.prepare('SELECT * FROM files').all(), before);
      db.prepare(`UPDATE files SET state = 'vault_only'`).run();
      assert.equal(db.prepare('SELECT free_up FROM folders').pluck().get(), 0);
      assert.throws(() => db.prepare(`UPDATE files SET state = 'gone_forever'`).run(), /CHECK/);
    } finally {
      db.close();
    }
  });

  it('0016: JPEG and TIFF files already read are read again for the original an export names', () => {
    const file = join(dir, 'derived-16.db');
    const made = openDatabase(file, { ...opts, targetVersion: 15 }).db;
    made.prepare(`INSERT INTO folders (path, added_at) VALUES ('/photos', 1)`).run();
    const insert = made.prepare(
      `INSERT INTO files (folder_id, path, rel_path, size, mtime_ms, ino, dev, seen_at, sha256,
         state, media_kind, metadata_state, created_at, updated_at)
       VALUES (1, ?, ?, 1, 1, 1, 1, 1, NULL, 'backed_up', ?, ?, 1, 1)`,
    );
    for (const [name, kind, state] of [
      ['export.JPG', 'media', 'sent'],
      ['scan.tiff', 'media', 'read'],
      ['IMG_1.HEIC', 'media', 'sent'],
      ['DSC_1.NEF', 'media', 'sent'],
      ['DSC_1.xmp', 'sidecar', 'sent'],
    ] as const) {
      insert.run(`/photos/${name}`, name, kind, state);
    }
    made.close();
    const db = openDatabase(file, opts).db;
    try {
      const rows = db
        .prepare(
          'SELECT rel_path AS name, metadata_state AS state, derived_from AS names FROM files ORDER BY id',
        )
        .all();
      assert.deepEqual(rows, [
        { name: 'export.JPG', state: 'pending', names: null },
        { name: 'scan.tiff', state: 'pending', names: null },
        { name: 'IMG_1.HEIC', state: 'sent', names: null },
        { name: 'DSC_1.NEF', state: 'sent', names: null },
        { name: 'DSC_1.xmp', state: 'sent', names: null },
      ]);
    } finally {
      db.close();
    }
  });

  it('refuses a database written by a newer Keepsake, and leaves it as it was', () => {
    const file = join(dir, 'newer.db');
    const db = new Database(file);
    db.exec('CREATE TABLE future (x INTEGER) STRICT');
    db.pragma(`user_version = ${latestVersion + 1}`);
    db.close();
    const bytes = readFileSync(file);
    assert.throws(
      () => openDatabase(file, opts),
      (err: unknown) => err instanceof KeepsakeError && err.code === 'database_newer',
    );
    assert.throws(
      () => openDatabaseReadOnly(file),
      (err: unknown) => err instanceof KeepsakeError && err.code === 'database_newer',
    );
    assert.deepEqual(readFileSync(file), bytes, 'the newer database is untouched');
  });

  it('applies pending migrations in one transaction: a failing one leaves the old schema', () => {
    const file = join(dir, 'failing.db');
    openDatabase(file, { ...opts, targetVersion: 1 }).db.close();
    const broken = [
      ...migrations,
      {
        version: latestVersion + 1,
        name: '9999_broken',
        sql: 'ALTER TABLE nope ADD COLUMN x INTEGER;',
      },
    ];
    assert.throws(() => openDatabase(file, { ...opts, migrations: broken }));
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma('user_version', { simple: true }), 1, 'still at schema 1');
      const cols = (db.pragma('table_info(files)') as { name: string }[]).map((c) => c.name);
      assert.ok(!cols.includes('uploaded_at'), 'migration 2 was rolled back with the failing one');
    } finally {
      db.close();
    }
  });

  it('sets a corrupt database aside (renamed, never deleted) and starts a fresh one', () => {
    const file = join(dir, 'corrupt.db');
    const garbage = Buffer.from('this is not an SQLite database at all '.repeat(200));
    writeFileSync(file, garbage);
    const { db, setAside } = openDatabase(file, opts);
    try {
      assert.ok(setAside, 'reports where the corrupt file went');
      assert.ok(existsSync(setAside));
      assert.deepEqual(readFileSync(setAside), garbage, 'the corrupt file is kept byte for byte');
      assert.equal(db.pragma('user_version', { simple: true }), latestVersion);
      assert.equal((db.prepare('SELECT count(*) AS n FROM files').get() as { n: number }).n, 0);
    } finally {
      db.close();
    }
  });
});
