import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import type { SqlDatabase } from '../../../server/index/sql.js';
import { TrashStore } from '../../../server/index/trash-store.js';
import { closeIndexEngines, indexEngines } from '../../support/index-engines.js';

const hex = (c: string) => c.repeat(64);
const DAY = 24 * 3600 * 1000;

async function addAsset(sql: SqlDatabase, sha256: string, size: number): Promise<number> {
  const row = await sql.get<{ id: number }>(
    `INSERT INTO assets (sha256, size, mime, kind, filename, relpath, mtime_ms, first_uploaded_at)
     VALUES (?, ?, 'image/jpeg', 'image', ?, NULL, NULL, 1000) RETURNING id`,
    [sha256, size, `${sha256.slice(0, 4)}.jpg`],
  );
  return row!.id;
}

async function addGroup(
  sql: SqlDatabase,
  members: readonly { sha256: string; role: string }[],
): Promise<number> {
  const g = await sql.get<{ id: number }>(
    'INSERT INTO groups (declared_at) VALUES (1000) RETURNING id',
  );
  for (const [position, m] of members.entries()) {
    await sql.run(
      'INSERT INTO group_members (sha256, group_id, role, position) VALUES (?, ?, ?, ?)',
      [m.sha256, g!.id, m.role, position],
    );
  }
  return g!.id;
}

async function addPlace(sql: SqlDatabase, sha256: string, goneAt: number | null): Promise<void> {
  await sql.run(
    `INSERT INTO locations
       (sha256, device_id, device_name, folder, path, size, mtime_ms, first_seen, last_seen, gone_at)
     VALUES (?, 'dev-1', 'Laptop', 'Pictures', ?, 1, NULL, 1000, 1000, ?)`,
    [sha256, Buffer.from(`${sha256.slice(0, 4)}.jpg`), goneAt],
  );
}

