// The contract every vault index store relies on (server/index/sql.ts), run the same way
// against both engines: a SQLite file on disk and a real PostgreSQL started for this file
// (tests/support/postgres.ts). A store written against the port works on either because both
// pass this.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { migrations } from '../../server/index/migrations.js';
import { openSqlDatabase } from '../../server/index/open-sql.js';
import { PostgresSql } from '../../server/index/postgres-sql.js';
import type { Sql, SqlDatabase } from '../../server/index/sql.js';
import { makeTempDir } from '../support/paths.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';

let postgres: TestPostgres;
let temp: { dir: string; cleanup: () => Promise<void> };
let files = 0;

before(async () => {
  temp = await makeTempDir('keepsake-sql-engines-');
  postgres = await startTestPostgres();
});
after(async () => {
  await postgres?.close();
  await temp?.cleanup();
});

const engines = [
  { name: 'SQLite', open: () => openSqlDatabase(join(temp.dir, `index-${++files}.db`)) },
  { name: 'PostgreSQL', open: async () => openSqlDatabase(await postgres.createDatabase()) },
] as const;

/** A table in the subset both engines read alike. */
const TABLE = 'CREATE TABLE items (k TEXT PRIMARY KEY, n BIGINT NOT NULL, b BYTEA)';
const tableFor = (db: Sql) => (db.dialect === 'sqlite' ? TABLE.replace('BYTEA', 'BLOB') : TABLE);

async function withDatabase(
  open: () => Promise<SqlDatabase>,
  body: (db: SqlDatabase) => Promise<void>,
): Promise<void> {
  const db = await open();
  try {
    await db.run(tableFor(db));
    await body(db);
  } finally {
    await db.close();
  }
}

