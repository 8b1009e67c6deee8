// The vault index on each engine it runs on, migrated and empty, for the stores' unit tests:
// a SQLite file in a temp directory, and a database of one real PostgreSQL started for the
// test file on first use (tests/support/postgres.ts). Call closeIndexEngines() in after().
// otherNode() opens the same index as a second vault node would, to test races between nodes.
// `enginesWithRerun` adds SQLite with every transaction's work run twice
// (tests/support/rerun-sql.ts): what PostgreSQL's retry of a transaction that lost a race
// would do to a store, shown on one machine whether or not a race happened.
import { join } from 'node:path';
import { migrateIndex } from '../../server/index/migrate.js';
import { openSqlDatabase } from '../../server/index/open-sql.js';
import type { Sql, SqlDatabase } from '../../server/index/sql.js';
import { makeTempDir } from './paths.js';
import { startTestPostgres, type TestPostgres } from './postgres.js';
import { RerunEveryTransaction } from './rerun-sql.js';

let temp: Promise<{ dir: string; cleanup: () => Promise<void> }> | undefined;
let postgres: Promise<TestPostgres> | undefined;
let files = 0;
const urls = new WeakMap<SqlDatabase, string>();

async function migrated(db: SqlDatabase): Promise<SqlDatabase> {
  try {
    await migrateIndex(db);
    return db;
  } catch (err) {
    await db.close();
    throw err;
  }
}

export const indexEngines = [
  {
    name: 'SQLite',
    async open(): Promise<SqlDatabase> {
      temp ??= makeTempDir('keepsake-index-engines-');
      const { dir } = await temp;
      return migrated(await openSqlDatabase(join(dir, `index-${++files}.db`)));
    },
    /**
     * Another vault node on the index `db`: for SQLite the same handle (one process owns a
     * SQLite index), for PostgreSQL a second pool of its own connections.
     */
    otherNode(db: SqlDatabase): Promise<SqlDatabase> {
      return Promise.resolve(db);
    },
  },
  {
    name: 'PostgreSQL',
    async open(): Promise<SqlDatabase> {
      postgres ??= startTestPostgres();
      const url = await (await postgres).createDatabase();
      const db = await migrated(await openSqlDatabase(url));
      urls.set(db, url);
      return db;
    },
    otherNode(db: SqlDatabase): Promise<SqlDatabase> {
      const url = urls.get(db);
      if (url === undefined) throw new Error('not an index this helper opened');
      return openSqlDatabase(url);
    },
  },
] as const;

export const enginesWithRerun = [
  ...indexEngines,
  {
    name: 'SQLite, every transaction run twice',
    async open(): Promise<SqlDatabase> {
      return new RerunEveryTransaction(await indexEngines[0].open());
    },
  },
] as const;

/** Inserts held contents straight into assets (a store test needs rows, not uploads). */
export async function holdContents(
  sql: Sql,
  contents: readonly { sha256: string; size: number }[],
): Promise<void> {
  for (const c of contents) {
    await sql.run(
      `INSERT INTO assets (sha256, size, kind, filename, first_uploaded_at)
       VALUES (?, ?, 'other', 'f', 1)`,
      [c.sha256, c.size],
    );
  }
}

export async function closeIndexEngines(): Promise<void> {
  const [t, p] = [temp, postgres];
  temp = undefined;
  postgres = undefined;
  await (await p)?.close();
  await (await t)?.cleanup();
}
