// The vault keeps every path (issue 10 section 1): clients register where they hold each
// content, mark places gone, and page through them now or as they were at a moment. Names
// are bytes: a non-UTF-8 name comes back byte-exact. Dedup savings come from the places.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { corpusFile } from '../support/paths.js';
import { startTestVault, uploadBuffer, vaultFetch, type TestVault } from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

interface LocationJson {
  sha256: string;
  deviceId: string;
  deviceName: string;
  folder: string;
  path: string;
  pathB64: string;
  size: number;
  mtimeMs: number | null;
  firstSeen: number;
  lastSeen: number;
  goneAt: number | null;
}
interface Page {
  locations: LocationJson[];
  next: string | null;
}
type RegisterResult = { ok: true; change: string } | { ok: false; error: string };

const DEVICE = { deviceId: 'laptop-1', deviceName: 'Ada’s laptop' };
// "Ür" in Latin-1 (not valid UTF-8) then "laub.jpg": a name some cameras and old disks write.
const LATIN1_NAME = Buffer.concat([Buffer.from([0xdc, 0x72]), Buffer.from('laub.jpg')]);

async function postJson(vault: TestVault, path: string, body: unknown) {
  const res = await vaultFetch(vault, path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function listAll(vault: TestVault, query: string, limit: number): Promise<LocationJson[]> {
  const all: LocationJson[] = [];
  let after = '';
  for (;;) {
    const res = await vaultFetch(
      vault,
      `/api/v1/locations?limit=${limit}${query ? `&${query}` : ''}${after ? `&after=${after}` : ''}`,
    );
    assert.equal(res.status, 200);
    const page = (await res.json()) as Page;
    assert.ok(page.locations.length <= limit);
    all.push(...page.locations);
    if (page.next === null) return all;
    after = page.next;
  }
}

/** Resolves once the clock has moved past `t`, so two steps get distinct timestamps. */
async function tickPast(t: number): Promise<void> {
  while (Date.now() <= t) await new Promise((r) => setTimeout(r, 2));
}

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('vault: locations', () => {
      let vault: TestVault;
      const jpg = { data: Buffer.alloc(0), sha256: '' };
      const heic = { data: Buffer.alloc(0), sha256: '' };

      before(async () => {
        vault = await startTestVault(setup!.vaultOptions);
        jpg.data = await readFile(corpusFile('exifr-fixtures/cookiezen.jpg'));
        heic.data = await readFile(corpusFile('exifr-fixtures/heic-single.heic'));
        for (const f of [jpg, heic]) {
          const up = await uploadBuffer(vault, f.data);
          assert.equal(up.res.status, 201, up.text);
          f.sha256 = up.sha256;
        }
      });
      after(async () => {
        await vault?.close();
      });

      it('registers a batch idempotently and refuses, per item, content the vault does not hold', async () => {
        const batch = {
          ...DEVICE,
          locations: [
            {
              sha256: jpg.sha256,
              folder: 'Pictures',
              path: '2019/cookiezen.jpg',
              size: jpg.data.length,
              mtimeMs: 1552385472000,
            },
            {
              sha256: jpg.sha256,
              folder: 'Pictures',
              path: 'Albums/Food/cookiezen.jpg',
              size: jpg.data.length,
            },
            { sha256: 'f'.repeat(64), folder: 'Pictures', path: 'lost.jpg', size: 3 },
            {
              sha256: heic.sha256,
              folder: 'Pictures',
              pathB64: LATIN1_NAME.toString('base64'),
              path: LATIN1_NAME.toString('latin1'),
              size: heic.data.length,
            },
            { sha256: heic.sha256, folder: 'Pictures', path: 'wrong-size.heic', size: 1 },
          ],
        };
        const first = await postJson(vault, '/api/v1/locations', batch);
        assert.equal(first.status, 200, JSON.stringify(first.body));
        const results = first.body.results as RegisterResult[];
        assert.deepEqual(
          results.map((r) => (r.ok ? r.change : r.error)),
          ['added', 'added', 'not_held', 'added', 'size_mismatch'],
        );
        const again = await postJson(vault, '/api/v1/locations', batch);
        assert.deepEqual(
          (again.body.results as RegisterResult[]).map((r) => (r.ok ? r.change : r.error)),
          ['seen', 'seen', 'not_held', 'seen', 'size_mismatch'],
          'registering the same places again adds nothing',
        );
        const all = await listAll(vault, '', 1000);
        assert.equal(all.length, 3);
      });

      it('refuses a whole request with a path that escapes its folder, storing nothing', async () => {
        const before = await listAll(vault, 'includeGone=1', 1000);
        for (const path of ['../etc/passwd', '/abs.jpg', 'a//b.jpg', 'a/./b.jpg']) {
          const res = await postJson(vault, '/api/v1/locations', {
            ...DEVICE,
            locations: [
              {
                sha256: heic.sha256,
                folder: 'Pictures',
                path: 'fine.heic',
                size: heic.data.length,
              },
              { sha256: jpg.sha256, folder: 'Pictures', path, size: jpg.data.length },
            ],
          });
          assert.equal(res.status, 400, path);
        }
        const tooMany = await postJson(vault, '/api/v1/locations', {
          ...DEVICE,
          locations: Array.from({ length: 1001 }, (_, i) => ({
            sha256: jpg.sha256,
            folder: 'Pictures',
            path: `copy-${i}.jpg`,
            size: jpg.data.length,
          })),
        });
        assert.equal(tooMany.status, 400, 'at most 1,000 per request');
        assert.deepEqual(await listAll(vault, 'includeGone=1', 1000), before);
      });

      it('a non-UTF-8 name comes back byte-exact, and a prefix of raw bytes finds it', async () => {
        const all = await listAll(vault, '', 1000);
        const latin = all.find((l) => l.sha256 === heic.sha256);
        assert.ok(latin);
        assert.deepEqual(Buffer.from(latin.pathB64, 'base64'), LATIN1_NAME);
        assert.equal(latin.deviceName, DEVICE.deviceName);
        assert.equal(latin.folder, 'Pictures');
        const byPrefix = await listAll(
          vault,
          `prefixB64=${encodeURIComponent(LATIN1_NAME.subarray(0, 1).toString('base64'))}`,
          1000,
        );
        assert.deepEqual(
          byPrefix.map((l) => l.pathB64),
          [LATIN1_NAME.toString('base64')],
        );
        const albums = await listAll(vault, 'prefix=Albums%2F', 1000);
        assert.deepEqual(
          albums.map((l) => l.path),
          ['Albums/Food/cookiezen.jpg'],
        );
      });

      it('pages with the cursor through every location once, filtered by device and folder', async () => {
        const many = Array.from({ length: 25 }, (_, i) => ({
          sha256: jpg.sha256,
          folder: 'Camera',
          path: `DCIM/IMG_${String(i).padStart(4, '0')}.jpg`,
          size: jpg.data.length,
        }));
        const reg = await postJson(vault, '/api/v1/locations', {
          deviceId: 'phone-7',
          deviceName: 'Phone',
          locations: many,
        });
        assert.equal(reg.status, 200);
        const phone = await listAll(vault, 'device=phone-7', 7);
        assert.deepEqual(
          phone.map((l) => l.path),
          many.map((l) => l.path),
        );
        const camera = await listAll(vault, 'device=phone-7&folder=Camera', 1000);
        assert.equal(camera.length, 25);
        assert.equal((await listAll(vault, 'device=phone-7&folder=Pictures', 1000)).length, 0);
        const bad = await vaultFetch(vault, '/api/v1/locations?after=abc');
        assert.equal(bad.status, 400);
      });

      it('dedup savings count every place of a content beyond its first', async () => {
        const usage = (await (await vaultFetch(vault, '/api/v1/usage')).json()) as {
          dedupSavedBytes: number;
          byDevice: { deviceId: string; files: number; bytes: number }[];
        };
        // jpg: 2 places on the laptop + 25 on the phone; heic: 1 place.
        assert.equal(usage.dedupSavedBytes, 26 * jpg.data.length);
        assert.deepEqual(
          usage.byDevice.map((d) => [d.deviceId, d.files, d.bytes]),
          [
            ['laptop-1', 3, 2 * jpg.data.length + heic.data.length],
            ['phone-7', 25, 25 * jpg.data.length],
          ],
        );
      });

      it('`at` answers what a folder looked like at that moment; gone places stay in the history', async () => {
        const query = 'device=trip&folder=Trip';
        const reg = (path: string, f: { sha256: string; data: Buffer }) =>
          postJson(vault, '/api/v1/locations', {
            deviceId: 'trip',
            deviceName: 'Trip camera',
            locations: [
              {
                sha256: f.sha256,
                folder: 'Trip',
                pathB64: Buffer.from(path).toString('base64'),
                size: f.data.length,
              },
            ],
          });
        await reg('a.jpg', jpg);
        await reg('b.heic', heic);
        const [a0] = await listAll(vault, query, 1000);
        assert.ok(a0);
        const t1 = Date.now();
        await tickPast(Math.max(t1, a0.firstSeen));
        // a.jpg is deleted on the device; b.heic is replaced by other content at the same path.
        const gone = await postJson(vault, '/api/v1/locations/gone', {
          deviceId: 'trip',
          locations: [
            { folder: 'Trip', path: 'a.jpg' },
            { folder: 'Trip', path: 'never-there.jpg' },
          ],
        });
        assert.deepEqual(gone.body.results, [{ marked: true }, { marked: false }]);
        const replaced = await reg('b.heic', jpg);
        assert.deepEqual(replaced.body.results, [{ ok: true, change: 'replaced' }]);
        const t2 = Date.now();
        await tickPast(t2);

        const then = await listAll(vault, `${query}&at=${t1}`, 1000);
        assert.deepEqual(
          then.map((l) => [l.path, l.sha256]),
          [
            ['a.jpg', jpg.sha256],
            ['b.heic', heic.sha256],
          ],
        );
        const now = await listAll(vault, query, 1000);
        assert.deepEqual(
          now.map((l) => [l.path, l.sha256]),
          [['b.heic', jpg.sha256]],
        );
        assert.deepEqual(
          (await listAll(vault, `${query}&at=${t2}`, 1000)).map((l) => l.path),
          ['b.heic'],
        );
        const history = await listAll(vault, `${query}&includeGone=1`, 1000);
        assert.equal(history.length, 3, 'nothing is deleted');
        assert.ok(history.filter((l) => l.goneAt !== null).every((l) => l.goneAt! > t1));
      });
    });
  });
}