/** A promise and the function that settles it. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

const count = async (db: Sql): Promise<number> =>
  (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM items'))!.n;

for (const engine of engines) {
  describe(`the vault index's SQL port on ${engine.name}`, () => {
    it('reads and writes rows with ? and @name parameters, and counts what a statement changed', () =>
      withDatabase(engine.open, async (db) => {
        const inserted = await db.run('INSERT INTO items (k, n, b) VALUES (?, ?, ?), (?, ?, ?)', [
          'a', 1, Buffer.from([0, 1, 255]), 'b', 2, null,
        ]); // prettier-ignore
        assert.equal(inserted.changes, 2);
        const row = await db.get<{ k: string; n: number; b: Buffer | null }>(
          'SELECT k, n, b FROM items WHERE k = @k',
          { k: 'a' },
        );
        assert.deepEqual(row, { k: 'a', n: 1, b: Buffer.from([0, 1, 255]) });
        assert.equal(await db.get('SELECT k FROM items WHERE k = ?', ['none']), undefined);
        const updated = await db.run('UPDATE items SET n = n + @by WHERE n >= @from', {
          by: 10,
          from: 1,
        });
        assert.equal(updated.changes, 2);
        const all = await db.all<{ k: string; n: number }>('SELECT k, n FROM items ORDER BY k');
        assert.deepEqual(all, [
          { k: 'a', n: 11 },
          { k: 'b', n: 12 },
        ]);
        const returned = await db.get<{ k: string }>(
          'INSERT INTO items (k, n) VALUES (?, ?) ON CONFLICT (k) DO NOTHING RETURNING k',
          ['c', 3],
        );
        assert.deepEqual(returned, { k: 'c' });
        const again = await db.run(
          'INSERT INTO items (k, n) VALUES (?, ?) ON CONFLICT (k) DO NOTHING',
          ['c', 4],
        );
        assert.equal(again.changes, 0);
      }));

    it('returns integers beyond 2^32 (byte counts, unix ms) as exact JavaScript numbers', () =>
      withDatabase(engine.open, async (db) => {
        const big = 2 ** 40 + 3;
        await db.run('INSERT INTO items (k, n) VALUES (?, ?), (?, ?)', ['a', big, 'b', big]);
        const row = await db.get<{ n: number; total: number; rows: number }>(
          'SELECT MAX(n) AS n, SUM(n) AS total, COUNT(*) AS "rows" FROM items',
        );
        assert.deepEqual(row, { n: big, total: 2 * big, rows: 2 });
      }));

    it('leaves nothing behind from a transaction whose work failed, nested ones included', () =>
      withDatabase(engine.open, async (db) => {
        await assert.rejects(
          db.transaction(async (tx) => {
            await tx.run('INSERT INTO items (k, n) VALUES (?, ?)', ['a', 1]);
            await tx.transaction(async (inner) => {
              await inner.run('INSERT INTO items (k, n) VALUES (?, ?)', ['b', 2]);
            });
            assert.equal(await count(tx), 2, 'the work sees its own rows');
            throw new Error('the rule refused');
          }),
          /the rule refused/,
        );
        assert.equal(await count(db), 0);
        const kept = await db.transaction(async (tx) => {
          await tx.run('INSERT INTO items (k, n) VALUES (?, ?)', ['c', 3]);
          return 'kept';
        });
        assert.equal(kept, 'kept');
        assert.equal(await count(db), 1);
      }));

    it('never shows a call outside a transaction the rows that transaction later undoes', () =>
      withDatabase(engine.open, async (db) => {
        const inserted = signal();
        const finish = signal();
        let outside: Promise<number> | undefined;
        const order: string[] = [];
        const tx = db
          .transaction(async (t) => {
            await t.run('INSERT INTO items (k, n) VALUES (?, ?)', ['a', 1]);
            // Another request's call, made while this transaction is open.
            outside = count(db).then((n) => (order.push('outside call answered'), n));
            inserted.fire();
            await finish.promise;
            throw new Error('undone');
          })
          .finally(() => order.push('transaction ended'));
        await inserted.promise;
        finish.fire();
        await assert.rejects(tx, /undone/);
        assert.equal(await outside, 0);
        if (db.dialect === 'sqlite') {
          // One connection: the call waited for the transaction rather than run inside it.
          assert.deepEqual(order, ['transaction ended', 'outside call answered']);
        }
      }));

    it('commits every one of several read-then-write transactions racing on one row', () =>
      withDatabase(engine.open, async (db) => {
        await db.run('INSERT INTO items (k, n) VALUES (?, ?)', ['counter', 0]);
        const racers = 4;
        let attempts = 0;
        // Only PostgreSQL runs transactions at once: there every racer's first attempt reads
        // the counter before any of them writes, so all but one must be retried. SQLite runs
        // them one after another, so nothing waits.
        let read = 0;
        const allRead = signal();
        const results = await Promise.all(
          Array.from({ length: racers }, (_, i) =>
            db.transaction(async (tx) => {
              attempts += 1;
              const row = await tx.get<{ n: number }>('SELECT n FROM items WHERE k = ?', [
                'counter',
              ]);
              if (db.dialect === 'postgres' && attempts <= racers) {
                if (++read === racers) allRead.fire();
                await allRead.promise;
              }
              await tx.run('UPDATE items SET n = ? WHERE k = ?', [row!.n + 1, 'counter']);
              return i;
            }),
          ),
        );
        assert.deepEqual(results, [0, 1, 2, 3]);
        const final = await db.get<{ n: number }>('SELECT n FROM items WHERE k = ?', ['counter']);
        assert.equal(final!.n, racers, 'no increment was lost');
        if (db.dialect === 'postgres') assert.ok(attempts > racers, `retried (${attempts})`);
      }));

    it('commits both of two transactions that lock two rows in opposite orders', () =>
      withDatabase(engine.open, async (db) => {
        await db.run('INSERT INTO items (k, n) VALUES (?, ?), (?, ?)', ['a', 0, 'b', 0]);
        let firstTouched = 0;
        let attempts = 0;
        const bothTouched = signal();
        const move = (first: string, second: string) =>
          db.transaction(async (tx) => {
            attempts += 1;
            await tx.run('UPDATE items SET n = n + 1 WHERE k = ?', [first]);
            if (db.dialect === 'postgres' && firstTouched < 2) {
              if (++firstTouched === 2) bothTouched.fire();
              await bothTouched.promise;
            }
            await tx.run('UPDATE items SET n = n + 1 WHERE k = ?', [second]);
          });
        await Promise.all([move('a', 'b'), move('b', 'a')]);
        const rows = await db.all<{ k: string; n: number }>('SELECT k, n FROM items ORDER BY k');
        assert.deepEqual(rows, [
          { k: 'a', n: 2 },
          { k: 'b', n: 2 },
        ]);
        // PostgreSQL broke the deadlock by aborting one, which ran again (more than once, if
        // its second run began before the other committed).
        if (db.dialect === 'postgres') assert.ok(attempts >= 3, `retried (${attempts})`);
      }));

    it('migrates from empty, once, and asks the caller whether it may', async () => {
      const db = await engine.open();
      try {
        assert.equal(await db.schemaVersion(), 0);
        const steps = [
          { version: 1, script: 'CREATE TABLE one (a TEXT NOT NULL);' },
          {
            version: 2,
            script: "CREATE TABLE two (b TEXT NOT NULL); INSERT INTO one (a) VALUES ('x');",
          },
        ];
        const seen: number[] = [];
        await db.migrate(steps, (current) => seen.push(current));
        await db.migrate(steps, (current) => seen.push(current));
        assert.deepEqual(seen, [0, 2]);
        assert.equal(await db.schemaVersion(), 2);
        assert.equal((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM one'))!.n, 1);
        await assert.rejects(
          db.migrate([...steps, { version: 3, script: 'CREATE TABLE three (c TEXT);' }], () => {
            throw new Error('too new');
          }),
          /too new/,
        );
        assert.equal(await db.schemaVersion(), 2);
        await assert.rejects(db.get('SELECT * FROM three'));
      } finally {
        await db.close();
      }
    });
  });
}

/** The vault's migrations as the engine's driver applies them. */
const stepsFor = (db: Sql) =>
  migrations.map((m) => ({ version: m.version, script: m[db.dialect] }));
