// Assets, not files (issue 11 section 1): a folder of real corpus files backed up through the
// real engine (exiftool included) to a real vault on loopback; the vault then reports a Live
// Photo's still and video as one group wherever they sit, an edited copy and its AAE with
// their original, a RAW with the JPEG taken with it, an XMP with its photo, and keeps apart
// what only shares a name. Sidecars have no problems of their own. A second run declares
// nothing again.
// Over both backend pairs (issue 14): filesystem blobs with SQLite, S3 blobs with PostgreSQL.
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExifTool } from 'exiftool-vendored';
import type { FileRow } from '../../common/contract.js';
import type { AssetGroup, GroupRole } from '../../common/vault-protocol.js';
import type { KeepsakeEngine } from '../../main/engine/api.js';
import { createVaultClient, type VaultClient } from '../../main/engine/vault/vault-client.js';
import { listFiles, openEngine } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, type TestVault } from '../support/vault.js';
import { blobBackends, type BlobBackendSetup } from '../support/blob-backends.js';

const FILES: Record<string, string> = {
  // a Live Photo whose video sits in another folder, with its AAE
  'iphone/IMG_3582.HEIC': 'osxphotos/media_types/IMG_3582.HEIC',
  'iphone/IMG_3582.AAE': 'osxphotos/original_aae/IMG_3582.AAE',
  'videos/IMG_3582.mov': 'osxphotos/media_types/IMG_3582.mov',
  // an iOS edit beside its original, and the original's AAE
  '2023/IMG_1853.HEIC': 'osxphotos/IMG_1853.HEIC',
  '2023/IMG_1853.AAE': 'osxphotos/IMG_1853.AAE',
  '2023/IMG_E1853.heic': 'osxphotos/IMG_E1853.heic',
  // a Photos export's edited copy and AAE
  'wedding/wedding.jpg': 'osxphotos/wedding.jpg',
  'wedding/wedding_edited.jpg': 'osxphotos/wedding_edited.jpg',
  'wedding/wedding.AAE': 'osxphotos/wedding.AAE',
  // a JPEG with its XMP sidecar
  'sidecar/IMG_5910.jpg': 'exifr-fixtures/sidecar/IMG_5910.jpg',
  'sidecar/IMG_5910.xmp': 'exifr-fixtures/sidecar/IMG_5910.xmp',
  // a RAW and a JPEG of one name, taken years apart: two shots
  'nikon/Nikon.nef': 'exiftool-t-images/Nikon.nef',
  'nikon/Nikon.jpg': 'exiftool-t-images/Nikon.jpg',
  // a RAW and a JPEG given the same name and (below) the same capture time: one shot
  'canon/IMG_0001.CR2': 'exiftool-t-images/CanonRaw.cr2',
  'canon/IMG_0001.JPG': 'exiftool-t-images/Canon.jpg',
  // exports named after (and dated as) their RAW by their XMP (below): Lightroom into a
  // subfolder, darktable into a sibling folder; and one naming a RAW it was not taken with
  'lightroom/DSCF0001.RAF': 'exiftool-t-images/FujiFilm.raf',
  'lightroom/Exported/DSCF0001-Edit.jpg': 'ianare-exif-samples/jpg/Pentax_K10D.jpg',
  'darktable/raw/P1000001.RW2': 'exiftool-t-images/Panasonic.rw2',
  'darktable/export/P1000001_01.jpg': 'ianare-exif-samples/jpg/Olympus_C8080WZ.jpg',
  'darktable/export/P1000001_02.jpg': 'ianare-exif-samples/jpg/Ricoh_Caplio_RR330.jpg',
  // a JPEG and an MP4 of one name, with no shared identifier: two assets
  'android/IMG_1234.JPG': 'ianare-exif-samples/jpg/Canon_40D.jpg',
  'android/IMG_1234.MP4': 'metadata-extractor-images/mp4/sample_mpeg4.mp4',
};

