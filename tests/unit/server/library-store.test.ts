// The library timeline on a real SQLite file: newest first by capture time (falling back to
// mtime, then upload time), paged by cursor without repeats or gaps, filtered by type,
// folder, device and problems, and served by its index (EXPLAIN QUERY PLAN); and the
// statements that differ between engines on both, SQLite and a real PostgreSQL.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { VaultIndex } from '../../../server/index/vault-index.js';
import {
  LibraryStore,
  type LibraryCursor,
  type LibraryFilter,
} from '../../../server/index/library-store.js';
import type { SqlDatabase } from '../../../server/index/sql.js';
import { libraryItem } from '../../../server/library-api.js';
import { closeIndexEngines, indexEngines } from '../../support/index-engines.js';
import { makeTempDir } from '../../support/paths.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');

function meta(captureTime: string | null) {
  return JSON.stringify({
    captureTime,
    captureTimeSource: captureTime === null ? null : 'exif_original',
    timeZone: null,
    gps: null,
    camera: null,
    width: 4000,
    height: 3000,
    durationSec: null,
    orientation: null,
    mime: null,
  });
}

describe('library timeline (SQLite)', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let index: VaultIndex;
  let n = 0;
  async function add(opts: {
    filename: string;
    kind?: 'image' | 'video' | 'other';
    captureTime?: string | null;
    mtimeMs?: number | null;
    noMetadata?: boolean;
  }): Promise<string> {
    const sha256 = hex(++n);
    await index.recordUploadCreated({ id: `u${n}`, sha256, size: 10, at: 1 });
    await index.commitVerifiedUpload(`u${n}`, {
      sha256,
      size: 10,
      mime: null,
      kind: opts.kind ?? 'image',
      filename: opts.filename,
      relpath: null,
      mtimeMs: opts.mtimeMs ?? null,
      at: 1000 + n,
    });
    if (opts.noMetadata !== true)
      await index.setMetadata(sha256, meta(opts.captureTime ?? null), 5);
    return sha256;
  }

  async function all(filter: LibraryFilter, pageSize: number): Promise<string[]> {
    const out: string[] = [];
    let cursor: LibraryCursor | null = null;
    for (;;) {
      const rows = await index.library.page(filter, cursor, pageSize);
      out.push(...rows.map((r) => r.filename));
      const last = rows.at(-1);
      if (rows.length < pageSize || last === undefined) return out;
      cursor = { takenAt: last.takenAt, id: last.id };
    }
  }

  before(async () => {
    temp = await makeTempDir('keepsake-library-');
    index = await VaultIndex.open(join(temp.dir, 'vault.db'));
  });
  after(async () => {
    await index.close();
    await temp.cleanup();
  });

  it('lists newest first by the moment of capture, whatever zone it was taken in', async () => {
    // 10:00 in Tokyo is 01:00 UTC: earlier than 09:00 in London the same day.
    await add({ filename: 'tokyo.jpg', captureTime: '2021-06-01T10:00:00+09:00' });
    await add({ filename: 'london.jpg', captureTime: '2021-06-01T09:00:00+01:00' });
    await add({ filename: 'old.jpg', captureTime: '2015-01-01T12:00:00.250Z' });
    // No capture time: the file's mtime stands in (2019), then the upload time (1970).
    await add({
      filename: 'mtime.jpg',
      captureTime: null,
      mtimeMs: Date.parse('2019-05-05T00:00:00Z'),
    });
    await add({ filename: 'bare.mov', kind: 'video', noMetadata: true });
    assert.deepEqual(await all({}, 100), [
      'london.jpg',
      'tokyo.jpg',
      'mtime.jpg',
      'old.jpg',
      'bare.mov',
    ]);
    const old = (await index.library.page({}, null, 10)).find((r) => r.filename === 'old.jpg');
    assert.equal(old?.takenAt, Date.parse('2015-01-01T12:00:00.250Z'));
  });

  it('pages by cursor without repeating or skipping, also among equal capture times', async () => {
    for (let i = 0; i < 25; i++)
      await add({ filename: `same-${i}.jpg`, captureTime: '2020-02-02T02:02:02Z' });
    const whole = await all({}, 1000);
    for (const size of [1, 3, 7, 24])
      assert.deepEqual(await all({}, size), whole, `page size ${size}`);
    assert.equal(new Set(whole).size, whole.length);
    assert.equal(await index.library.count({}), whole.length);
  });

  it('filters by type: photos, videos, and RAW by its file name', async () => {
    await add({ filename: 'IMG_1.CR2', captureTime: '2018-01-01T00:00:00Z' });
    await add({ filename: 'scan.dng', captureTime: '2018-01-02T00:00:00Z' });
    assert.deepEqual(await all({ type: 'raw' }, 10), ['scan.dng', 'IMG_1.CR2']);
    assert.deepEqual(await all({ type: 'video' }, 10), ['bare.mov']);
    assert.ok(!(await all({ type: 'photo' }, 100)).includes('bare.mov'));
    assert.equal(
      await index.library.count({ type: 'photo' }),
      (await all({ type: 'photo' }, 100)).length,
    );
    // Live Photos are groups: a vault that records none has none.
    assert.deepEqual(await all({ type: 'live' }, 10), []);
  });

  it('filters by folder and device from the places held now, and lists the folders', async () => {
    const a = await add({ filename: 'in-camera.jpg', captureTime: '2017-01-01T00:00:00Z' });
    const b = await add({ filename: 'in-both.jpg', captureTime: '2017-01-02T00:00:00Z' });
    const now = 10_000;
    const place = (sha256: string, folder: string, path: string) => ({
      sha256,
      folder,
      path: Buffer.from(path),
      size: 10,
      mtimeMs: null,
    });
    await index.locations.register(
      { id: 'laptop', name: 'Laptop' },
      [place(a, 'Camera', 'a.jpg'), place(b, 'Camera', 'b.jpg')],
      now,
    );
    await index.locations.register(
      { id: 'phone', name: 'Phone' },
      [place(b, 'DCIM', 'b.jpg')],
      now,
    );
    assert.deepEqual(await all({ folder: 'Camera' }, 10), ['in-both.jpg', 'in-camera.jpg']);
    assert.deepEqual(await all({ deviceId: 'phone' }, 10), ['in-both.jpg']);
    assert.deepEqual(await all({ folder: 'Camera', deviceId: 'phone' }, 10), []);
    const [first] = await index.library.page({ folder: 'Camera' }, null, 1);
    assert.deepEqual(first?.folders, [
      { deviceId: 'laptop', deviceName: 'Laptop', folder: 'Camera' },
      { deviceId: 'phone', deviceName: 'Phone', folder: 'DCIM' },
    ]);
    // A place reported gone no longer puts the content in that folder.
    await index.locations.markGone(
      'laptop',
      [{ folder: 'Camera', path: Buffer.from('a.jpg') }],
      now + 1,
    );
    assert.deepEqual(await all({ folder: 'Camera' }, 10), ['in-both.jpg']);
    assert.deepEqual(await index.library.folders(), [
      { deviceId: 'laptop', deviceName: 'Laptop', folder: 'Camera', assets: 1 },
      { deviceId: 'phone', deviceName: 'Phone', folder: 'DCIM', assets: 1 },
    ]);
  });

  it('"has problems" finds damaged bytes and missing capture times, and says which', async () => {
    const damaged = await add({ filename: 'damaged.jpg', captureTime: '2016-01-01T00:00:00Z' });
    await index.health.record(damaged, 'damaged', 50);
    const found = await index.library.page({ problems: true }, null, 100);
    const byName = new Map(found.map((r) => [r.filename, libraryItem(r).problems]));
    assert.deepEqual(byName.get('damaged.jpg'), ['damaged']);
    assert.deepEqual(byName.get('mtime.jpg'), ['no_capture_time']);
    assert.deepEqual(byName.get('bare.mov'), ['no_metadata']);
    assert.ok(!byName.has('london.jpg'));
    const [london] = await index.library.page({}, null, 1);
    assert.ok(london !== undefined);
    const item = libraryItem(london);
    assert.deepEqual(
      [item.filename, item.captureTime, item.width, item.problems],
      ['london.jpg', '2021-06-01T09:00:00+01:00', 4000, []],
    );
  });

  it('shows a group as its primary alone, with its badge, and finds Live Photos', async () => {
    const still = await add({ filename: 'IMG_1.HEIC', captureTime: '2014-01-01T00:00:00Z' });
    const video = await add({
      filename: 'IMG_1.MOV',
      kind: 'video',
      captureTime: '2014-01-01T00:00:00Z',
    });
    const raw = await add({ filename: 'DSC_2.NEF', captureTime: '2013-01-01T00:00:00Z' });
    const jpeg = await add({ filename: 'DSC_2.JPG', captureTime: '2013-01-01T00:00:00Z' });
    const orig = await add({ filename: 'IMG_3.jpg', captureTime: '2012-01-01T00:00:00Z' });
    const edit = await add({ filename: 'IMG_E3.jpg', captureTime: '2012-01-01T00:00:00Z' });
    const before = await index.library.count({});
    await index.groups.declareMany(
      [
        [
          { sha256: still, role: 'primary' },
          { sha256: video, role: 'live-video' },
        ],
        [
          { sha256: raw, role: 'primary' },
          { sha256: jpeg, role: 'rendition' },
        ],
        [
          { sha256: orig, role: 'primary' },
          { sha256: edit, role: 'edit' },
        ],
      ],
      10,
    );
    assert.equal(await index.library.count({}), before - 3);
    const names = await all({}, 7);
    for (const hidden of ['IMG_1.MOV', 'DSC_2.JPG', 'IMG_E3.jpg'])
      assert.ok(!names.includes(hidden));
    const badges = new Map(
      (await index.library.page({}, null, 1000))
        .map((r) => libraryItem(r))
        .map((i) => [i.filename, [i.badge, i.group?.role]]),
    );
    assert.deepEqual(badges.get('IMG_1.HEIC'), ['live', 'primary']);
    assert.deepEqual(badges.get('DSC_2.NEF'), ['raw+jpeg', 'primary']);
    assert.deepEqual(badges.get('IMG_3.jpg'), ['edited', 'primary']);
    assert.deepEqual(badges.get('london.jpg'), [undefined, undefined]);
    assert.deepEqual(await all({ type: 'live' }, 10), ['IMG_1.HEIC']);
    assert.deepEqual(await all({ type: 'video' }, 10), ['bare.mov']);
  });

  it('pages through the timeline index, never sorting the table', () => {
    const db = new Database(join(temp.dir, 'vault.db'), { readonly: true });
    const plan = (sql: string, ...args: unknown[]) =>
      db
        .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...args)
        .map((r) => r.detail)
        .join(' | ');
    const p = plan(
      `SELECT a.id FROM assets a INDEXED BY assets_timeline WHERE (a.taken_at, a.id) < (?, ?)
       ORDER BY a.taken_at DESC, a.id DESC LIMIT 10`,
      0,
      0,
    );
    assert.match(p, /USING (COVERING )?INDEX assets_timeline/);
    assert.doesNotMatch(p, /TEMP B-TREE/);
    db.close();
  });
});

