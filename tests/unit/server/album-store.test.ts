// The albums tables through AlbumStore, on real engines: posting an album again, or twice at
// once, makes one album whose members appear once each in the order they were first posted;
// a content the vault does not hold is named, never stored.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AlbumStore } from '../../../server/index/album-store.js';
import { closeIndexEngines, enginesWithRerun, holdContents } from '../../support/index-engines.js';

const hex = (c: string) => c.repeat(64);
const album = { name: 'Trip ✈️', description: '', source: 'takeout' as const, key: 'trip' };

after(async () => {
  await closeIndexEngines();
});

for (const engine of enginesWithRerun) {
  describe(`album store (${engine.name})`, () => {
    let store: AlbumStore;
    let close: () => Promise<void>;
    before(async () => {
      const db = await engine.open();
      close = () => db.close();
      await holdContents(
        db,
        ['a', 'b', 'c'].map((c) => ({ sha256: hex(c), size: 1 })),
      );
      store = new AlbumStore(db);
    });
    after(async () => {
      await close();
    });

    it('one album, each member once, however often and however concurrently it is posted', async () => {
      const [first, second] = await Promise.all([
        store.upsert(album, [hex('a'), hex('b')], 10),
        store.upsert(album, [hex('b'), hex('c')], 11),
      ]);
      assert.equal(first.id, second.id);
      assert.deepEqual([first.created, second.created].sort(), [false, true]);
      assert.equal(first.added + second.added, 3);
      const again = await store.upsert(album, [hex('c'), hex('a')], 12);
      assert.deepEqual(again, { id: first.id, created: false, added: 0, notHeld: [] });
      const found = await store.withMembers(first.id);
      assert.equal(found?.album.memberCount, 3);
      assert.deepEqual([...(found?.members ?? [])].sort(), [hex('a'), hex('b'), hex('c')]);
      assert.deepEqual(found?.members, await store.members(first.id));
      assert.equal((await store.list()).length, 1);
    });

    it('names the members the vault does not hold and stores the rest', async () => {
      const r = await store.upsert({ ...album, key: 'partly' }, [hex('d'), hex('a')], 20);
      assert.deepEqual([r.created, r.added, r.notHeld], [true, 1, [hex('d')]]);
      assert.deepEqual(await store.members(r.id), [hex('a')]);
      assert.equal(await store.get(r.id + 1000), undefined);
    });
  });
}