for (const backend of blobBackends()) {
  describe(`over ${backend.label}`, () => {
    let setup: BlobBackendSetup | undefined;
    before(async () => {
      setup = await backend.setUp();
    });
    after(async () => {
      await setup?.close();
    });

    describe('engine: groups on the vault (Live Photos, RAW+JPEG, edits, sidecars)', () => {
      let temp: Awaited<ReturnType<typeof makeTempDir>>;
      let vault: TestVault;
      let client: VaultClient;
      let engine: KeepsakeEngine | null = null;
      let rows: FileRow[] = [];
      const sha = (rel: string): string => {
        const row = rows.find((r) => r.path.endsWith(`/${rel}`));
        assert.ok(row?.sha256, `${rel} is backed up`);
        return row.sha256;
      };
      const groupOf = async (rel: string): Promise<AssetGroup | null> =>
        (await client.asset(sha(rel)))?.group ?? null;
      /** The group of `rel` on the vault as "path:role", primary first. */
      const membersOf = async (rel: string): Promise<string[]> => {
        const g = await groupOf(rel);
        if (!g) return [];
        const group = await client.group(g.id);
        assert.ok(group);
        return group.members.map((m) => {
          const row = rows.find((r) => r.sha256 === m.sha256);
          return `${row?.path.split('/Pictures/')[1] ?? m.sha256}:${m.role}`;
        });
      };

      async function backUp(folder: string | null, dataDir: string): Promise<KeepsakeEngine> {
        const e = (await openEngine(dataDir, vault, {
          createWatcher: null,
          settleMs: 0,
        })) as KeepsakeEngine;
        engine = e;
        if (folder !== null) await e.api['folders.add']({ path: folder });
        await e.start();
        await e.whenSettled(AbortSignal.timeout(120_000));
        await e.whenMetadataSent(AbortSignal.timeout(120_000));
        await e.whenGroupsSent(AbortSignal.timeout(60_000));
        return e;
      }

      before(async () => {
        temp = await makeTempDir('keepsake-engine-groups-');
        vault = await startTestVault(setup!.vaultOptions);
        client = createVaultClient({ endpoint: vault.url, token: vault.token });
        const src = join(temp.dir, 'Pictures');
        for (const [rel, corpus] of Object.entries(FILES)) {
          await mkdir(dirname(join(src, rel)), { recursive: true });
          await copyFile(corpusFile(corpus), join(src, rel));
        }
        // Canon.jpg was taken in 2003, CanonRaw.cr2 in 2005: give the JPEG copy the RAW's
        // capture time, as a camera shooting RAW+JPEG writes it into both.
        const exiftool = new ExifTool({ maxProcs: 1 });
        try {
          const raw = await exiftool.read(join(src, 'canon/IMG_0001.CR2'));
          assert.ok(raw.DateTimeOriginal, 'the RAW states when it was taken');
          await exiftool.write(
            join(src, 'canon/IMG_0001.JPG'),
            { DateTimeOriginal: raw.DateTimeOriginal.toString() },
            { writeArgs: ['-overwrite_original'] },
          );
          // Exports carry the RAW's capture time and name it in their XMP, as Lightroom
          // (crs:RawFileName) and darktable (xmpMM:DerivedFrom, a plain name) write them.
          const asTakenWith = async (rel: string, rawRel: string) => {
            const taken = (await exiftool.read(join(src, rawRel))).DateTimeOriginal;
            assert.ok(taken, `${rawRel} states when it was taken`);
            await exiftool.write(
              join(src, rel),
              {},
              {
                writeArgs: [
                  '-overwrite_original',
                  `-AllDates=${taken.toString()}`,
                  '-SubSecTime*=',
                  '-OffsetTime*=',
                  '-GPS:all=',
                ],
              },
            );
          };
          await exiftool.write(
            join(src, 'lightroom/Exported/DSCF0001-Edit.jpg'),
            {},
            { writeArgs: ['-overwrite_original', '-XMP-crs:RawFileName=DSCF0001.RAF'] },
          );
          await asTakenWith('lightroom/Exported/DSCF0001-Edit.jpg', 'lightroom/DSCF0001.RAF');
          const darktableXmp = join(temp.dir, 'darktable.xmp');
          await writeFile(
            darktableXmp,
            `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
    <rdf:Description rdf:about="" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:darktable="http://darktable.sf.net/"
     xmpMM:DerivedFrom="P1000001.RW2" darktable:xmp_version="5"/></rdf:RDF></x:xmpmeta>`,
          );
          await exiftool.write(
            join(src, 'darktable/export/P1000001_01.jpg'),
            {},
            { writeArgs: ['-overwrite_original', `-xmp<=${darktableXmp}`] },
          );
          await asTakenWith('darktable/export/P1000001_01.jpg', 'darktable/raw/P1000001.RW2');
          await exiftool.write(
            join(src, 'darktable/export/P1000001_02.jpg'),
            {},
            { writeArgs: ['-overwrite_original', '-XMP-xmpMM:PreservedFileName=P1000001.RW2'] },
          );
        } finally {
          await exiftool.end();
        }
        const e = await backUp(src, join(temp.dir, 'data'));
        rows = await listFiles(e);
      });
      after(async () => {
        await engine?.close();
        client?.close();
        await vault?.close();
        await temp?.cleanup();
      });

      it("a Live Photo's still and video are one asset, though they sit in different folders", async () => {
        assert.deepEqual(await membersOf('iphone/IMG_3582.HEIC'), [
          'iphone/IMG_3582.HEIC:primary',
          'videos/IMG_3582.mov:live-video',
          'iphone/IMG_3582.AAE:sidecar',
        ]);
        assert.equal((await groupOf('videos/IMG_3582.mov'))?.role, 'live-video');
      });

      it('an iOS edit and the AAE join their original; the original leads', async () => {
        assert.deepEqual(await membersOf('2023/IMG_E1853.heic'), [
          '2023/IMG_1853.HEIC:primary',
          '2023/IMG_1853.AAE:sidecar',
          '2023/IMG_E1853.heic:edit',
        ]);
        assert.deepEqual(await membersOf('wedding/wedding.jpg'), [
          'wedding/wedding.jpg:primary',
          'wedding/wedding.AAE:sidecar',
          'wedding/wedding_edited.jpg:edit',
        ]);
      });

      it('a Lightroom or darktable export joins the RAW its XMP names, taken at the same instant', async () => {
        assert.deepEqual(await membersOf('lightroom/DSCF0001.RAF'), [
          'lightroom/DSCF0001.RAF:primary',
          'lightroom/Exported/DSCF0001-Edit.jpg:edit',
        ]);
        assert.deepEqual(await membersOf('darktable/raw/P1000001.RW2'), [
          'darktable/raw/P1000001.RW2:primary',
          'darktable/export/P1000001_01.jpg:edit',
        ]);
        assert.equal(
          await groupOf('darktable/export/P1000001_02.jpg'),
          null,
          'an export naming a RAW it was not taken with stays apart',
        );
      });

      it('a RAW and the JPEG taken with it are one asset, the RAW its original', async () => {
        assert.deepEqual(await membersOf('canon/IMG_0001.JPG'), [
          'canon/IMG_0001.CR2:primary',
          'canon/IMG_0001.JPG:rendition',
        ]);
      });

      it("an XMP sidecar belongs to its photo, whose metadata gains the sidecar's rating and keywords", async () => {
        assert.deepEqual(await membersOf('sidecar/IMG_5910.jpg'), [
          'sidecar/IMG_5910.jpg:primary',
          'sidecar/IMG_5910.xmp:sidecar',
        ]);
        const metadata = (await client.asset(sha('sidecar/IMG_5910.jpg')))?.metadata as {
          rating?: number;
          keywords?: string[];
          captureTimeSource?: string;
        } | null;
        assert.equal(metadata?.rating, 3);
        assert.deepEqual(metadata?.keywords, ['Alvin the Squirrel', 'Berkley', 'USA']);
        assert.equal(metadata?.captureTimeSource, 'exif_original', "the photo's own date stays");
      });

      it('a shared name alone groups nothing: two shots, or a photo and a video', async () => {
        for (const rel of [
          'nikon/Nikon.nef',
          'nikon/Nikon.jpg',
          'android/IMG_1234.JPG',
          'android/IMG_1234.MP4',
        ]) {
          assert.equal(await groupOf(rel), null, rel);
        }
      });

      it('sidecars are backed up byte-exact as their own content, with no problems of their own', () => {
        for (const rel of Object.keys(FILES).filter((p) => /\.(aae|xmp)$/i.test(p))) {
          const row = rows.find((r) => r.path.endsWith(`/${rel}`));
          assert.equal(row?.state, 'backed_up', rel);
          assert.deepEqual(row.metadataProblems, [], rel);
        }
      });

      it('a second run declares nothing again', async () => {
        const before = await client.group((await groupOf('iphone/IMG_3582.HEIC'))!.id);
        await engine!.close();
        engine = null;
        const e = await backUp(null, join(temp.dir, 'data'));
        const again = await client.group((await groupOf('iphone/IMG_3582.HEIC'))!.id);
        assert.equal(again?.declaredAt, before?.declaredAt);
        const roles = new Set<GroupRole>();
        for (const row of await listFiles(e)) {
          const g = row.sha256 ? (await client.asset(row.sha256))?.group : null;
          if (g) roles.add(g.role);
        }
        assert.deepEqual([...roles].sort(), [
          'edit',
          'live-video',
          'primary',
          'rendition',
          'sidecar',
        ]);
      });
    });
  });
}
