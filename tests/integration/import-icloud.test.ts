// `keepsake import icloud` end to end (issue 12 section 3): the CLI from source against a real
// vault on loopback. There is no real iCloud Photos copy in the corpus, so the test lays out
// one the way Apple does ("iCloud Photos Part N of 2/Photos/…", "Photo Details.csv" per part,
// "Albums/<name>.csv", "Recently Deleted/", "Memories/") with real corpus photos and CSVs in
// Apple's exact format (BOM, CRLF, quoted dates such as "Tuesday June 14,2022 8:10 PM GMT"),
// unpacked and as zips. What a person relies on: every date equals originalCreationDate,
// favourites and hidden marks are kept, the albums come back (emoji and commas in their
// names), deleted photos are skipped and listed, the IMG_E edit is linked to its original, a
// malformed CSV line is reported with its file and line while the rest is imported, and
// importing again sends nothing and makes no second album.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AssetJson, MediaMetadata } from '../../common/vault-protocol.js';
import type { ICloudReport } from '../../main/engine/import/icloud/icloud-import.js';
import { createVaultClient, type VaultClient } from '../../main/engine/vault/vault-client.js';
import { describeRun, killAllChildren, parseJsonOutput, runCli } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, type TestVault } from '../support/vault.js';
import { writeZip, type ZipInput } from '../support/zip-writer.js';

const P1 = 'iCloud Photos Part 1 of 2';
const P2 = 'iCloud Photos Part 2 of 2';
const HEADER =
  'imgName,fileChecksum,favorite,hidden,deleted,originalCreationDate,viewCount,importDate';
const IMPORTED = 'Monday November 2,2026 9:00 AM GMT'; // importDate: never the capture date

/** A Photo Details.csv as Apple writes it. */
function details(rows: [string, string, string, string, string][]): string {
  const lines = rows.map(
    ([name, fav, hidden, deleted, date]) =>
      `${name},AQxW9rZ1bZ5dW9Qm0Qn4Y2x7Rk1p,${fav},${hidden},${deleted},"${date}",3,"${IMPORTED}"`,
  );
  return `\ufeff${[HEADER, ...lines].join('\r\n')}\r\n`;
}
const list = (header: string, names: string[]) => `\ufeff${[header, ...names].join('\r\n')}\r\n`;

