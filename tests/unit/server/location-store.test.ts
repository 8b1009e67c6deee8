// The locations table on a real SQLite file: one live row per place, history kept, `at`
// answered from it, and the hot lookups served by indexes (EXPLAIN QUERY PLAN).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { VaultIndex } from '../../../server/index/vault-index.js';
import { pathProblem } from '../../../server/locations-api.js';
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

  it('keeps one live row per place and the history of what it held', () => {
    const dev = { id: 'd', name: 'D' };
    const L = index.locations;
    assert.deepEqual(L.register(dev, [place(hex('a'), 'x.jpg')], 100), [
      { ok: true, change: 'added' },
    ]);
    assert.deepEqual(L.register(dev, [place(hex('a'), 'x.jpg')], 150), [
      { ok: true, change: 'seen' },
    ]);
    assert.deepEqual(L.register(dev, [place(hex('b'), 'x.jpg')], 200), [
      { ok: true, change: 'replaced' },
    ]);
    assert.deepEqual(L.markGone('d', [{ folder: 'F', path: Buffer.from('x.jpg') }], 300), [true]);
    assert.deepEqual(L.register(dev, [place(hex('b'), 'x.jpg')], 400), [
      { ok: true, change: 'added' },
    ]);
    const at = (t: number) => L.page({ at: t }, 0, 10).map((l) => l.sha256);
    assert.deepEqual(at(99), []);
    assert.deepEqual(at(100), [hex('a')]);
    assert.deepEqual(at(199), [hex('a')]);
    assert.deepEqual(at(200), [hex('b')]);
    assert.deepEqual(at(300), []);
    assert.deepEqual(at(400), [hex('b')]);
    assert.equal(L.page({ includeGone: true }, 0, 10).length, 3);
    const first = L.page({ includeGone: true }, 0, 10)[0]!;
    assert.deepEqual([first.firstSeen, first.lastSeen, first.goneAt], [100, 150, 200]);
    assert.deepEqual(
      L.page({ sha256: hex('b'), includeGone: true }, 0, 10).map((l) => l.goneAt),
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
