// `keepsake vault migrate` (issue 14): a single-machine vault filled through the real API with
// real corpus files is copied into a real PostgreSQL and a real S3-compatible server (s3rver);
// every row arrives unchanged, every object hashes to its key, a damaged blob is reported and
// not carried over, a run killed with SIGKILL mid-way finishes when run again without copying
// anything twice, and a target holding other rows under the same keys is refused by name.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeviceCreated } from '../../common/vault-protocol.js';
import { FsBlobStore } from '../../server/blob-store.js';
import { openBlobStore } from '../../server/blobs/open-blob-store.js';
import { S3Objects } from '../../server/blobs/s3-objects.js';
import { parseS3Location } from '../../server/blobs/s3-location.js';
import { openSqlDatabase } from '../../server/index/open-sql.js';
import type { Sql, SqlDatabase } from '../../server/index/sql.js';
import { SqliteSql } from '../../server/index/sqlite-sql.js';
import { migrateVault, type MigrateReport, VaultMigrateError } from '../../server/migrate-vault.js';
import { runCli, parseJsonOutput, waitFor } from '../support/cli.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { corpusFile, corpusRoot, makeTempDir } from '../support/paths.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';
import { startTestS3Server, type TestS3Server } from '../support/s3-server.js';
import { sha256Hex, startTestVault, uploadBuffer, vaultFetch } from '../support/vault.js';

let postgres: TestPostgres;
let s3: TestS3Server;
let temp: { dir: string; cleanup: () => Promise<void> };
let vaults = 0;

/** Real corpus files of a few sizes (MANIFEST.tsv order), `count` of them, none empty. */
async function corpusFiles(count: number): Promise<string[]> {
  const manifest = await readFile(join(corpusRoot, 'MANIFEST.tsv'), 'utf8');
  const rows = manifest
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t'))
    .filter((r) => r.length > 3 && Number(r[1]) > 0 && Number(r[1]) < 1_500_000)
    .filter((r) => /\.(jpe?g|heic|png|tiff?|mov|mp4|dng|cr2)$/i.test(r[0]!));
  const seen = new Set<string>();
  const chosen: string[] = [];
  for (const r of rows) {
    if (seen.has(r[2]!)) continue; // one path per content
    seen.add(r[2]!);
    chosen.push(r[0]!);
    if (chosen.length === count) break;
  }
  assert.equal(chosen.length, count, 'the corpus holds enough files');
  return chosen;
}

interface Filled {
  dataDir: string;
  shas: string[];
  bytes: Map<string, Buffer>;
  deviceToken: string;
}

/**
 * A vault on a fresh data directory, filled through its API: `count` corpus files uploaded by
 * a device, metadata on some, an album, a group, places, one in the trash; then stopped.
 */
async function filledVault(count: number): Promise<Filled> {
  const dataDir = join(temp.dir, `source-${++vaults}`);
  const vault = await startTestVault({ dataDir });
  const bytes = new Map<string, Buffer>();
  const shas: string[] = [];
  let deviceToken = '';
  try {
    const post = async (path: string, body: unknown, token = vault.token) => {
      const res = await vaultFetch({ url: vault.url, token }, path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      assert.ok(res.ok, `${path}: ${res.status} ${text}`);
      return JSON.parse(text) as unknown;
    };
    const device = (await post('/api/v1/devices', { name: 'laptop' })) as DeviceCreated;
    deviceToken = device.token;
    const asDevice = { url: vault.url, token: device.token };
    for (const path of await corpusFiles(count)) {
      const data = await readFile(corpusFile(path));
      const up = await uploadBuffer(asDevice, data, {
        filename: path.split('/').at(-1)!,
        relpath: path,
      });
      assert.equal(up.res.status, 201, up.text);
      bytes.set(up.sha256, data);
      shas.push(up.sha256);
    }
    for (const sha of shas.slice(0, 3)) {
      const put = await vaultFetch(vault, `/api/v1/assets/${sha}/metadata`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          captureTime: '2019-03-12T10:11:12.345+01:00',
          captureTimeSource: 'exif_original',
          timeZone: { offsetMinutes: 60, source: 'offset_time_original' },
          gps: { lat: 48.8584, lon: 2.2945, alt: 35 },
          camera: { make: 'Canon', model: 'Canon EOS 5D', lens: 'EF24-105mm f/4L IS USM' },
          width: 4368,
          height: 2912,
          durationSec: null,
          orientation: 1,
          mime: 'image/jpeg',
          originalPath: '/home/ana/Pictures/2019/cookiezen.jpg',
          device: 'ana-laptop',
        }),
      });
      assert.equal(put.status, 200, await put.text());
    }
    await post('/api/v1/albums', {
      name: 'Pumpkin Farm 🎃',
      description: 'Halloween',
      source: 'takeout',
      key: 'Google Photos/Pumpkin Farm',
      members: [shas[2], shas[0], shas[1]],
    });
    await post('/api/v1/groups', {
      groups: [
        {
          members: [
            { sha256: shas[3], role: 'primary' },
            { sha256: shas[4], role: 'edit' },
          ],
        },
      ],
    });
    await post(
      '/api/v1/locations',
      {
        deviceId: 'laptop-1',
        deviceName: 'Ada’s laptop',
        locations: shas.slice(0, 5).map((sha, i) => ({
          sha256: sha,
          folder: 'Pictures',
          path: `2019/file-${i}.jpg`,
          size: bytes.get(sha)!.length,
          mtimeMs: 1552385472000 + i,
        })),
      },
      device.token,
    );
    await post('/api/v1/trash', { sha256: [shas[5]] });
  } finally {
    await vault.close();
  }
  return { dataDir, shas, bytes, deviceToken };
}

