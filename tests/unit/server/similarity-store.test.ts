import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SimilarityStore } from '../../../server/index/similarity-store.js';
import type { SqlDatabase } from '../../../server/index/sql.js';
import { TrashStore } from '../../../server/index/trash-store.js';
import { closeIndexEngines, indexEngines } from '../../support/index-engines.js';

const hex = (c: string) => c.repeat(64);
const measure = (phash: string) => ({ phash, sharpness: 10, width: 400, height: 300 });

after(closeIndexEngines);

for (const engine of indexEngines)
  describe(`similarity store on ${engine.name}`, () => {
    let sql: SqlDatabase;
    let similarity: SimilarityStore;
    let trash: TrashStore;
    before(async () => {
      sql = await engine.open();
      similarity = new SimilarityStore(sql);
      trash = new TrashStore(sql);
      for (const [c, size] of [
        ['a', 1000],
        ['b', 2000],
        ['c', 4000],
      ] as const) {
        await sql.run(
          `INSERT INTO assets (sha256, size, mime, kind, filename, relpath, mtime_ms, first_uploaded_at)
         VALUES (?, ?, 'image/jpeg', 'image', ?, NULL, NULL, 1000)`,
          [hex(c), size, `${c}.jpg`],
        );
        await sql.run(
          "INSERT INTO previews (sha256, state, source, made_at) VALUES (?, 'made', 'decoded', 1000)",
          [hex(c)],
        );
      }
    });
    after(async () => {
      await sql.close();
    });

    it('measures the photos whose preview is made, and gives a group primary the whole asset size', async () => {
      assert.deepEqual(
        (await similarity.unmeasuredAfter(0, 10)).map((p) => p.sha256),
        [hex('a'), hex('b'), hex('c')],
      );
      for (const c of ['a', 'b', 'c']) {
        assert.equal(await similarity.record(hex(c), measure(c.repeat(16)), 2000), true);
      }
      assert.deepEqual(await similarity.unmeasuredAfter(0, 10), []);
      assert.deepEqual(await similarity.get(hex('a')), measure('a'.repeat(16)));
      const g = await sql.get<{ id: number }>(
        'INSERT INTO groups (declared_at) VALUES (3000) RETURNING id',
      );
      await sql.run(
        "INSERT INTO group_members (sha256, group_id, role, position) VALUES (?, ?, 'primary', 0), (?, ?, 'raw', 1)",
        [hex('a'), g!.id, hex('b'), g!.id],
      );
      const candidates = await similarity.candidates();
      assert.deepEqual(
        candidates.map((c) => [c.sha256, c.size, c.group?.role ?? null]),
        [
          [hex('a'), 3000, 'primary'],
          [hex('c'), 4000, null],
        ],
      );
    });

    it('records no measure for a content the index no longer holds', async () => {
      assert.equal(await similarity.record(hex('f'), measure('f'.repeat(16)), 2000), false);
      assert.equal(await similarity.get(hex('f')), undefined);
    });

    it('changes its signature with every change that could regroup, and only then', async () => {
      let last = await similarity.signature();
      const changed = async (what: string) => {
        const now = await similarity.signature();
        assert.notEqual(now, last, `${what} changes the signature`);
        last = now;
      };
      assert.equal(await similarity.signature(), last, 'nothing changed');

      await similarity.record(hex('c'), measure('0'.repeat(16)), 5000);
      await changed('a new measure');
      // A metadata PUT, then one from a node whose clock is behind.
      await sql.run('UPDATE assets SET metadata = ?, metadata_updated_at = ? WHERE sha256 = ?', [
        '{"favorite":true}',
        6000,
        hex('a'),
      ]);
      await changed('a metadata PUT');
      await sql.run('UPDATE assets SET metadata = ?, metadata_updated_at = ? WHERE sha256 = ?', [
        '{"favorite":false}',
        5500,
        hex('c'),
      ]);
      await changed('a metadata PUT stamped earlier than the last');
      // A member moved to another group in a declaration stamped like the last one.
      const h = await sql.get<{ id: number }>(
        'INSERT INTO groups (declared_at) VALUES (3000) RETURNING id',
      );
      await changed('a new group');
      await sql.run('UPDATE group_members SET group_id = ? WHERE sha256 = ?', [h!.id, hex('b')]);
      await changed('a member moved between groups');
      // The trash: a move, and a restore with another move in the same millisecond.
      await trash.move([hex('c')], 7000, null);
      await changed('a move to the trash');
      await trash.restore([hex('c')]);
      await trash.move([hex('b')], 7000, null);
      await changed('a restore and a move in one millisecond');
      assert.equal(await similarity.signature(), last, 'nothing changed');
    });
  });
