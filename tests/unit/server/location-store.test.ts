// The locations table on a real SQLite file: one live row per place, history kept, `at`
// answered from it, and the hot lookups served by indexes (EXPLAIN QUERY PLAN). Then the
// rules a registration checks, on every engine (tests/support/index-engines.ts): they hold
// when two registrations race and when a transaction's work runs again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { LocationStore, OTHER_DEVICE } from '../../../server/index/location-store.js';
import type { Sql } from '../../../server/index/sql.js';
import { VaultIndex } from '../../../server/index/vault-index.js';
import { pathProblem } from '../../../server/locations-api.js';
import { closeIndexEngines, enginesWithRerun, holdContents } from '../../support/index-engines.js';
import { makeTempDir } from '../../support/paths.js';

const hex = (c: string) => c.repeat(64);
const asset = (sha256: string, size: number) => ({
  sha256,
  size,
  mime: null,
  kind: 'other' as const,
  filename: 'f',
  relpath: null,
  mtimeMs: null,
  at: 1,
});
const place = (sha256: string, path: string, size = 10) => ({
  sha256,
  folder: 'F',
  path: Buffer.from(path),
  size,
  mtimeMs: null,
});

describe('location store (SQLite)', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let index: VaultIndex;
  before(async () => {
    temp = await makeTempDir('keepsake-locations-');
    index = await VaultIndex.open(join(temp.dir, 'vault.db'));
    for (const [i, c] of ['a', 'b'].entries()) {
      await index.recordUploadCreated({ id: `u${i}`, sha256: hex(c), size: 10, at: 1 });
      await index.commitVerifiedUpload(`u${i}`, asset(hex(c), 10));
    }
  });
  after(async () => {
    await index.close();
    await temp.cleanup();
  });

  it('keeps one live row per place and the history of what it held', async () => {
    const dev = { id: 'd', name: 'D' };
    const L = index.locations;
    assert.deepEqual(await L.register(dev, [place(hex('a'), 'x.jpg')], 100), [
      { ok: true, change: 'added' },
    ]);
    assert.deepEqual(await L.register(dev, [place(hex('a'), 'x.jpg')], 150), [
      { ok: true, change: 'seen' },
    ]);
    assert.deepEqual(await L.register(dev, [place(hex('b'), 'x.jpg')], 200), [
      { ok: true, change: 'replaced' },
    ]);
    assert.deepEqual(await L.markGone('d', [{ folder: 'F', path: Buffer.from('x.jpg') }], 300), [
      true,
    ]);
    assert.deepEqual(await L.register(dev, [place(hex('b'), 'x.jpg')], 400), [
      { ok: true, change: 'added' },
    ]);
    const at = async (t: number) => (await L.page({ at: t }, 0, 10)).map((l) => l.sha256);
    assert.deepEqual(await at(99), []);
    assert.deepEqual(await at(100), [hex('a')]);
    assert.deepEqual(await at(199), [hex('a')]);
    assert.deepEqual(await at(200), [hex('b')]);
    assert.deepEqual(await at(300), []);
    assert.deepEqual(await at(400), [hex('b')]);
    assert.equal((await L.page({ includeGone: true }, 0, 10)).length, 3);
    const first = (await L.page({ includeGone: true }, 0, 10))[0]!;
    assert.deepEqual([first.firstSeen, first.lastSeen, first.goneAt], [100, 150, 200]);
    assert.deepEqual(
      (await L.page({ sha256: hex('b'), includeGone: true }, 0, 10)).map((l) => l.goneAt),
      [300, null],
    );
  });

  it('refuses paths that escape or are not relative, byte by byte', () => {
    for (const bad of ['', '/a', 'a/', 'a//b', './a', 'a/..', '..', 'a\0b']) {
      assert.notEqual(pathProblem(Buffer.from(bad)), null, JSON.stringify(bad));
    }
    for (const good of ['a', 'a/b.jpg', '..a/b..', '.hidden/x']) {
      assert.equal(pathProblem(Buffer.from(good)), null, good);
    }
    assert.equal(pathProblem(Buffer.from([0xff, 0xfe, 0x2f, 0x41])), null, 'non-UTF-8 is fine');
  });

  it('registering, marking gone and paging a folder use indexes', () => {
    const db = new Database(join(temp.dir, 'vault.db'), { readonly: true });
    const plan = (sql: string, ...params: unknown[]) =>
      db
        .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((r) => r.detail)
        .join(' | ');
    assert.match(
      plan(
        'SELECT id, sha256 FROM locations WHERE device_id = ? AND folder = ? AND path = ? AND gone_at IS NULL',
        'd',
        'F',
        Buffer.from('x'),
      ),
      /USING INDEX locations_live/,
    );
    const folderPage = plan(
      'SELECT * FROM locations WHERE id > 0 AND device_id = ? AND folder = ? AND gone_at IS NULL ORDER BY id LIMIT 100',
      'd',
      'F',
    );
    assert.match(folderPage, /USING INDEX locations_(folder|live)/);
    assert.doesNotMatch(folderPage, /TEMP B-TREE/);
    db.close();
  });
});