const latest = migrations.at(-1)!.version;

interface Column {
  name: string;
  type: string;
  notNull: boolean;
  primaryKey: boolean;
  generated: boolean;
}
interface Index {
  table: string;
  columns: string[];
  unique: boolean;
  partial: boolean;
}
interface Schema {
  tables: Map<string, Column[]>;
  indexes: Map<string, Index>;
}

async function sqliteSchema(db: Sql): Promise<Schema> {
  const tables = new Map<string, Column[]>();
  const indexes = new Map<string, Index>();
  const names = await db.all<{ name: string }>(
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  for (const { name } of names) {
    // table_xinfo, not table_info: it lists generated columns too (hidden 2 or 3).
    const cols = await db.all<{
      name: string;
      type: string;
      notnull: number;
      pk: number;
      hidden: number;
    }>('SELECT name, type, "notnull", pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid', [name]);
    tables.set(
      name,
      cols.map((c) => ({
        name: c.name,
        type: c.type.split(' ')[0]!,
        notNull: c.notnull === 1,
        primaryKey: c.pk > 0,
        generated: c.hidden === 2 || c.hidden === 3,
      })),
    );
    const list = await db.all<{ name: string; unique: number; partial: number }>(
      'SELECT name, "unique", partial FROM pragma_index_list(?)',
      [name],
    );
    for (const i of list.filter((i) => !i.name.startsWith('sqlite_autoindex_'))) {
      const columns = await db.all<{ name: string }>(
        'SELECT name FROM pragma_index_info(?) ORDER BY seqno',
        [i.name],
      );
      indexes.set(i.name, {
        table: name,
        columns: columns.map((c) => c.name),
        unique: i.unique === 1,
        partial: i.partial === 1,
      });
    }
  }
  return { tables, indexes };
}

async function postgresSchema(db: Sql): Promise<Schema> {
  const tables = new Map<string, Column[]>();
  const cols = await db.all<{
    table_name: string;
    column_name: string;
    data_type: string;
    is_nullable: string;
    is_generated: string;
    primary_key: boolean;
  }>(
    `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, c.is_generated,
            EXISTS (SELECT 1 FROM information_schema.key_column_usage k
                    JOIN information_schema.table_constraints t
                      ON t.constraint_name = k.constraint_name AND t.table_schema = k.table_schema
                    WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema
                      AND k.table_name = c.table_name AND k.column_name = c.column_name) AS primary_key
       FROM information_schema.columns c
      WHERE c.table_schema = current_schema() AND c.table_name <> 'keepsake_schema'
      ORDER BY c.table_name, c.ordinal_position`,
  );
  for (const c of cols) {
    const list = tables.get(c.table_name) ?? [];
    list.push({
      name: c.column_name,
      type: c.data_type,
      notNull: c.is_nullable === 'NO',
      primaryKey: c.primary_key,
      generated: c.is_generated === 'ALWAYS',
    });
    tables.set(c.table_name, list);
  }
  const indexes = new Map<string, Index>();
  const list = await db.all<{ indexname: string; tablename: string; indexdef: string }>(
    'SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema()',
  );
  for (const i of list) {
    const columns = await db.all<{ name: string }>(
      `SELECT a.attname AS name
         FROM pg_index x
         JOIN pg_class c ON c.oid = x.indexrelid
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
        WHERE c.relname = ? AND c.relnamespace = current_schema()::regnamespace
        ORDER BY k.ord`,
      [i.indexname],
    );
    indexes.set(i.indexname, {
      table: i.tablename,
      columns: columns.map((c) => c.name),
      unique: i.indexdef.startsWith('CREATE UNIQUE'),
      partial: i.indexdef.includes(' WHERE '),
    });
  }
  return { tables, indexes };
}

/** The PostgreSQL types a SQLite STRICT column type may become (See [Note: One schema, two texts]). */
const COMPATIBLE: Record<string, readonly string[]> = {
  INTEGER: ['bigint', 'integer'],
  TEXT: ['text'],
  BLOB: ['bytea'],
  REAL: ['double precision'],
};

describe('the vault schema on both engines', () => {
  let sqlite: SqlDatabase;
  let postgresDb: SqlDatabase;
  before(async () => {
    sqlite = await engines[0].open();
    postgresDb = await engines[1].open();
    for (const db of [sqlite, postgresDb]) {
      await db.migrate(stepsFor(db), (current) => assert.equal(current, 0));
    }
  });
  after(async () => {
    await sqlite?.close();
    await postgresDb?.close();
  });

  it('migrates an empty index to the latest version on both engines', async () => {
    assert.equal(await sqlite.schemaVersion(), latest);
    assert.equal(await postgresDb.schemaVersion(), latest);
  });

  it('makes every table and column on PostgreSQL that it makes on SQLite, with a compatible type', async () => {
    const want = await sqliteSchema(sqlite);
    const have = await postgresSchema(postgresDb);
    assert.deepEqual([...have.tables.keys()].sort(), [...want.tables.keys()].sort(), 'tables');
    for (const [table, columns] of want.tables) {
      const pgColumns = have.tables.get(table)!;
      assert.deepEqual(
        pgColumns.map((c) => c.name),
        columns.map((c) => c.name),
        `${table}: columns, in order`,
      );
      columns.forEach((c, i) => {
        const p = pgColumns[i]!;
        const where = `${table}.${c.name}`;
        assert.ok(COMPATIBLE[c.type], `${where}: SQLite type ${c.type} has no PostgreSQL mapping`);
        assert.ok(
          COMPATIBLE[c.type]!.includes(p.type),
          `${where}: ${c.type} on SQLite, ${p.type} on PostgreSQL`,
        );
        assert.equal(p.primaryKey, c.primaryKey, `${where}: primary key`);
        // SQLite reports a STRICT table's TEXT PRIMARY KEY as nullable, though it refuses NULL.
        assert.equal(p.notNull, c.notNull || c.primaryKey, `${where}: NOT NULL`);
        assert.equal(p.generated, c.generated, `${where}: generated`);
      });
    }
  });

  it('makes every named index on PostgreSQL that it makes on SQLite, on the same columns, as unique and as partial', async () => {
    const want = await sqliteSchema(sqlite);
    const have = await postgresSchema(postgresDb);
    for (const [name, index] of want.indexes) {
      const onPostgres = have.indexes.get(name);
      // A SQLite index ends with the rowid unnamed; PostgreSQL's names id where it pages by it.
      if (onPostgres?.columns.at(-1) === 'id' && index.columns.at(-1) !== 'id') {
        onPostgres.columns.pop();
      }
      assert.deepEqual(onPostgres, index, `index ${name}`);
    }
  });

  it("derives an asset's timeline time from the same metadata the same way on both engines", async () => {
    const captureTimes = [
      '2021-06-01T12:34:56.789+02:00',
      '2021-06-01T12:34:56Z',
      '2021-06-01T23:59:59.5-05:30',
      '2021-06-01T12:34:56',
      '2021-06-01 12:34',
      '2021-06-01',
      '2021:06:01 12:34:56',
      'yesterday',
      null,
    ];
    const rows = [
      ...captureTimes.map((t) => ({ metadata: JSON.stringify({ captureTime: t }), mtime: 5_000 })),
      { metadata: JSON.stringify({ width: 4 }), mtime: 6_000 },
      { metadata: null, mtime: null },
    ];
    const takenAt = async (db: Sql): Promise<number[]> => {
      await db.transaction(async (tx) => {
        for (const [i, r] of rows.entries()) {
          await tx.run(
            `INSERT INTO assets (sha256, size, kind, filename, first_uploaded_at, metadata, mtime_ms)
             VALUES (?, 1, 'image', 'a.jpg', 7000, ?, ?)`,
            [String(i).padStart(64, '0'), r.metadata, r.mtime],
          );
        }
      });
      const got = await db.all<{ taken_at: number }>('SELECT taken_at FROM assets ORDER BY id');
      return got.map((r) => r.taken_at);
    };
    const onSqlite = await takenAt(sqlite);
    assert.equal(onSqlite[0], Date.parse('2021-06-01T12:34:56.789+02:00'));
    assert.deepEqual(await takenAt(postgresDb), onSqlite);
  });
});

describe('the vault index on PostgreSQL, beyond the common contract', () => {
  it('applies each migration once when two vault nodes start at the same moment', async () => {
    const url = await postgres.createDatabase();
    const nodes = [new PostgresSql(url), new PostgresSql(url)];
    try {
      const steps = [
        { version: 1, script: 'CREATE TABLE applied (step integer NOT NULL);' },
        { version: 2, script: 'INSERT INTO applied VALUES (2); CREATE TABLE other (x text);' },
      ];
      const seen: number[] = [];
      await Promise.all(nodes.map((n) => n.migrate(steps, (current) => seen.push(current))));
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        [0, 2],
      );
      const applied = await nodes[0]!.all<{ step: number }>('SELECT step FROM applied');
      assert.deepEqual(applied, [{ step: 2 }]);
      assert.equal(await nodes[1]!.schemaVersion(), 2);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it('gives up on a transaction that keeps losing races, saying so, after a bounded number of tries', async () => {
    const db = new PostgresSql(await postgres.createDatabase());
    try {
      let attempts = 0;
      await assert.rejects(
        db.transaction(async (tx) => {
          attempts += 1;
          // The server's own serialization failure, as a lost race reports it.
          await tx.run("DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '40001'; END $$");
        }),
        { name: 'PostgresIndexError', code: 'index_busy', message: /12 attempts/ },
      );
      assert.equal(attempts, 12);
    } finally {
      await db.close();
    }
  });

  it('fails a transaction whose work caught a failed statement, rather than report it committed', async () => {
    const db = new PostgresSql(await postgres.createDatabase());
    try {
      await db.run(TABLE);
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.run('INSERT INTO items (k, n) VALUES (?, ?)', ['a', 1]);
          await tx.run('INSERT INTO items (k, n) VALUES (?, ?)', ['a', 2]).catch(() => undefined);
        }),
        /rolled back/,
      );
      assert.equal(await count(db), 0);
    } finally {
      await db.close();
    }
  });

  it('refuses an integer beyond 2^53 rather than round it', async () => {
    const db = new PostgresSql(await postgres.createDatabase());
    try {
      await assert.rejects(db.get('SELECT 9007199254740993::bigint AS n'), /beyond the integers/);
      await assert.rejects(db.get('SELECT SUM(9007199254740993::bigint) AS n'), /beyond/);
      assert.deepEqual(await db.get('SELECT 9007199254740991::bigint AS n'), {
        n: 9007199254740991,
      });
    } finally {
      await db.close();
    }
  });

  it('describes itself without the password', async () => {
    const db = await openSqlDatabase('postgres://keepsake:s3cret@db.example:6543/vault');
    try {
      assert.equal(db.dialect, 'postgres');
      assert.equal(db.description, 'postgres://keepsake@db.example:6543/vault');
      assert.doesNotMatch(db.description, /s3cret/);
    } finally {
      await db.close();
    }
    const other = await openSqlDatabase('postgresql://db.example/vault?password=s3cret');
    try {
      assert.equal(other.dialect, 'postgres');
      assert.doesNotMatch(other.description, /s3cret/);
    } finally {
      await other.close();
    }
  });

  it('says in words when the server is not there or refuses the database', async () => {
    const own = await startTestPostgres();
    try {
      const url = await own.createDatabase();
      const db = new PostgresSql(url, { connectTimeoutMs: 10_000 });
      try {
        assert.deepEqual(await db.get('SELECT 1 AS one'), { one: 1 });
        await own.stop();
        await assert.rejects(db.get('SELECT 1 AS one'), {
          name: 'PostgresIndexError',
          code: 'index_unreachable',
          message: `could not reach the PostgreSQL index at 127.0.0.1:${own.port}: connection refused`,
        });
      } finally {
        await db.close();
      }
    } finally {
      await own.close();
    }
    const missing = new PostgresSql(`postgres://postgres@127.0.0.1:${postgres.port}/no_such_db`);
    try {
      await assert.rejects(
        missing.migrate([], () => {}),
        {
          code: 'index_unreachable',
          message: `the PostgreSQL index at 127.0.0.1:${postgres.port} refused the connection: database "no_such_db" does not exist`,
        },
      );
    } finally {
      await missing.close();
    }
  });
});
