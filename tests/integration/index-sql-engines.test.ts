// The contract every vault index store relies on (server/index/sql.ts), run the same way
// against both engines: a SQLite file on disk and a real PostgreSQL started for this file
// (tests/support/postgres.ts). A store written against the port works on either because both
// pass this.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
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
        // PostgreSQL broke the deadlock by aborting one, which ran again.
        if (db.dialect === 'postgres') assert.equal(attempts, 3);
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