// The statements that differ between the engines (JSON paths, case in LIKE, string
// aggregation, quoted aliases, index hints), on both, from rows written directly.
after(closeIndexEngines);

for (const engine of indexEngines)
  describe(`library timeline statements on ${engine.name}`, () => {
    let sql: SqlDatabase;
    let library: LibraryStore;
    let n = 0;
    async function add(filename: string, metadata: object | null, mtimeMs: number | null = null) {
      const sha256 = hex(++n);
      await sql.run(
        `INSERT INTO assets
           (sha256, size, mime, kind, filename, relpath, mtime_ms, first_uploaded_at, metadata)
         VALUES (?, 10, NULL, 'image', ?, NULL, ?, ?, ?)`,
        [sha256, filename, mtimeMs, 1000 + n, metadata === null ? null : JSON.stringify(metadata)],
      );
      return sha256;
    }
    const names = async (filter: LibraryFilter) =>
      (await library.page(filter, null, 100)).map((r) => r.filename);

    before(async () => {
      sql = await engine.open();
      library = new LibraryStore(sql);
      await add('IMG_1.CR2', { captureTime: '2018-01-01T00:00:00Z' });
      await add('scan.dng', { captureTime: '2018-01-02T00:00:00Z' });
      await add('motion.jpg', {
        captureTime: '2017-01-01T00:00:00Z',
        motionPhoto: { videoFromEnd: 100, videoBytes: null },
      });
      const still = await add('IMG_2.HEIC', { captureTime: '2016-01-01T00:00:00Z' });
      const video = await add('IMG_2.MOV', { captureTime: '2016-01-01T00:00:00Z' });
      await add('thin.jpg', { captureTime: null }, 5000);
      const bare = await add('bare.jpg', null);
      const g = await sql.get<{ id: number }>(
        'INSERT INTO groups (declared_at) VALUES (1) RETURNING id',
      );
      for (const [position, [sha256, role]] of [
        [still, 'primary'],
        [video, 'live-video'],
      ].entries()) {
        await sql.run(
          'INSERT INTO group_members (sha256, group_id, role, position) VALUES (?, ?, ?, ?)',
          [sha256, g!.id, role, position],
        );
      }
      await sql.run(
        `INSERT INTO asset_checks (sha256, state, checked_at, problem_since)
         VALUES (?, 'missing', 1, 1)`,
        [hex(1)],
      );
      const places: [string, string, string][] = [
        ['laptop', 'Laptop', hex(1)],
        ['phone', 'Phone', hex(1)],
        ['phone', 'Phone', bare],
      ];
      for (const [device, name, sha256] of places) {
        await sql.run(
          `INSERT INTO locations
             (sha256, device_id, device_name, folder, path, size, mtime_ms, first_seen, last_seen)
           VALUES (?, ?, ?, 'Camera', ?, 10, NULL, 1, 1)`,
          [sha256, device, name, Buffer.from(`${sha256.slice(-4)}.jpg`)],
        );
      }
    });
    after(() => sql.close());

    it('finds RAW files by their name in any case, and Live Photos by group or metadata', async () => {
      assert.deepEqual(await names({ type: 'raw' }), ['scan.dng', 'IMG_1.CR2']);
      assert.deepEqual(await names({ type: 'live' }), ['motion.jpg', 'IMG_2.HEIC']);
    });

    it('lists a group once, with its other members, and finds problems in bytes and metadata', async () => {
      const all = await library.page({}, null, 100);
      assert.equal(await library.count({}), all.length);
      assert.ok(!all.some((r) => r.filename === 'IMG_2.MOV'));
      const heic = all.find((r) => r.filename === 'IMG_2.HEIC');
      assert.deepEqual([heic?.group?.role, heic?.memberRoles], ['primary', ['live-video']]);
      assert.deepEqual((await names({ problems: true })).sort(), [
        'IMG_1.CR2',
        'bare.jpg',
        'thin.jpg',
      ]);
      assert.equal(all.find((r) => r.filename === 'IMG_1.CR2')?.blobProblem, 'missing');
    });

    it('pages by cursor in timeline order, and tells the folders with their devices', async () => {
      const whole = await names({});
      const paged: string[] = [];
      let cursor: LibraryCursor | null = null;
      for (;;) {
        const rows = await library.page({}, cursor, 2);
        paged.push(...rows.map((r) => r.filename));
        const last = rows.at(-1);
        if (rows.length < 2 || last === undefined) break;
        cursor = { takenAt: last.takenAt, id: last.id };
      }
      assert.deepEqual(paged, whole);
      const [cr2] = await library.page({ folder: 'Camera', deviceId: 'laptop' }, null, 10);
      assert.deepEqual(cr2?.folders, [
        { deviceId: 'laptop', deviceName: 'Laptop', folder: 'Camera' },
        { deviceId: 'phone', deviceName: 'Phone', folder: 'Camera' },
      ]);
      assert.deepEqual(await library.folders(), [
        { deviceId: 'laptop', deviceName: 'Laptop', folder: 'Camera', assets: 1 },
        { deviceId: 'phone', deviceName: 'Phone', folder: 'Camera', assets: 2 },
      ]);
    });
  });