/** export path -> corpus file (media) or text (CSV) */
const MEDIA: Record<string, string> = {
  [`${P1}/Photos/IMG_1853.HEIC`]: 'osxphotos/IMG_1853.HEIC',
  [`${P1}/Photos/IMG_E1853.heic`]: 'osxphotos/IMG_E1853.heic',
  [`${P1}/Photos/IMG_3582.HEIC`]: 'osxphotos/media_types/IMG_3582.HEIC',
  [`${P1}/Photos/IMG_3582.mov`]: 'osxphotos/media_types/IMG_3582.mov',
  [`${P1}/Photos/cookiezen.jpg`]: 'exifr-fixtures/cookiezen.jpg',
  [`${P1}/Recently Deleted/noexif.jpg`]: 'exifr-fixtures/noexif.jpg',
  [`${P2}/Photos/issue-exifr-13.jpg`]: 'exifr-fixtures/issue-exifr-13.jpg',
  [`${P2}/Photos/heic-single.heic`]: 'exifr-fixtures/heic-single.heic',
  [`${P2}/Photos/img_1771_no_exif.jpg`]: 'exifr-fixtures/img_1771_no_exif.jpg',
  [`${P2}/Photos/IMG_0102.HEIC`]: 'osxphotos/media_types/IMG_0102.HEIC',
};
const SUMMER = 'Summer, 2022 ☀️';
const TEXT: Record<string, string> = {
  [`${P1}/Photos/Photo Details.csv`]: details([
    ['IMG_1853.HEIC', 'yes', 'no', 'no', 'Tuesday June 14,2022 8:10 PM GMT'],
    ['IMG_E1853.heic', 'no', 'no', 'no', 'Tuesday June 14,2022 8:10 PM GMT'],
    ['IMG_3582.HEIC', 'no', 'yes', 'no', 'Friday October 06,2023 12:11 AM GMT'],
    ['IMG_3582.mov', 'no', 'yes', 'no', 'Friday October 06,2023 12:11 AM GMT'],
    ['cookiezen.jpg', 'no', 'no', 'yes', 'Saturday June 4,2022 12:11 PM GMT'],
    ['IMG_0404.JPG', 'no', 'no', 'no', 'Saturday June 4,2022 12:11 PM GMT'],
  ]),
  [`${P1}/Albums/${SUMMER}.csv`]: list('Images', [
    'IMG_3582.HEIC',
    'IMG_1853.HEIC',
    'issue-exifr-13.jpg',
    'IMG_9999.JPG',
  ]),
  [`${P1}/Albums/Cookies 🍪.csv`]: list('Images', ['cookiezen.jpg', 'heic-single.heic']),
  [`${P1}/Memories/Best of 2022.csv`]: list('imageName', ['IMG_1853.HEIC']),
  [`${P2}/Photos/Photo Details.csv`]: details([
    ['issue-exifr-13.jpg', 'no', 'no', 'no', 'Sunday February 9,2025 1:36 AM GMT'],
    ['heic-single.heic', 'yes', 'no', 'no', 'Wednesday March 1,2017 11:59 PM GMT'],
  ]),
  // A broken file: a short line and a date not in Apple's form, then a good row.
  [`${P2}/Photos/Photo Details-1.csv`]:
    `${details([])}IMG_0404.PNG,abc,no,no,no\r\n` +
    `IMG_0405.JPG,abc,no,no,no,"14/06/2022 20:10",3,"${IMPORTED}"\r\n` +
    `IMG_0102.HEIC,abc,no,no,no,"Thursday December 31,2020 11:30 PM GMT",3,"${IMPORTED}"\r\n`,
};
/** originalCreationDate of each content, by its corpus file. */
const TAKEN: Record<string, string> = {
  'osxphotos/IMG_1853.HEIC': '2022-06-14T20:10:00Z',
  'osxphotos/IMG_E1853.heic': '2022-06-14T20:10:00Z',
  'osxphotos/media_types/IMG_3582.HEIC': '2023-10-06T00:11:00Z',
  'osxphotos/media_types/IMG_3582.mov': '2023-10-06T00:11:00Z',
  'exifr-fixtures/issue-exifr-13.jpg': '2025-02-09T01:36:00Z',
  'exifr-fixtures/heic-single.heic': '2017-03-01T23:59:00Z',
  'osxphotos/media_types/IMG_0102.HEIC': '2020-12-31T23:30:00Z',
};

const sha = (rel: string) =>
  createHash('sha256')
    .update(readFileSync(corpusFile(rel)))
    .digest('hex');

async function allAssets(client: VaultClient): Promise<AssetJson[]> {
  const out: AssetJson[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await client.listAssets(after, 1000);
    out.push(...page.assets);
    if (page.next === null) return out;
    after = page.next;
  }
}

