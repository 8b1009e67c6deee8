// The vault's trash on a real vault on loopback, with real corpus photos (issue 15 section 1):
// a content moved there leaves the library and the similar-photos review, `check` stops
// calling it present and `verify` stops vouching for it (so no client frees its copy), it can
// be restored, an empty before its retention or while a device still holds it keeps it and
// says why, and only the explicit empty past the retention removes it (the vault's clock is
// moved, no sleeps). `keepsake vault trash list|restore|empty` does the same on the data
// directory. See [Note: What the trash answers] in server/trash.ts.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  checkResponseSchema,
  libraryPageSchema,
  trashEmptyResultSchema,
  trashListingSchema,
  trashMoveResponseSchema,
  verifyResponseSchema,
} from '../../common/vault-protocol.js';
import { killAllChildren, parseJsonOutput, runCli } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import {
  postBatch,
  sha256Hex,
  startTestVault,
  type TestVault,
  vaultFetch,
} from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const DAY = 24 * 3600 * 1000;
const FILES = [
  'ianare-exif-samples/jpg/gps/DSCN0010.jpg',
  'ianare-exif-samples/jpg/gps/DSCN0012.jpg',
  'metadata-extractor-images/jpg/Apple iPhone 4.jpg',
];

async function post(vault: TestVault, path: string, body: unknown, token?: string) {
  const res = await vaultFetch(vault, path, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function libraryHashes(vault: TestVault): Promise<string[]> {
  const res = await vaultFetch(vault, '/api/v1/library?limit=1000');
  assert.equal(res.status, 200);
  const page = libraryPageSchema.parse(await res.json());
  assert.equal(page.total, page.items.length);
  return page.items.map((i) => i.sha256).sort();
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

    describe("the vault's trash", () => {
      let vault: TestVault;
      let temp: { dir: string; cleanup: () => Promise<void> };
      let skew = 0;
      let a: string; // trashed, held by no device: removable after the retention
      let b: string; // trashed, but a device still has it
      let c: string; // never trashed

      before(async () => {
        temp = await makeTempDir('keepsake-trash-');
        vault = await startTestVault({
          ...setup!.vaultOptions,
          dataDir: join(temp.dir, 'vault'),
          scrub: false,
          previews: false,
          now: () => Date.now() + skew,
        });
        const files = await Promise.all(
          FILES.map(async (rel) => ({
            data: await readFile(corpusFile(rel)),
            filename: rel.split('/').at(-1)!,
            mime: 'image/jpeg',
          })),
        );
        const r = await postBatch(vault, files);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        [a, b, c] = files.map((f) => sha256Hex(f.data)) as [string, string, string];
        const placed = await post(vault, '/api/v1/locations', {
          deviceId: 'laptop-1',
          deviceName: 'Ada’s laptop',
          locations: [
            {
              sha256: b,
              folder: 'Pictures',
              path: '2024/DSCN0012.jpg',
              size: files[1]!.data.length,
            },
          ],
        });
        assert.equal(placed.status, 200, JSON.stringify(placed.body));
      });
      after(async () => {
        await vault?.close();
        await temp?.cleanup();
        await killAllChildren();
      });

      it('a content moved to the trash leaves the library, and check and verify stop vouching for it', async () => {
        assert.deepEqual(await libraryHashes(vault), [a, b, c].sort());
        const moved = await post(vault, '/api/v1/trash', { sha256: [a, b, 'f'.repeat(64)] });
        assert.equal(moved.status, 200);
        assert.deepEqual(trashMoveResponseSchema.parse(moved.body), {
          moved: [a, b],
          unknown: ['f'.repeat(64)],
        });
        assert.deepEqual(await libraryHashes(vault), [c]);

        const check = checkResponseSchema.parse(
          (await post(vault, '/api/v1/assets/check', { sha256: [a, b, c] })).body,
        );
        assert.deepEqual(check.present, [c], 'a trashed content is never "present"');
        assert.deepEqual(check.trashed?.sort(), [a, b].sort());
        const verify = verifyResponseSchema.parse(
          (await post(vault, '/api/v1/verify', { sha256: [a, c] })).body,
        );
        assert.deepEqual(
          verify.results.map((r) => r.state),
          ['missing', 'ok'],
          'free-up keeps a file whose content is in the trash',
        );
        const content = await vaultFetch(vault, `/api/v1/assets/${a}/content`);
        assert.equal(content.status, 200, 'its bytes can still be restored to a device');
        await content.arrayBuffer();

        const listing = trashListingSchema.parse(
          await (await vaultFetch(vault, '/api/v1/trash')).json(),
        );
        assert.equal(listing.retentionDays, 30);
        assert.deepEqual(
          listing.items.map((i) => [i.sha256, i.livePlaces]).sort(),
          [
            [a, 0],
            [b, 1],
          ].sort(),
        );
      });

      it('a trashed content is restored to the library', async () => {
        const restored = await post(vault, '/api/v1/trash/restore', { sha256: [a] });
        assert.deepEqual(restored.body, { restored: [a] });
        assert.deepEqual(await libraryHashes(vault), [a, c].sort());
        const check = checkResponseSchema.parse(
          (await post(vault, '/api/v1/assets/check', { sha256: [a] })).body,
        );
        assert.deepEqual(check.present, [a]);
        assert.equal((await post(vault, '/api/v1/trash', { sha256: [a] })).status, 200);
      });

      it('nothing leaves before its retention, nor while a device has it; the explicit empty removes the rest', async () => {
        const early = trashEmptyResultSchema.parse(
          (await post(vault, '/api/v1/trash/empty', {})).body,
        );
        assert.deepEqual(early.removed, []);
        assert.deepEqual(
          early.kept.map((k) => [k.sha256, k.reason]).sort(),
          [
            [a, 'retention'],
            [b, 'retention'],
          ].sort(),
        );
        // Thirty days on the vault's clock: still nothing happens by itself.
        skew += 30 * DAY + 1000;
        const stored = async (sha256: string) =>
          (await setup!.stored(vault.dataDir, sha256)) !== null;
        assert.ok(await stored(a), 'nothing is deleted automatically');
        assert.deepEqual(
          ((await (await vaultFetch(vault, '/api/v1/trash')).json()) as { items: unknown[] }).items
            .length,
          2,
        );

        const emptied = trashEmptyResultSchema.parse(
          (await post(vault, '/api/v1/trash/empty', {})).body,
        );
        assert.deepEqual(
          emptied.removed.map((r) => r.sha256),
          [a],
        );
        assert.deepEqual(
          emptied.kept.map((k) => [k.sha256, k.reason]),
          [[b, 'held_by_device']],
        );
        assert.match(
          emptied.kept[0]!.message,
          /Ada’s laptop still has it \(Pictures\/2024\/DSCN0012\.jpg\)/,
        );
        assert.ok(!(await stored(a)), 'its bytes are gone');
        assert.ok(await stored(b));
        const check = checkResponseSchema.parse(
          (await post(vault, '/api/v1/assets/check', { sha256: [a, b] })).body,
        );
        assert.deepEqual([check.present, check.trashed], [[], [b]], 'a removed content is unknown');
        assert.equal((await vaultFetch(vault, `/api/v1/assets/${a}`)).status, 404);

        // The device lets go of its copy: the next empty removes it.
        const gone = await post(vault, '/api/v1/locations/gone', {
          deviceId: 'laptop-1',
          locations: [{ folder: 'Pictures', path: '2024/DSCN0012.jpg' }],
        });
        assert.equal(gone.status, 200);
        const last = trashEmptyResultSchema.parse(
          (await post(vault, '/api/v1/trash/empty', {})).body,
        );
        assert.deepEqual(
          last.removed.map((r) => r.sha256),
          [b],
        );
        assert.deepEqual(await libraryHashes(vault), [c]);
      });

      it("a group's primary takes its whole asset to the trash, and restoring any member brings it all back", async () => {
        const still = await readFile(corpusFile('ianare-exif-samples/jpg/Canon_40D.jpg'));
        const rendition = await readFile(
          corpusFile('ianare-exif-samples/jpg/Canon_40D_photoshop_import.jpg'),
        );
        const r = await postBatch(vault, [
          { data: still, filename: 'IMG_0001.CR2.jpg', mime: 'image/jpeg' },
          { data: rendition, filename: 'IMG_0001.JPG', mime: 'image/jpeg' },
        ]);
        assert.equal(r.status, 200);
        const [s, j] = [sha256Hex(still), sha256Hex(rendition)];
        const declared = await post(vault, '/api/v1/groups', {
          groups: [
            {
              members: [
                { sha256: s, role: 'primary' },
                { sha256: j, role: 'rendition' },
              ],
            },
          ],
        });
        assert.equal(declared.status, 200, JSON.stringify(declared.body));
        const groupId = (declared.body as { results: { id: string }[] }).results[0]?.id;
        const moved = trashMoveResponseSchema.parse(
          (await post(vault, '/api/v1/trash', { sha256: [s] })).body,
        );
        assert.deepEqual(moved.moved.sort(), [s, j].sort());
        assert.ok(!(await libraryHashes(vault)).includes(s));
        const restored = await post(vault, '/api/v1/trash/restore', { sha256: [j] });
        assert.deepEqual((restored.body as { restored: string[] }).restored.sort(), [s, j].sort());
        assert.ok((await libraryHashes(vault)).includes(s));
        // Out of the way of the next test: these two leave for good (no device holds them).
        await post(vault, '/api/v1/trash', { sha256: [s] });
        skew += 31 * DAY;
        const emptied = trashEmptyResultSchema.parse(
          (await post(vault, '/api/v1/trash/empty', {})).body,
        );
        assert.deepEqual(emptied.removed.map((x) => x.sha256).sort(), [s, j].sort());
        assert.equal(
          (await vaultFetch(vault, `/api/v1/groups/${groupId}`)).status,
          404,
          'the group ended with its members',
        );
      });

      it('keepsake vault trash list, restore and empty work on the data directory', async () => {
        assert.equal((await post(vault, '/api/v1/trash', { sha256: [c] })).status, 200);
        await vault.close();
        const dataDir = vault.dataDir;
        const listed = parseJsonOutput<{ items: { sha256: string }[] }>(
          await runCli([
            'vault',
            'trash',
            'list',
            '--json',
            '--data-dir',
            dataDir,
            ...setup!.cliArgs,
          ]),
        );
        assert.deepEqual(
          listed.items.map((i) => i.sha256),
          [c],
        );
        const kept = trashEmptyResultSchema.parse(
          parseJsonOutput(
            await runCli([
              'vault',
              'trash',
              'empty',
              '--json',
              '--data-dir',
              dataDir,
              ...setup!.cliArgs,
            ]),
          ),
        );
        assert.deepEqual(
          [kept.removed, kept.kept.map((k) => [k.sha256, k.reason])],
          [[], [[c, 'retention']]],
        );
        const restored = parseJsonOutput<{ restored: string[] }>(
          await runCli([
            'vault',
            'trash',
            'restore',
            c,
            '--json',
            '--data-dir',
            dataDir,
            ...setup!.cliArgs,
          ]),
        );
        assert.deepEqual(restored.restored, [c]);
        const again = parseJsonOutput<{ items: unknown[] }>(
          await runCli([
            'vault',
            'trash',
            'list',
            '--json',
            '--data-dir',
            dataDir,
            ...setup!.cliArgs,
          ]),
        );
        assert.deepEqual(again.items, []);
        // Moved again, and emptied with no retention: removed at once (no device holds it).
        vault = await startTestVault({
          ...setup!.vaultOptions,
          dataDir,
          scrub: false,
          previews: false,
        });
        assert.equal((await post(vault, '/api/v1/trash', { sha256: [c] })).status, 200);
        await vault.close();
        const emptied = trashEmptyResultSchema.parse(
          parseJsonOutput(
            await runCli([
              'vault',
              'trash',
              'empty',
              '--trash-retention',
              '0',
              '--json',
              '--data-dir',
              dataDir,
              ...setup!.cliArgs,
            ]),
          ),
        );
        assert.deepEqual(
          emptied.removed.map((r) => r.sha256),
          [c],
        );
        vault = await startTestVault({
          ...setup!.vaultOptions,
          dataDir,
          scrub: false,
          previews: false,
        });
        assert.deepEqual(await libraryHashes(vault), []);
      });
    });
  });
}
