// The vault's groups tables (migration 0008) through VaultIndex, on a real SQLite file: an
// index from before groups gains them and keeps its assets; after any declaration every
// content is in one group at most and every group has one primary and two members or more;
// the listing finds each asset's group by key, not by a scan. Then, on every engine
// (tests/support/index-engines.ts), the same invariant when declarations race, and contents
// the vault does not hold refused in the declaring transaction.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { GroupStore } from '../../../server/index/group-store.js';
import { migrations } from '../../../server/index/migrations.js';
import type { Sql } from '../../../server/index/sql.js';
import { VaultIndex } from '../../../server/index/vault-index.js';
import { closeIndexEngines, enginesWithRerun, holdContents } from '../../support/index-engines.js';
import { makeTempDir } from '../../support/paths.js';

const hex = (c: string) => c.repeat(64);
const asset = (sha256: string) => ({
  sha256,
  size: 1,
  mime: 'image/jpeg',
  kind: 'image' as const,
  filename: 'a.jpg',
  relpath: null,
  mtimeMs: null,
  at: 1,
});

describe('vault index: groups', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    temp = await makeTempDir('keepsake-group-store-');
  });
  after(async () => {
    await temp.cleanup();
  });

  it('an index from before groups gains them and keeps its assets, which stand alone', async () => {
    const path = join(temp.dir, 'v7.db');
    const db = new Database(path);
    db.transaction(() => {
      for (const m of migrations.filter((m) => m.version <= 7)) db.exec(m.sqlite);
      db.pragma('user_version = 7');
    })();
    const insert = db.prepare(
      `INSERT INTO assets (sha256, size, kind, filename, first_uploaded_at) VALUES (?, 1, 'image', 'a.jpg', 1)`,
    );
    for (const c of ['a', 'b']) insert.run(hex(c));
    db.close();
    const index = await VaultIndex.open(path);
    try {
      assert.equal((await index.getAsset(hex('a')))?.group, null);
      const [outcome] = await index.groups.declareMany(
        [
          [
            { sha256: hex('a'), role: 'primary' },
            { sha256: hex('b'), role: 'sidecar' },
          ],
        ],
        5,
      );
      assert.equal(outcome?.status, 'stored');
    } finally {
      await index.close();
    }
  });

  it('keeps one group per content and one primary per group through every declaration', async () => {
    const index = await VaultIndex.open(join(temp.dir, 'invariant.db'));
    try {
      await index.commitBatch(['a', 'b', 'c', 'd', 'e'].map((c) => asset(hex(c))));
      const outcomes = await index.groups.declareMany(
        [
          // a leads {a, b, c}
          [
            { sha256: hex('a'), role: 'primary' },
            { sha256: hex('b'), role: 'live-video' },
            { sha256: hex('c'), role: 'sidecar' },
          ],
          // d takes a (the first group's primary): the rest of that group ends
          [
            { sha256: hex('d'), role: 'primary' },
            { sha256: hex('a'), role: 'edit' },
          ],
          // e takes c out of nothing in particular
          [
            { sha256: hex('e'), role: 'primary' },
            { sha256: hex('c'), role: 'sidecar' },
          ],
        ],
        7,
      );
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ['stored', 'stored', 'stored'],
      );
      const first = outcomes[0]!.status === 'stored' ? outcomes[0]!.id : -1;
      assert.equal(await index.groups.get(first), undefined, 'a group that lost its primary ends');
      assert.equal((await index.getAsset(hex('b')))?.group, null);
      assert.equal((await index.getAsset(hex('a')))?.group?.role, 'edit');
      assert.equal((await index.getAsset(hex('c')))?.group?.role, 'sidecar');
      // e leading c, taken away by a declaration of c alone: e's group ends.
      assert.deepEqual(
        await index.groups.declareMany([[{ sha256: hex('c'), role: 'primary' }]], 8),
        [{ status: 'dissolved' }],
      );
      assert.equal((await index.getAsset(hex('e')))?.group, null);

      const db = new Database(join(temp.dir, 'invariant.db'), { readonly: true });
      const broken = db
        .prepare(
          `SELECT group_id FROM group_members GROUP BY group_id
           HAVING COUNT(*) < 2 OR SUM(role = 'primary') <> 1`,
        )
        .all();
      const orphans = db
        .prepare('SELECT id FROM groups WHERE id NOT IN (SELECT group_id FROM group_members)')
        .all();
      db.close();
      assert.deepEqual(broken, []);
      assert.deepEqual(orphans, []);
    } finally {
      await index.close();
    }
  });

  it('finds an asset group by its key, not by a scan of the members', () => {
    const db = new Database(':memory:');
    for (const m of migrations) db.exec(m.sqlite);
    const plan = db
      .prepare<[], { detail: string }>(
        `EXPLAIN QUERY PLAN SELECT a.*, g.group_id FROM assets a
         LEFT JOIN group_members g ON g.sha256 = a.sha256 WHERE a.id > 0 ORDER BY a.id LIMIT 100`,
      )
      .all()
      .map((r) => r.detail)
      .join('\n');
    assert.doesNotMatch(plan, /SCAN g\b/);
    db.close();
  });
});

after(async () => {
  await closeIndexEngines();
});

for (const engine of enginesWithRerun) {
  describe(`group store in one transaction (${engine.name})`, () => {
    let sql: Sql;
    let groups: GroupStore;
    let close: () => Promise<void>;
    before(async () => {
      const db = await engine.open();
      sql = db;
      close = () => db.close();
      await holdContents(
        sql,
        ['a', 'b', 'c', 'd'].map((c) => ({ sha256: hex(c), size: 1 })),
      );
      groups = new GroupStore(sql);
    });
    after(async () => {
      await close();
    });

    it('refuses whole a declaration that names a content the vault does not hold', async () => {
      const [outcome] = await groups.declareMany(
        [
          [
            { sha256: hex('a'), role: 'primary' },
            { sha256: hex('e'), role: 'sidecar' },
          ],
        ],
        1,
      );
      assert.deepEqual(outcome, { status: 'not_held', notHeld: [hex('e')] });
      assert.equal(await groups.ofContent(hex('a')), undefined);
    });

    it('declarations racing over one content leave every group whole', async () => {
      const outcomes = await Promise.all(
        ['a', 'c', 'd'].map((p, i) =>
          groups.declareMany(
            [
              [
                { sha256: hex(p), role: 'primary' },
                { sha256: hex('b'), role: 'live-video' },
              ],
            ],
            10 + i,
          ),
        ),
      );
      assert.deepEqual(
        outcomes.map(([o]) => o?.status),
        ['stored', 'stored', 'stored'],
      );
      const broken = await sql.all(
        `SELECT group_id FROM group_members GROUP BY group_id
         HAVING COUNT(*) < 2 OR SUM(CASE WHEN role = 'primary' THEN 1 ELSE 0 END) <> 1`,
      );
      const orphans = await sql.all(
        'SELECT id FROM groups WHERE id NOT IN (SELECT group_id FROM group_members)',
      );
      assert.deepEqual([broken, orphans], [[], []]);
      const holder = await groups.ofContent(hex('b'));
      assert.equal(holder?.role, 'live-video');
      assert.equal((await groups.get(holder?.id ?? -1))?.members.length, 2);
    });
  });
}
