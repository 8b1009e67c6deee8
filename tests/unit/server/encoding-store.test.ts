import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EncodingStore } from '../../../server/index/encoding-store.js';
import type { SqlDatabase } from '../../../server/index/sql.js';
import { closeIndexEngines, indexEngines } from '../../support/index-engines.js';

const hex = (c: string) => c.repeat(64);

after(closeIndexEngines);

for (const engine of indexEngines)
  describe(`encoding store on ${engine.name}`, () => {
    let sql: SqlDatabase;
    let encodings: EncodingStore;
    before(async () => {
      sql = await engine.open();
      encodings = new EncodingStore(sql);
      for (const [c, size] of [
        ['a', 1000],
        ['b', 2000],
        ['c', 4000],
      ] as const) {
        await sql.run(
          `INSERT INTO assets (sha256, size, mime, kind, filename, relpath, mtime_ms, first_uploaded_at)
         VALUES (?, ?, NULL, 'other', 'x.txt', NULL, NULL, 1000)`,
          [hex(c), size],
        );
      }
    });
    after(async () => {
      await sql.close();
    });

    it('walks unconsidered contents by id, and records each outcome', async () => {
      const page = await encodings.unconsideredAfter(0, 10);
      assert.deepEqual(
        page.map((a) => [a.sha256, a.size]),
        [
          [hex('a'), 1000],
          [hex('b'), 2000],
          [hex('c'), 4000],
        ],
      );
      await encodings.keptPlain(hex('a'));
      assert.equal(await encodings.compressingNow(hex('b')), true);
      assert.deepEqual(await encodings.compressing(), [hex('b')]);
      assert.equal(await encodings.compressed(hex('b'), 500), true);
      assert.deepEqual(await encodings.compressing(), []);
      assert.deepEqual(
        (await encodings.unconsideredAfter(page[0]!.id, 10)).map((a) => a.sha256),
        [hex('c')],
      );
      assert.deepEqual(await encodings.totals(), {
        storedBytes: 1000 + 500 + 4000,
        compressionSavedBytes: 1500,
        compressedAssets: 1,
      });
      await encodings.forget(hex('b'));
      assert.deepEqual(await encodings.totals(), {
        storedBytes: 7000,
        compressionSavedBytes: 0,
        compressedAssets: 0,
      });
    });

    it('settles a content left compressing only while the index still says so', async () => {
      await encodings.compressingNow(hex('a'));
      await encodings.compressingNow(hex('b'));
      assert.deepEqual((await encodings.compressing()).sort(), [hex('a'), hex('b')]);
      // b was finished by its compressor after the settling listed it.
      await encodings.compressed(hex('b'), 700);
      assert.equal(await encodings.settle(hex('a'), null), true);
      assert.equal(await encodings.settle(hex('b'), null), false);
      assert.deepEqual(await encodings.compressing(), []);
      assert.equal((await encodings.totals()).compressedAssets, 1);
      assert.deepEqual(
        (await encodings.unconsideredAfter(0, 10)).map((a) => a.sha256),
        [hex('a'), hex('c')],
      );
    });

    it('says a content the index no longer holds is not to be compressed', async () => {
      assert.equal(await encodings.compressingNow(hex('f')), false);
      assert.equal(await encodings.compressed(hex('f'), 10), false);
    });
  });