/** Every row of `table` on `sql`, with bytea/BLOB as hex, sorted, for comparing engines. */
async function rowsOf(sql: Sql, table: string, columns: string): Promise<string[]> {
  const rows = await sql.all<Record<string, unknown>>(`SELECT ${columns} FROM ${table}`);
  return rows
    .map((r) =>
      JSON.stringify(
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex') : v]),
        ),
      ),
    )
    .sort();
}

const COMPARED: Record<string, string> = {
  devices: '*',
  enrolments: '*',
  assets:
    'id, sha256, size, mime, kind, filename, relpath, mtime_ms, first_uploaded_at, metadata, metadata_updated_at, uploaded_by, taken_at',
  albums: '*',
  album_members: '*',
  groups: '*',
  group_members: '*',
  locations: '*',
  trash: '*',
  counters: '* ',
};

async function objectsUnder(location: string): Promise<Map<string, Buffer>> {
  const objects = new S3Objects(parseS3Location(location));
  const found = new Map<string, Buffer>();
  try {
    for await (const o of objects.list('blobs/')) {
      const body = await objects.read(o.name);
      const chunks: Buffer[] = [];
      for await (const c of body!) chunks.push(c as Buffer);
      found.set(o.name.slice('blobs/'.length), Buffer.concat(chunks));
    }
  } finally {
    objects.close();
  }
  return found;
}

function migrate(
  source: Filled,
  index: string,
  blobs: string,
  workDir = join(temp.dir, `work-${++vaults}`),
) {
  return migrateVault({
    fromDataDir: source.dataDir,
    index,
    openTargetBlobs: (repairs) => openBlobStore(blobs, source.dataDir, repairs),
    workDir,
    assetPage: 7,
  });
}

/**
 * A vault started on the migrated index and bucket (with the old vault's token, as every node
 * is given it) serves every asset byte-exact with its metadata, and knows the album, the
 * group, the device (whose own token still works) and its places; a new upload is taken.
 */
