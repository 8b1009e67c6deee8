// What the vault made of each asset's thumbnail and preview, on both index engines (a SQLite
// file and a real PostgreSQL): no row is pending, a lasting failure is remembered with its
// reason until a decoder that cures it is added.
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { PreviewStore } from '../../../server/index/preview-store.js';
import type { SqlDatabase } from '../../../server/index/sql.js';
import { closeIndexEngines, indexEngines } from '../../support/index-engines.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');

after(closeIndexEngines);

for (const engine of indexEngines)
  describe(`preview store on ${engine.name}`, () => {
    let sql: SqlDatabase;
    let previews: PreviewStore;
    beforeEach(async () => {
      sql = await engine.open();
      previews = new PreviewStore(sql);
      for (let i = 1; i <= 4; i++) {
        await sql.run(
          `INSERT INTO assets (sha256, size, mime, kind, filename, relpath, mtime_ms, first_uploaded_at)
           VALUES (?, 10, 'image/heic', 'image', ?, NULL, NULL, 1000)`,
          [hex(i), `IMG_${i}.HEIC`],
        );
      }
    });
    afterEach(() => sql.close());

    const pending = async (after = 0) =>
      (await previews.pendingAfter(after, 10)).map((p) => p.sha256);

    it('an asset is pending until its outcome is recorded, in upload order after a cursor', async () => {
      assert.deepEqual(await pending(), [hex(1), hex(2), hex(3), hex(4)]);
      const [first] = await previews.pendingAfter(0, 1);
      assert.ok(first !== undefined);
      assert.deepEqual(first, {
        id: first.id,
        sha256: hex(1),
        kind: 'image',
        mime: 'image/heic',
        filename: 'IMG_1.HEIC',
      });
      await previews.record(hex(1), { state: 'made', source: 'decoded' }, 5);
      await previews.record(hex(3), { state: 'none', reason: 'no decoder' }, 6);
      assert.deepEqual(await pending(), [hex(2), hex(4)]);
      assert.deepEqual(await pending(first.id + 1), [hex(4)]);
      assert.deepEqual(await previews.get(hex(1)), { state: 'made', source: 'decoded', madeAt: 5 });
      assert.deepEqual(await previews.get(hex(3)), {
        state: 'none',
        reason: 'no decoder',
        madeAt: 6,
      });
      assert.equal(await previews.get(hex(2)), undefined);
      assert.deepEqual(await previews.counts(), { made: 1, none: 1 });
      // Recorded again (a remake): the last outcome stands.
      await previews.record(hex(3), { state: 'made', source: 'embedded' }, 7);
      assert.deepEqual(await previews.counts(), { made: 2, none: 0 });
    });

    it('a decoder added since makes the assets it cures pending again, and only those', async () => {
      await previews.record(hex(1), { state: 'none', reason: 'HEIC: no HEIF decoder' }, 1);
      await previews.record(hex(2), { state: 'none', reason: 'HEIC: no HEIF decoder (x)' }, 1);
      await previews.record(hex(3), { state: 'none', reason: 'video: no ffmpeg' }, 1);
      await previews.record(hex(4), { state: 'made', source: 'decoded' }, 1);
      assert.equal(await previews.forgetReasons(['HEIC: no HEIF decoder', 'nothing: %_']), 2);
      assert.deepEqual(await pending(), [hex(1), hex(2)]);
      await previews.forget(hex(4));
      assert.deepEqual(await pending(), [hex(1), hex(2), hex(4)]);
      await previews.clear();
      assert.deepEqual(await pending(), [hex(1), hex(2), hex(3), hex(4)]);
    });
  });
