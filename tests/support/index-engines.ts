// The vault index on each engine it runs on, migrated and empty, for the stores' unit tests:
// a SQLite file in a temp directory, and a database of one real PostgreSQL started for the
// test file on first use (tests/support/postgres.ts). Call closeIndexEngines() in after().
import { join } from 'node:path';
import { migrateIndex } from '../../server/index/migrate.js';
import { openSqlDatabase } from '../../server/index/open-sql.js';
import type { SqlDatabase } from '../../server/index/sql.js';
import { makeTempDir } from './paths.js';
import { startTestPostgres, type TestPostgres } from './postgres.js';

let temp: Promise<{ dir: string; cleanup: () => Promise<void> }> | undefined;
let postgres: Promise<TestPostgres> | undefined;
let files = 0;

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
  },
  {
    name: 'PostgreSQL',
    async open(): Promise<SqlDatabase> {
      postgres ??= startTestPostgres();
      return migrated(await openSqlDatabase(await (await postgres).createDatabase()));
    },
  },
] as const;

export async function closeIndexEngines(): Promise<void> {
  const [t, p] = [temp, postgres];
  temp = undefined;
  postgres = undefined;
  await (await p)?.close();
  await (await t)?.cleanup();
}