async function assertServedBack(source: Filled, index: string, blobs: string): Promise<void> {
  const token = (await readFile(join(source.dataDir, 'token'), 'utf8')).trim();
  const vault = await startTestVault({ index, blobs, token, previews: false });
  try {
    const get = async <T>(path: string, as = token): Promise<T> => {
      const res = await vaultFetch({ url: vault.url, token: as }, path);
      const text = await res.text();
      assert.equal(res.status, 200, `${path}: ${text}`);
      return JSON.parse(text) as T;
    };
    const listed: { sha256: string }[] = [];
    for (let after = ''; ;) {
      const page = await get<{ assets: { sha256: string }[]; next: string | null }>(
        `/api/v1/assets?limit=10${after ? `&after=${after}` : ''}`,
      );
      listed.push(...page.assets);
      if (page.next === null) break;
      after = page.next;
    }
    const held = new Set(listed.map((a) => a.sha256));
    assert.equal(held.size, listed.length, 'each asset listed once');
    for (const sha of source.shas.filter((s) => s !== source.shas[5]))
      assert.ok(held.has(sha), sha);
    assert.match(JSON.stringify(await get('/api/v1/trash')), new RegExp(source.shas[5]!));
    for (const sha of source.shas) {
      const res = await vaultFetch(vault, `/api/v1/assets/${sha}/content`);
      assert.equal(res.status, 200, sha);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(source.bytes.get(sha)!), sha);
    }
    const first = await get<{ metadata: { captureTime: string } | null }>(
      `/api/v1/assets/${source.shas[0]}`,
    );
    assert.equal(first.metadata?.captureTime, '2019-03-12T10:11:12.345+01:00');
    const grouped = await get<{ group: { role: string } | null }>(
      `/api/v1/assets/${source.shas[4]}`,
    );
    assert.equal(grouped.group?.role, 'edit');
    const albums = await get<{ albums: { id: string; name: string }[] }>('/api/v1/albums');
    assert.deepEqual(
      albums.albums.map((a) => a.name),
      ['Pumpkin Farm 🎃'],
    );
    const album = await get<{ members: string[] }>(`/api/v1/albums/${albums.albums[0]!.id}`);
    assert.deepEqual(album.members, [source.shas[2], source.shas[0], source.shas[1]]);
    const devices = await get<{ devices: { name: string }[] }>('/api/v1/devices');
    assert.deepEqual(
      devices.devices.map((d) => d.name),
      ['laptop'],
    );
    await get('/api/v1/usage', source.deviceToken);
    const places = await get<{ locations: unknown[] }>('/api/v1/locations?limit=100');
    assert.equal(places.locations.length, 5);
    const fresh = await uploadBuffer(vault, Buffer.from('new on the scaled vault'));
    assert.equal(fresh.res.status, 201, fresh.text);
  } finally {
    await vault.close();
  }
}

before(async () => {
  temp = await makeTempDir('keepsake-migrate-');
  postgres = await startTestPostgres();
  s3 = await startTestS3Server();
  Object.assign(process.env, s3.env);
});
after(async () => {
  await s3?.close();
  await postgres?.close();
  await temp?.cleanup();
});