describe('keepsake import icloud', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let vault: TestVault;
  let client: VaultClient;
  let exportDir: string;

  before(async () => {
    tmp = await makeTempDir('keepsake-icloud-');
    exportDir = join(tmp.dir, 'export');
    for (const [path, rel] of Object.entries(MEDIA)) {
      await mkdir(dirname(join(exportDir, path)), { recursive: true });
      await copyFile(corpusFile(rel), join(exportDir, path));
    }
    for (const [path, text] of Object.entries(TEXT)) {
      await mkdir(dirname(join(exportDir, path)), { recursive: true });
      await writeFile(join(exportDir, path), text);
    }
  });
  after(async () => {
    await killAllChildren();
    client?.close();
    await vault?.close();
    await tmp?.cleanup();
  });

  async function importICloud(paths: string[], extra: string[] = [], expectCode = 1) {
    const result = await runCli([
      'import',
      'icloud',
      ...paths,
      '--to',
      vault.url,
      '--token',
      vault.token,
      '--data-dir',
      join(tmp.dir, 'data'),
      '--json',
      ...extra,
    ]);
    // 1: the malformed Photo Details-1.csv is a problem; everything else was imported
    assert.equal(result.code, expectCode, describeRun(result));
    return parseJsonOutput<ICloudReport>(result);
  }

  it('a dry run reports the copy and sends nothing', async () => {
    vault = await startTestVault();
    client = createVaultClient({ endpoint: vault.url, token: vault.token });
    const r = await importICloud([exportDir], ['--dry-run']);
    assert.equal(r.dryRun, true);
    assert.equal(r.files, 8);
    assert.equal(r.uploaded, 8);
    assert.deepEqual(
      r.albums.map((a) => [a.name, a.members, a.created]),
      [
        ['Cookies 🍪', 1, null],
        [SUMMER, 3, null],
      ],
    );
    assert.deepEqual(await allAssets(client), []);
    assert.deepEqual(await client.albums(), []);
  });

  it('two unpacked parts: dates equal originalCreationDate, favourites, albums, deleted skipped', async () => {
    const r = await importICloud([exportDir]);
    assert.equal(r.photos, 7);
    assert.equal(r.videos, 1);
    assert.equal(r.uploaded, 8);
    assert.equal(r.matchedRows, 7);
    assert.equal(r.metadataStored, 7);
    assert.equal(r.placesRegistered, 8);
    assert.equal(r.favorites, 2);
    assert.equal(r.hidden, 2);
    assert.deepEqual(r.skippedDeleted, [
      `${P1}/Photos/cookiezen.jpg`,
      `${P1}/Recently Deleted/noexif.jpg`,
    ]);
    assert.deepEqual(r.mediaWithoutRow, [
      { path: `${P2}/Photos/img_1771_no_exif.jpg`, reason: 'no Photo Details row names it' },
    ]);
    assert.deepEqual(
      r.unmatchedRows.map((u) => [u.path, u.line, u.name]),
      [
        [`${P1}/Photos/Photo Details.csv`, 7, 'IMG_0404.JPG'],
        [`${P2}/Photos/Photo Details-1.csv`, 3, 'IMG_0405.JPG'],
        [`${P1}/Albums/${SUMMER}.csv`, 5, 'IMG_9999.JPG'],
      ],
    );
    // the malformed CSV: its file and line named, the good row after it still used
    assert.deepEqual(
      r.problems.map((p) => p.path),
      [`${P2}/Photos/Photo Details-1.csv`, `${P2}/Photos/Photo Details-1.csv`],
    );
    assert.match(r.problems[0]?.message ?? '', /^line 2: 5 fields where the header has 8/);
    assert.match(r.problems[1]?.message ?? '', /^line 3: originalCreationDate "14\/06\/2022/);
    assert.deepEqual(
      r.notImported.map((n) => n.path),
      [`${P1}/Memories/Best of 2022.csv`],
    );
    assert.deepEqual(r.edits, [
      {
        edit: `${P1}/Photos/IMG_E1853.heic`,
        original: `${P1}/Photos/IMG_1853.HEIC`,
        linked: true,
      },
    ]);

    const assets = await allAssets(client);
    assert.equal(assets.length, 8);
    const byRel = new Map(Object.values(MEDIA).map((rel) => [sha(rel), rel]));
    for (const a of assets) {
      const rel = byRel.get(a.sha256) ?? '';
      const m = a.metadata as MediaMetadata | null;
      const taken = TAKEN[rel];
      if (taken === undefined) {
        assert.equal(m, null, `${rel}: no row, no date from Apple`);
        continue;
      }
      assert.ok(m, rel);
      assert.equal(m.source, 'icloud');
      assert.equal(m.captureTimeSource, 'icloud');
      assert.equal(Date.parse(m.captureTime ?? ''), Date.parse(taken), rel);
      // the instant as Apple states it (GMT), not a zone of the machine's
      assert.deepEqual(m.timeZone, { offsetMinutes: 0, source: 'utc' });
    }
    const meta = (rel: string) =>
      assets.find((a) => a.sha256 === sha(rel))?.metadata as MediaMetadata;
    assert.equal(meta('osxphotos/IMG_1853.HEIC').favorite, true);
    assert.equal(meta('osxphotos/IMG_1853.HEIC').hidden, false);
    assert.equal(meta('osxphotos/media_types/IMG_3582.HEIC').hidden, true);
    assert.equal(meta('exifr-fixtures/heic-single.heic').favorite, true);

    const albums = await client.albums();
    assert.deepEqual(albums.map((a) => [a.name, a.source, a.memberCount]).sort(), [
      ['Cookies 🍪', 'icloud', 1],
      [SUMMER, 'icloud', 3],
    ]);
    const summer = await client.album(albums.find((a) => a.name === SUMMER)?.id ?? '');
    assert.deepEqual(summer?.members, [
      sha('osxphotos/media_types/IMG_3582.HEIC'),
      sha('osxphotos/IMG_1853.HEIC'),
      sha('exifr-fixtures/issue-exifr-13.jpg'),
    ]);
    // the edit is linked to its original on the vault (the engine's grouping rules), both
    // backed up as they are
    assert.equal(r.groupsDeclared, 1);
    const edit = await client.asset(sha('osxphotos/IMG_E1853.heic'));
    assert.equal(edit?.group?.role, 'edit');
    const group = await client.group(edit?.group?.id ?? '');
    assert.deepEqual(group?.members, [
      { sha256: sha('osxphotos/IMG_1853.HEIC'), role: 'primary' },
      { sha256: sha('osxphotos/IMG_E1853.heic'), role: 'edit' },
    ]);
  });

  it('importing the same copy again sends nothing and makes no second album', async () => {
    const r = await importICloud([join(exportDir, P2), join(exportDir, P1)]);
    assert.equal(r.uploaded, 0);
    assert.equal(r.alreadyOnVault, 8);
    assert.deepEqual(
      r.albums.map((a) => a.created),
      [false, false],
    );
    assert.equal((await client.albums()).length, 2);
    assert.equal((await allAssets(client)).length, 8);
    // a part given as its own folder names its files as the whole copy does: no new places
    assert.equal((await client.locationsOf(sha('osxphotos/IMG_1853.HEIC'))).length, 1);
  });

  it('zipped parts as Apple hands them out: the same library, and deleted ones on request', async () => {
    client.close();
    await vault.close();
    vault = await startTestVault();
    client = createVaultClient({ endpoint: vault.url, token: vault.token });
    const input = join(tmp.dir, 'zips');
    await mkdir(input);
    const zips: string[] = [];
    for (const part of [P1, P2]) {
      const entries: ZipInput[] = [];
      for (const [path, rel] of Object.entries(MEDIA)) {
        if (path.startsWith(`${part}/`))
          entries.push({ name: path, data: readFileSync(corpusFile(rel)) });
      }
      for (const [path, text] of Object.entries(TEXT)) {
        if (path.startsWith(`${part}/`)) {
          entries.push({ name: path, data: Buffer.from(text), deflate: true });
        }
      }
      const zip = join(input, `${part}.zip`);
      await writeZip(zip, entries);
      zips.push(zip);
    }
    const before = await readdir(input);
    const r = await importICloud(zips, ['--include-deleted']);
    assert.equal(r.uploaded, 10);
    assert.deepEqual(r.skippedDeleted, []);
    assert.equal(r.matchedRows, 8);
    assert.deepEqual((await client.albums()).map((a) => [a.name, a.memberCount]).sort(), [
      ['Cookies 🍪', 2],
      [SUMMER, 3],
    ]);
    for (const [rel, taken] of Object.entries(TAKEN)) {
      const m = (await client.asset(sha(rel)))?.metadata as MediaMetadata;
      assert.equal(Date.parse(m.captureTime ?? ''), Date.parse(taken), rel);
    }
    // nothing written next to the input, nothing left staged
    assert.deepEqual(await readdir(input), before);
    const staging = join(tmp.dir, 'data', 'import-staging');
    assert.deepEqual(await readdir(staging).catch(() => []), []);

    const again = await importICloud([join(exportDir)], ['--include-deleted']);
    assert.equal(again.uploaded, 0);
    assert.equal((await client.albums()).length, 2);
  });
});