after(async () => {
  await closeIndexEngines();
});

for (const engine of enginesWithRerun) {
  describe(`location store rules in one transaction (${engine.name})`, () => {
    let sql: Sql;
    let L: LocationStore;
    let close: () => Promise<void>;
    before(async () => {
      const db = await engine.open();
      sql = db;
      close = () => db.close();
      L = new LocationStore(sql);
      await holdContents(sql, [
        { sha256: hex('a'), size: 10 },
        { sha256: hex('b'), size: 10 },
      ]);
    });
    after(async () => {
      await close();
    });

    it('a device token cannot register or mark gone places another device token holds', async () => {
      const mine = { id: 'client-x', name: 'X', vaultDevice: 'dev_a' };
      assert.deepEqual(await L.register(mine, [place(hex('a'), 'mine.jpg')], 100), [
        { ok: true, change: 'added' },
      ]);
      const theirs = { ...mine, vaultDevice: 'dev_b' };
      assert.equal(await L.register(theirs, [place(hex('b'), 'theirs.jpg')], 110), OTHER_DEVICE);
      const gone = [{ folder: 'F', path: Buffer.from('mine.jpg') }];
      assert.equal(await L.markGone('client-x', gone, 120, 'dev_b'), OTHER_DEVICE);
      assert.equal((await L.page({ deviceId: 'client-x' }, 0, 10)).length, 1, 'nothing moved');
      assert.deepEqual(await L.markGone('client-x', gone, 130, 'dev_a'), [true]);
    });

    it('two registrations of one place at once leave one live row and its history', async () => {
      const dev = { id: 'client-y', name: 'Y' };
      const outcomes = await Promise.all([
        L.register(dev, [place(hex('a'), 'same.jpg')], 200),
        L.register(dev, [place(hex('b'), 'same.jpg')], 200),
      ]);
      const changes = outcomes.map((o) => (Array.isArray(o) && o[0]?.ok ? o[0].change : o));
      assert.deepEqual(changes.sort(), ['added', 'replaced']);
      const live = await L.page({ deviceId: 'client-y' }, 0, 10);
      assert.equal(live.length, 1);
      assert.equal((await L.page({ deviceId: 'client-y', includeGone: true }, 0, 10)).length, 2);
    });

    it('pages by raw path bytes, and names each device by its latest registration', async () => {
      const odd = Buffer.from([0xff, 0xfe, 0x2f, 0x41]);
      const dev = { id: 'client-z', name: 'Old name' };
      await L.register(dev, [{ ...place(hex('a'), ''), path: odd }], 300);
      await L.register({ ...dev, name: 'New name' }, [place(hex('b'), 'later.jpg')], 400);
      const byPrefix = await L.page({ prefix: Buffer.from([0xff, 0xfe]) }, 0, 10);
      assert.deepEqual(
        byPrefix.map((l) => l.path),
        [odd],
      );
      const usage = (await L.byDevice()).find((d) => d.deviceId === 'client-z');
      assert.deepEqual(usage, {
        deviceId: 'client-z',
        deviceName: 'New name',
        files: 2,
        bytes: 20,
      });
      const saved = await L.dedupSaved();
      assert.equal(saved.places, (await L.page({}, 0, 100)).length);
    });
  });
}
