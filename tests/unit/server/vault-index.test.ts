import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { IndexTooNewError, VaultIndex } from '../../../server/index/vault-index.js';
import { migrations } from '../../../server/index/migrations.js';
import { makeTempDir } from '../../support/paths.js';

const hex = (c: string) => c.repeat(64);
const asset = (sha256: string, size: number, at = 1000) => ({
  sha256,
  size,
  mime: 'image/jpeg',
  kind: 'image' as const,
  filename: 'a.jpg',
  relpath: null,
  mtimeMs: null,
  at,
});

describe('vault index (SQLite)', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    temp = await makeTempDir('keepsake-vault-index-');
  });
  after(async () => {
    await temp.cleanup();
  });

  it('creates the schema at the latest version, in WAL mode, with STRICT tables', async () => {
    const path = join(temp.dir, 'fresh.db');
    await (await VaultIndex.open(path)).close();
    const db = new Database(path);
    assert.equal(db.pragma('user_version', { simple: true }), migrations.at(-1)!.version);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const tables = db
      .prepare<[], { name: string; strict: number }>(
        "SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'",
      )
      .all();
    assert.deepEqual(tables.map((t) => t.name).sort(), [
      'album_members',
      'albums',
      'asset_checks',
      'assets',
      'counters',
      'devices',
      'enrolments',
      'group_members',
      'groups',
      'locations',
      'previews',
      'quota_reservations',
      'similarity',
      'trash',
      'uploads',
    ]);
    assert.ok(
      tables.every((t) => t.strict === 1),
      'every table is STRICT',
    );
    db.close();
  });

  it('refuses a database from a newer vault', async () => {
    const path = join(temp.dir, 'newer.db');
    const db = new Database(path);
    db.pragma('user_version = 999');
    db.close();
    await assert.rejects(VaultIndex.open(path), IndexTooNewError);
  });

  it('commits an asset once; a second commit of the same content adds to dedupSavedBytes', async () => {
    const index = await VaultIndex.open(join(temp.dir, 'dedup.db'));
    await index.recordUploadCreated({ id: 'u1', sha256: hex('a'), size: 10, at: 1 });
    await index.recordUploadCreated({ id: 'u2', sha256: hex('a'), size: 10, at: 2 });
    assert.equal(
      await index.committedAndReservedBytes(),
      20,
      'in-flight uploads reserve their size',
    );
    assert.equal(await index.commitVerifiedUpload('u1', asset(hex('a'), 10)), true);
    assert.equal(
      await index.commitVerifiedUpload('u2', { ...asset(hex('a'), 10), filename: 'b.jpg' }),
      false,
    );
    const usage = await index.usage();
    assert.equal(usage.assets, 1);
    assert.equal(usage.bytes, 10);
    assert.equal(usage.dedupSavedBytes, 10);
    assert.equal((await index.getAsset(hex('a')))?.filename, 'a.jpg', 'the first upload names it');
    assert.equal((await index.getUpload('u2'))?.state, 'finished');
    assert.equal(await index.committedAndReservedBytes(), 10, 'finished uploads reserve nothing');
    // The same upload committed again (a second node finishing it too) is one upload.
    assert.equal(await index.commitVerifiedUpload('u2', asset(hex('a'), 10)), false);
    assert.equal((await index.usage()).dedupSavedBytes, 10, 'not counted as a duplicate again');
    await index.close();
  });

  it('lists in upload order after a cursor, and checks presence in batches over 500', async () => {
    const index = await VaultIndex.open(join(temp.dir, 'list.db'));
    const hashes = Array.from({ length: 7 }, (_, i) => i.toString(16).repeat(64));
    for (const [i, h] of hashes.entries()) {
      await index.recordUploadCreated({ id: `u${i}`, sha256: h, size: i, at: i });
      await index.commitVerifiedUpload(`u${i}`, asset(h, i, i));
    }
    const first = await index.listAssets(0, 4);
    assert.deepEqual(
      first.assets.map((a) => a.record.sha256),
      hashes.slice(0, 4),
    );
    const second = await index.listAssets(first.assets.at(-1)!.id, 4);
    assert.deepEqual(
      second.assets.map((a) => a.record.sha256),
      hashes.slice(4),
    );
    const asked = [
      ...Array.from({ length: 900 }, (_, i) => `f${i}`.padEnd(64, 'e')),
      hashes[6]!,
      hashes[0]!,
    ];
    assert.deepEqual((await index.present(asked)).sort(), [hashes[0], hashes[6]].sort());
    await index.close();
  });

  it('looks assets up by sha256 through the unique index, not a scan', async () => {
    const path = join(temp.dir, 'plan.db');
    await (await VaultIndex.open(path)).close();
    const db = new Database(path);
    const plan = db
      .prepare<[], { detail: string }>(
        `EXPLAIN QUERY PLAN SELECT sha256 FROM assets WHERE sha256 IN ('${hex('a')}', '${hex('b')}')`,
      )
      .all()
      .map((r) => r.detail)
      .join('\n');
    assert.match(plan, /USING (COVERING )?INDEX/);
    assert.doesNotMatch(plan, /SCAN assets/);
    db.close();
  });
  it('tells of new content once, and keeps it pending until its previews are recorded', async () => {
    const index = await VaultIndex.open(join(temp.dir, 'previews.db'));
    try {
      const told: string[] = [];
      index.onNewAssets = (assets) => told.push(...assets.map((a) => a.sha256));
      await index.recordUploadCreated({ id: 'u1', sha256: hex('a'), size: 1, at: 1 });
      await index.commitVerifiedUpload('u1', asset(hex('a'), 1));
      await index.recordUploadCreated({ id: 'u2', sha256: hex('a'), size: 1, at: 2 });
      await index.commitVerifiedUpload('u2', asset(hex('a'), 1)); // the same content again
      await index.commitBatch([asset(hex('a'), 1), asset(hex('b'), 2), asset(hex('c'), 3)]);
      assert.deepEqual(told, [hex('a'), hex('b'), hex('c')]);

      assert.deepEqual(
        (await index.previews.pendingAfter(0, 10)).map((p) => p.sha256),
        [hex('a'), hex('b'), hex('c')],
      );
      await index.previews.record(hex('a'), { state: 'made', source: 'decoded' }, 5);
      await index.previews.record(hex('b'), { state: 'none', reason: 'no decoder' }, 6);
      const pending = await index.previews.pendingAfter(0, 10);
      assert.deepEqual(
        pending.map((p) => p.sha256),
        [hex('c')],
      );
      assert.deepEqual(await index.previews.pendingAfter(pending[0]!.id, 10), []);
      assert.deepEqual(await index.previews.get(hex('b')), {
        state: 'none',
        reason: 'no decoder',
        madeAt: 6,
      });
      assert.deepEqual(await index.previews.counts(), { made: 1, none: 1 });
      await index.previews.clear();
      assert.equal((await index.previews.pendingAfter(0, 10)).length, 3);
    } finally {
      await index.close();
    }
  });
});