async function count(sql: SqlDatabase, table: string, sha256: string): Promise<number> {
  const r = await sql.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE sha256 = ?`, [
    sha256,
  ]);
  return r?.n ?? 0;
}

after(closeIndexEngines);

for (const engine of indexEngines)
  describe(`trash store on ${engine.name}`, () => {
    let sql: SqlDatabase;
    let trash: TrashStore;
    beforeEach(async () => {
      sql = await engine.open();
      trash = new TrashStore(sql);
    });
    afterEach(() => sql.close());

    it("moving a group's primary takes its whole asset with it, and an unknown content is said so", async () => {
      await addAsset(sql, hex('a'), 10);
      await addAsset(sql, hex('b'), 20);
      await addAsset(sql, hex('c'), 30);
      await addGroup(sql, [
        { sha256: hex('a'), role: 'primary' },
        { sha256: hex('b'), role: 'live-video' },
      ]);
      const { moved, unknown } = await trash.move([hex('a'), hex('f')], 5000, null);
      assert.deepEqual(moved.sort(), [hex('a'), hex('b')]);
      assert.deepEqual(unknown, [hex('f')]);
      assert.deepEqual(await trash.totals(), { assets: 2, bytes: 30 });
      assert.deepEqual([...(await trash.trashedAmong([hex('a'), hex('c')]))], [hex('a')]);
    });

    it('restoring any member of a group brings the whole asset back', async () => {
      await addAsset(sql, hex('a'), 10);
      await addAsset(sql, hex('b'), 20);
      await addGroup(sql, [
        { sha256: hex('a'), role: 'primary' },
        { sha256: hex('b'), role: 'live-video' },
      ]);
      await trash.move([hex('a')], 5000, null);
      assert.deepEqual((await trash.restore([hex('b')])).sort(), [hex('a'), hex('b')]);
      assert.deepEqual(await trash.list(), []);
    });

    it('lists each trashed content with how many live places devices hold it at', async () => {
      await addAsset(sql, hex('a'), 10);
      await addPlace(sql, hex('a'), null);
      await addPlace(sql, hex('a'), 2000);
      await trash.move([hex('a')], 5000, 'dev-1');
      assert.deepEqual(await trash.list(), [
        {
          sha256: hex('a'),
          filename: 'aaaa.jpg',
          size: 10,
          trashedAt: 5000,
          trashedBy: 'dev-1',
          livePlaces: 1,
        },
      ]);
      const [place] = await trash.livePlaces(hex('a'));
      assert.equal(place?.deviceName, 'Laptop');
      assert.equal(place?.path.toString(), 'aaaa.jpg');
    });

    it('forgets a content past its retention with no live place, and every row naming it', async () => {
      await addAsset(sql, hex('a'), 10);
      await addAsset(sql, hex('b'), 20);
      await addGroup(sql, [
        { sha256: hex('a'), role: 'primary' },
        { sha256: hex('b'), role: 'raw' },
      ]);
      await addPlace(sql, hex('a'), 2000); // gone: does not keep it
      await sql.run(
        "INSERT INTO similarity (sha256, phash, sharpness, measured_at) VALUES (?, '0', 1, 1)",
        [hex('a')],
      );
      await trash.move([hex('b')], 5000, null);
      assert.equal(await trash.forget(hex('b'), 5000 + 30 * DAY), true);
      assert.equal(await count(sql, 'assets', hex('b')), 0);
      assert.equal(await count(sql, 'trash', hex('b')), 0);
      // The group lost a member and is no group: it ended, its primary stands alone.
      assert.equal(await count(sql, 'group_members', hex('a')), 0);
      assert.equal((await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM groups'))?.n, 0);
      assert.equal(await count(sql, 'assets', hex('a')), 1);
      assert.equal(await count(sql, 'similarity', hex('a')), 1);
    });

    it('does not forget a content restored, trashed again within the retention, or held by a device since the empty looked', async () => {
      await addAsset(sql, hex('a'), 10);
      await addAsset(sql, hex('b'), 20);
      await addAsset(sql, hex('c'), 30);
      await trash.move([hex('a'), hex('b'), hex('c')], 5000, null);
      const cutoff = 5000 + DAY;
      // a: restored after the empty listed it
      await trash.restore([hex('a')]);
      assert.equal(await trash.forget(hex('a'), cutoff), false);
      assert.equal(await count(sql, 'assets', hex('a')), 1);
      // b: restored and trashed again, so its retention started again
      await trash.restore([hex('b')]);
      await trash.move([hex('b')], cutoff + 1, null);
      assert.equal(await trash.forget(hex('b'), cutoff), false);
      assert.equal(await count(sql, 'trash', hex('b')), 1);
      // c: a device registered a live place of it
      await addPlace(sql, hex('c'), null);
      assert.equal(await trash.forget(hex('c'), cutoff), false);
      assert.equal(await count(sql, 'trash', hex('c')), 1);
    });

    it('an empty and a restore of the same content at once, from two vault nodes: exactly one of them happens', async () => {
      const other = await engine.otherNode(sql);
      try {
        const otherTrash = new TrashStore(other);
        for (let i = 0; i < 12; i++) {
          const sha256 = i.toString(16).padStart(64, '0');
          await addAsset(sql, sha256, 10);
          await trash.move([sha256], 5000, null);
          const [forgotten, restored] = await Promise.all([
            trash.forget(sha256, 5000 + DAY),
            otherTrash.restore([sha256]),
          ]);
          if (forgotten) {
            assert.deepEqual(restored, [], 'restored a content the empty removed');
            assert.equal(await count(sql, 'assets', sha256), 0);
          } else {
            assert.deepEqual(restored, [sha256], 'neither the empty nor the restore happened');
            assert.equal(await count(sql, 'assets', sha256), 1);
          }
          assert.equal(await count(sql, 'trash', sha256), 0);
        }
      } finally {
        if (other !== sql) await other.close();
      }
    });
  });