describe('keepsake vault migrate', () => {
  let source: Filled;
  before(async () => {
    source = await filledVault(24);
  });

  it('copies every row unchanged and every blob verified into PostgreSQL and S3; a second run copies nothing again', async () => {
    const index = await postgres.createDatabase();
    const blobs = s3.locationOf('whole');
    const report = await migrate(source, index, blobs);
    assert.equal(report.rows['assets']?.copied, source.shas.length);
    assert.deepEqual(
      { ...report.blobs, bytesRead: 0 },
      {
        copied: source.shas.length,
        alreadyThere: 0,
        copiedBefore: 0,
        damaged: [],
        missing: [],
        bytesCopied: [...source.bytes.values()].reduce((n, b) => n + b.length, 0),
        bytesRead: 0,
      },
    );
    assert.equal(report.rows['albums']?.copied, 1);
    assert.equal(report.rows['album_members']?.copied, 3);
    assert.equal(report.rows['locations']?.copied, 5);
    assert.equal(report.rows['devices']?.copied, 1);
    assert.equal(report.rows['trash']?.copied, 1);

    const sqlite = new SqliteSql(join(source.dataDir, 'vault.db'));
    const pg = await openSqlDatabase(index);
    try {
      for (const [table, columns] of Object.entries(COMPARED)) {
        assert.deepEqual(
          await rowsOf(pg, table, columns),
          await rowsOf(sqlite, table, columns),
          table,
        );
      }
      // The next row the vault inserts does not collide with a copied id.
      const next = await pg.get<{ id: number }>(
        "INSERT INTO albums (name, description, source, key, created_at) VALUES ('n', '', 'folder', 'new', 1) RETURNING id",
      );
      assert.ok(next!.id > 1, `a new album's id ${next!.id} is past the copied one`);
      await pg.run('DELETE FROM albums WHERE id = ?', [next!.id]);
    } finally {
      await pg.close();
      await sqlite.close();
    }

    const objects = await objectsUnder(blobs);
    assert.deepEqual([...objects.keys()].sort(), [...source.shas].sort());
    for (const [sha, body] of objects) assert.equal(sha256Hex(body), sha);

    const again = await migrate(source, index, blobs);
    assert.equal(again.rows['assets']?.copied, 0);
    assert.equal(again.rows['assets']?.alreadyThere, source.shas.length);
    assert.equal(again.blobs.copied, 0);
    assert.equal(again.blobs.copiedBefore, source.shas.length);
    for (const [table, n] of Object.entries(again.rows)) assert.equal(n.copied, 0, table);

    // Then the scaled vault starts on it (and from now on its rows move on their own).
    await assertServedBack(source, index, blobs);
  });

  it('a blob whose bytes do not hash to its name is reported and not copied; its asset is kept, marked damaged', async () => {
    const damaged = await filledVault(8);
    const victim = damaged.shas[6]!;
    const path = new FsBlobStore(join(damaged.dataDir, 'blobs')).pathOf(victim);
    const bytes = await readFile(path);
    bytes[bytes.length >> 1]! ^= 0xff;
    await writeFile(path, bytes);

    const index = await postgres.createDatabase();
    const blobs = s3.locationOf('damaged');
    const report = await migrate(damaged, index, blobs);
    assert.deepEqual(report.blobs.damaged, [victim]);
    assert.equal(report.blobs.copied, damaged.shas.length - 1);
    assert.equal(report.rows['assets']?.copied, damaged.shas.length);
    const objects = await objectsUnder(blobs);
    assert.equal(objects.has(victim), false, 'damaged bytes never reach the bucket');
    assert.equal(objects.size, damaged.shas.length - 1);
    const pg = await openSqlDatabase(index);
    try {
      const health = await pg.get<{ state: string }>(
        'SELECT state FROM asset_checks WHERE sha256 = ?',
        [victim],
      );
      assert.equal(health?.state, 'damaged');
    } finally {
      await pg.close();
    }
    // A second run still says so.
    const again = await migrate(damaged, index, blobs);
    assert.deepEqual(again.blobs.damaged, [victim]);
  });

  it('a blob the old vault stored compressed arrives as its original bytes', async () => {
    const dataDir = join(temp.dir, `source-${++vaults}`);
    const vault = await startTestVault({
      dataDir,
      compression: true,
      previews: false,
      scrub: false,
    });
    const files: { sha256: string; data: Buffer }[] = [];
    try {
      for (const rel of [
        'ianare-exif-samples/tiff/Crémieux11.tiff',
        'exiftool-t-images/ExifTool.tif',
      ]) {
        const data = await readFile(corpusFile(rel));
        const up = await uploadBuffer(vault, data, {
          filename: rel.split('/').at(-1)!,
          filetype: 'image/tiff',
        });
        assert.equal(up.res.status, 201, up.text);
        files.push({ sha256: up.sha256, data });
      }
      const store = new FsBlobStore(join(dataDir, 'blobs'));
      for (const f of files) {
        await waitFor(
          () =>
            Promise.resolve(
              existsSync(store.compressedPathOf(f.sha256)) && !existsSync(store.pathOf(f.sha256)),
            ),
          { what: `${f.sha256} stored compressed`, timeoutMs: 60_000 },
        );
      }
    } finally {
      await vault.close();
    }
    const blobs = s3.locationOf('compressed');
    const index = await postgres.createDatabase();
    const report = await migrate(
      { dataDir, shas: files.map((f) => f.sha256), bytes: new Map(), deviceToken: '' },
      index,
      blobs,
    );
    const pg = await openSqlDatabase(index);
    try {
      // Stored plain on the target: its encoding is for the target's own compressor to consider.
      const encodings = await pg.all<{ e: string | null }>(
        'SELECT stored_encoding AS e FROM assets',
      );
      assert.deepEqual(
        encodings,
        files.map(() => ({ e: null })),
      );
    } finally {
      await pg.close();
    }
    assert.equal(report.blobs.copied, files.length);
    assert.deepEqual(report.blobs.damaged, []);
    const objects = await objectsUnder(blobs);
    for (const f of files) assert.ok(objects.get(f.sha256)?.equals(f.data), f.sha256);
  });

  it('refuses a target that holds other rows under the same keys, naming them', async () => {
    const index = await postgres.createDatabase();
    const pg: SqlDatabase = await openSqlDatabase(index);
    try {
      // A target that another vault already used: its album 1 is something else.
      const { migrateIndex } = await import('../../server/index/migrate.js');
      await migrateIndex(pg);
      await pg.run(
        "INSERT INTO albums (id, name, description, source, key, created_at) VALUES (1, 'Other', '', 'folder', 'other', 5)",
      );
    } finally {
      await pg.close();
    }
    await assert.rejects(migrate(source, index, s3.locationOf('conflict')), (err: unknown) => {
      assert.ok(err instanceof VaultMigrateError, String(err));
      assert.equal(err.code, 'index_conflict');
      assert.match(err.message, /albums id=1: name is 'Other' there, 'Pumpkin Farm 🎃' here/);
      return true;
    });
  });

  it('a run killed with SIGKILL mid-way finishes when run again, with the right counts and nothing twice', async () => {
    const index = await postgres.createDatabase();
    // The bucket through a proxy that lets a fifth of the bytes through per second, so the run
    // is still copying when its first pages are committed; it is killed then.
    const total = [...source.bytes.values()].reduce((n, b) => n + b.length, 0);
    const proxy = await startFaultProxy({ targetPort: Number(new URL(s3.endpoint).port) });
    const throttled = s3
      .locationOf('killed')
      .replace(encodeURIComponent(s3.endpoint), encodeURIComponent(proxy.url));
    const direct = s3.locationOf('killed');
    const pg = await openSqlDatabase(index);
    try {
      proxy.setFault({ kind: 'throttle', bytesPerSecond: Math.floor(total / 5) });
      let pid = 0;
      const run = runCli(
        [
          'vault',
          'migrate',
          '--from-data-dir',
          source.dataDir,
          '--index',
          index,
          '--blobs',
          throttled,
          '--batch',
          '2',
          '--json',
        ],
        { env: s3.env, onSpawn: (p) => (pid = p) },
      );
      let ended: Awaited<typeof run> | undefined;
      void run.then((r) => (ended = r));
      // Wait for what the run did: some pages committed.
      for (;;) {
        const n =
          (await pg.get<{ n: number }>('SELECT COUNT(*) AS n FROM assets').catch(() => undefined))
            ?.n ?? 0;
        if (n > 0) break;
        assert.equal(ended, undefined, `the run ended before it was killed: ${ended?.stderr}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      process.kill(-pid, 'SIGKILL');
      const killed = await run;
      assert.equal(killed.signal, 'SIGKILL', 'the run was killed before it finished');
      const before = (await pg.get<{ n: number }>('SELECT COUNT(*) AS n FROM assets'))!.n;
      assert.ok(
        before > 0 && before < source.shas.length,
        `${before} assets were committed before the kill`,
      );

      const second = await runCli(
        [
          'vault',
          'migrate',
          '--from-data-dir',
          source.dataDir,
          '--index',
          index,
          '--blobs',
          direct,
          '--json',
        ],
        { env: s3.env },
      );
      assert.equal(second.code, 0, second.stderr);
      const report = parseJsonOutput<MigrateReport>(second);
      assert.equal(report.rows['assets']?.copied, source.shas.length - before);
      assert.equal(report.rows['assets']?.alreadyThere, before);
      assert.equal(report.blobs.copiedBefore, before);
      assert.equal(report.blobs.copied + report.blobs.alreadyThere, source.shas.length - before);
      assert.match(second.stderr, /migrate: assets/);
      const count = await pg.get<{ n: number; d: number }>(
        'SELECT COUNT(*) AS n, COUNT(DISTINCT sha256) AS d FROM assets',
      );
      assert.deepEqual(count, { n: source.shas.length, d: source.shas.length });
      const places = await pg.get<{ n: number }>('SELECT COUNT(*) AS n FROM locations');
      assert.equal(places?.n, 5);
      const objects = await objectsUnder(direct);
      assert.deepEqual([...objects.keys()].sort(), [...source.shas].sort());
      for (const [sha, body] of objects)
        assert.equal(createHash('sha256').update(body).digest('hex'), sha);
      assert.deepEqual(
        await readdir(source.dataDir).then((n) => n.filter((x) => x.includes('migrate'))),
        [],
      );
    } finally {
      await pg.close();
      await proxy.close();
    }
  });
});
