// `keepsake import takeout` end to end (issue 12 section 2): the CLI from source against a
// real vault on loopback, with the two real Takeout exports of the corpus, unpacked and as
// Takeout-shaped multi-part zips the test builds from them. What a person relies on: every
// date equals the sidecar's photoTakenTime, the albums come back (titles from metadata.json),
// a photo in an album and in its year folder is one asset, unmatched files are listed, a
// dry run sends nothing, and importing again sends nothing and makes no second album.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AssetJson } from '../../common/vault-protocol.js';
import type { TakeoutReport } from '../../main/engine/import/takeout/takeout-import.js';
import { createVaultClient, type VaultClient } from '../../main/engine/vault/vault-client.js';
import { describeRun, killAllChildren, parseJsonOutput, runCli } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, type TestVault, uploadBuffer } from '../support/vault.js';
import { writeZip } from '../support/zip-writer.js';

const OSX = 'takeout/osxphotos/Takeout';
const GOPHERS = 'takeout/immich-go-gophers/gophers';

function filesUnder(relDir: string): string[] {
  const root = corpusFile(relDir);
  return readdirSync(root, { recursive: true })
    .map(String)
    .filter((p) => statSync(join(root, p)).isFile())
    .sort();
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** photoTakenTime (unix ms) of each media content of an export, from its sidecars. */
function takenTimes(relDir: string): Map<string, number> {
  const root = corpusFile(relDir);
  const times = new Map<string, number>();
  for (const rel of filesUnder(relDir)) {
    if (rel.endsWith('.json')) continue;
    const sidecar = [`${rel}.json`, `${rel}.supplemental-metadata.json`]
      .map((p) => join(root, p))
      .find((p) => {
        try {
          return statSync(p).isFile();
        } catch {
          return false;
        }
      });
    if (!sidecar) continue;
    const json = JSON.parse(readFileSync(sidecar, 'utf8')) as {
      photoTakenTime: { timestamp: string };
    };
    times.set(sha256(readFileSync(join(root, rel))), Number(json.photoTakenTime.timestamp) * 1000);
  }
  return times;
}

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

describe('keepsake import takeout', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let vault: TestVault;
  let client: VaultClient;

  before(async () => {
    tmp = await makeTempDir('keepsake-takeout-');
  });
  after(async () => {
    await killAllChildren();
    client?.close();
    await vault?.close();
    await tmp?.cleanup();
  });

  async function importTakeout(paths: string[], extra: string[] = []) {
    const result = await runCli([
      'import',
      'takeout',
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
    assert.equal(result.code, 0, describeRun(result));
    return parseJsonOutput<TakeoutReport>(result);
  }

  it('a dry run reports the unpacked export and sends nothing', async () => {
    vault = await startTestVault();
    client = createVaultClient({ endpoint: vault.url, token: vault.token });
    const report = await importTakeout([corpusFile(OSX)], ['--dry-run']);
    assert.equal(report.dryRun, true);
    assert.equal(report.photos, 12);
    assert.equal(report.videos, 1);
    assert.equal(report.files, 16);
    assert.equal(report.uploaded, 13);
    assert.deepEqual(
      report.albums.map((a) => [a.name, a.members, a.created]),
      [
        ['Adelaide', 1, null],
        ['Pumpkin Farm', 3, null],
      ],
    );
    assert.deepEqual(await allAssets(client), []);
    assert.deepEqual(await client.albums(), []);
  });

  it('the unpacked osxphotos export: dates equal photoTakenTime, albums rebuilt, orphans listed', async () => {
    const report = await importTakeout([corpusFile(OSX)]);
    assert.equal(report.uploaded, 13);
    assert.equal(report.alreadyOnVault, 0);
    assert.equal(report.matchedSidecars, 16);
    assert.equal(report.metadataStored, 13);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.mediaWithoutSidecar, []);
    assert.deepEqual(
      report.unmatchedSidecars.map((u) => u.path),
      [
        'Google Photos/Photos from 2018/IMG_1523.jpg.json',
        'Google Photos/Photos from 2018/IMG_1760_Seattle.jpg.json',
        'Google Photos/Photos from 2020/DSC03584.dng.json',
        'Google Photos/Photos from 2020/IMG_1693.tif.json',
        'Google Photos/Photos from 2020/IMG_1994.cr2.json',
      ],
    );
    const assets = await allAssets(client);
    assert.equal(assets.length, 13);
    const taken = takenTimes(OSX);
    for (const a of assets) {
      const m = a.metadata as { captureTime: string | null; source?: string } | null;
      assert.ok(m, `${a.filename} has metadata`);
      assert.equal(m.source, 'takeout');
      const expected = taken.get(a.sha256);
      // IMG_4179-edited.jpeg has no sidecar of its own: its original's date
      if (expected !== undefined)
        assert.equal(Date.parse(m.captureTime ?? ''), expected, a.filename);
      else assert.ok(m.captureTime, a.filename);
    }
    const albums = await client.albums();
    assert.deepEqual(
      albums.map((a) => [a.name, a.memberCount]),
      [
        ['Adelaide', 1],
        ['Pumpkin Farm', 3],
      ],
    );
    // every path is recorded, the album copy and the year folder's alike, for restore
    assert.equal(report.placesRegistered, 16);
    const pumpkin = sha256(
      readFileSync(corpusFile(`${OSX}/Google Photos/Pumpkin Farm/Pumkins1.jpg`)),
    );
    assert.deepEqual(
      (await client.locationsOf(pumpkin)).map((p) => `${p.folder}/${p.path}`).sort(),
      [
        'Google Takeout/Google Photos/Photos from 2018/Pumkins1.jpg',
        'Google Takeout/Google Photos/Pumpkin Farm/Pumkins1.jpg',
      ],
    );
    const pumpkins = await client.album(albums[1]!.id);
    const root = corpusFile(`${OSX}/Google Photos/Pumpkin Farm`);
    assert.deepEqual(
      new Set(pumpkins?.members),
      new Set(
        ['Pumkins1.jpg', 'Pumkins2.jpg', 'Pumpkins3.jpg'].map((n) =>
          sha256(readFileSync(join(root, n))),
        ),
      ),
    );
  });

  it('importing the same export again sends nothing and makes no second album', async () => {
    const pumpkin = sha256(
      readFileSync(corpusFile(`${OSX}/Google Photos/Pumpkin Farm/Pumkins1.jpg`)),
    );
    const placesOf = async () =>
      (await client.locationsOf(pumpkin)).map((p) => `${p.folder}/${p.path}`).sort();
    const placesBefore = await placesOf();
    const report = await importTakeout([corpusFile(OSX)]);
    assert.deepEqual(await placesOf(), placesBefore);
    assert.equal(report.uploaded, 0);
    assert.equal(report.alreadyOnVault, 13);
    assert.deepEqual(
      report.albums.map((a) => a.created),
      [false, false],
    );
    assert.equal((await client.albums()).length, 2);
    assert.equal((await allAssets(client)).length, 13);
  });

  it('the 2025 export (supplemental-metadata names): the album keeps its metadata.json title', async () => {
    const report = await importTakeout([corpusFile(GOPHERS)]);
    assert.equal(report.files, 10);
    assert.equal(report.photos, 5); // the album's copies are the year folder's photos
    assert.equal(report.matchedSidecars, 10);
    assert.deepEqual(
      report.albums.map((a) => [a.name, a.key, a.members]),
      [["Gopher's gallery", 'gophers', 5]],
    );
    const taken = takenTimes(GOPHERS);
    for (const a of await allAssets(client)) {
      const expected = taken.get(a.sha256);
      if (expected === undefined) continue;
      const m = a.metadata as { captureTime: string; timeZone: unknown };
      assert.equal(Date.parse(m.captureTime), expected);
      assert.equal(m.timeZone, null); // no position: the zone is unknown, not invented
    }
  });

  it('multi-part zips built from the exports: sidecars in another part, same dates and albums, re-import a no-op', async () => {
    client.close();
    await vault.close();
    vault = await startTestVault();
    client = createVaultClient({ endpoint: vault.url, token: vault.token });
    // Part 1 holds the photos and videos, part 2 every JSON (and the archive's own files),
    // as Takeout splits a large export; JSON deflated, media stored, as Google writes them.
    const part1 = [];
    const part2 = [];
    for (const rel of filesUnder(OSX)) {
      const data = readFileSync(join(corpusFile(OSX), rel));
      const name = `Takeout/${rel.split('\\').join('/')}`;
      if (rel.endsWith('.json') || rel.endsWith('.html') || rel.endsWith('.md')) {
        part2.push({ name, data, deflate: true });
      } else part1.push({ name, data });
    }
    const input = join(tmp.dir, 'input');
    await mkdir(input);
    const zip1 = join(input, 'takeout-20260101T000000Z-001.zip');
    const zip2 = join(input, 'takeout-20260101T000000Z-002.zip');
    await writeZip(zip1, part1);
    await writeZip(zip2, part2);
    const before = await readdir(input);

    // One photo was backed up before, with what a backup reads from the file itself.
    const tulips = readFileSync(corpusFile(`${OSX}/Google Photos/Photos from 2019/Tulips.jpg`));
    const up = await uploadBuffer(vault, tulips, { filename: 'Tulips.jpg' });
    assert.equal(up.res.status, 201, up.text);
    await client.putMetadata(up.sha256, {
      captureTime: '2019-04-15T10:00:00.000+02:00',
      captureTimeSource: 'exif_original',
      timeZone: { offsetMinutes: 120, source: 'assumed_local' },
      gps: null,
      camera: { make: 'Apple', model: 'iPhone X' },
      width: 4032,
      height: 3024,
      durationSec: null,
      orientation: 1,
      mime: 'image/jpeg',
    });

    const first = await importTakeout([zip1, zip2]);
    assert.equal(first.uploaded, 12);
    assert.equal(first.alreadyOnVault, 1);
    assert.equal(first.matchedSidecars, 16);
    assert.equal(first.unmatchedSidecars.length, 5);
    assert.deepEqual(first.problems, []);
    const taken = takenTimes(OSX);
    const assets = await allAssets(client);
    assert.equal(assets.length, 13);
    for (const a of assets) {
      const expected = taken.get(a.sha256);
      const m = a.metadata as { captureTime: string };
      if (expected !== undefined) assert.equal(Date.parse(m.captureTime), expected, a.filename);
    }
    assert.deepEqual(
      (await client.albums()).map((a) => [a.name, a.memberCount]),
      [
        ['Adelaide', 1],
        ['Pumpkin Farm', 3],
      ],
    );
    const before2019 = (await client.asset(up.sha256))?.metadata as {
      camera: unknown;
      width: number;
      captureTime: string;
      source: string;
    };
    assert.deepEqual(before2019.camera, { make: 'Apple', model: 'iPhone X' });
    assert.equal(before2019.width, 4032);
    assert.equal(before2019.source, 'takeout');
    assert.equal(Date.parse(before2019.captureTime), taken.get(up.sha256));
    // nothing was written next to the input, and nothing is left staged
    assert.deepEqual(await readdir(input), before);
    const staging = join(tmp.dir, 'data', 'import-staging');
    assert.deepEqual(await readdir(staging).catch(() => []), []);

    const again = await importTakeout([zip2, zip1]);
    assert.equal(again.uploaded, 0);
    assert.equal(again.alreadyOnVault, 13);
    assert.equal((await client.albums()).length, 2);
    // and everything comes back: restore rebuilds every path of the export, byte for byte
    const out = join(tmp.dir, 'restored');
    const restored = await runCli([
      'restore',
      '--to',
      out,
      '--from',
      vault.url,
      '--token',
      vault.token,
      '--data-dir',
      join(tmp.dir, 'restore-data'),
      '--json',
    ]);
    assert.equal(restored.code, 0, describeRun(restored));
    for (const rel of filesUnder(OSX).filter((p) => !/\.(json|html|md)$/.test(p))) {
      assert.deepEqual(
        readFileSync(join(out, 'Google Takeout', rel)),
        readFileSync(join(corpusFile(OSX), rel)),
        rel,
      );
    }
    // and the unpacked folder of the same export is the same library, whichever folder of
    // it is given
    const folder = await importTakeout([corpusFile(OSX)]);
    assert.equal(folder.uploaded, 0);
    const inner = await importTakeout([corpusFile(`${OSX}/Google Photos`)]);
    assert.equal(inner.uploaded, 0);
    assert.equal(inner.placesRegistered, 16);
    const pumpkin = sha256(
      readFileSync(corpusFile(`${OSX}/Google Photos/Pumpkin Farm/Pumkins1.jpg`)),
    );
    assert.equal((await client.locationsOf(pumpkin)).length, 2); // the same places, not new ones
    assert.equal((await client.albums()).length, 2);
  });

  it('multi-part .tgz (GNU and pax tar, as tar writes them): same dates and albums, re-import a no-op', async () => {
    client.close();
    await vault.close();
    vault = await startTestVault();
    client = createVaultClient({ endpoint: vault.url, token: vault.token });
    const input = join(tmp.dir, 'tgz');
    await mkdir(input);
    const root = corpusFile('takeout/osxphotos');
    const all = filesUnder(OSX).map((p) => `Takeout/${p}`);
    const media = all.filter((p) => !/\.(json|html|md)$/.test(p));
    const json = all.filter((p) => /\.(json|html|md)$/.test(p));
    const tgz1 = join(input, 'takeout-20260101T000000Z-001.tgz');
    const tgz2 = join(input, 'takeout-20260101T000000Z-002.tgz');
    for (const [file, names, format] of [
      [tgz1, media, 'gnu'],
      [tgz2, json, 'pax'],
    ] as const) {
      const made = spawnSync('tar', [`--format=${format}`, '-czf', file, '-C', root, ...names]);
      assert.equal(made.status, 0, made.stderr.toString());
    }
    // what an import killed mid-send (kill -9) left staged is cleared by the next import
    const staging = join(tmp.dir, 'data', 'import-staging');
    await mkdir(join(staging, 'run-killed'), { recursive: true });
    await writeFile(join(staging, 'run-killed', 'a'.repeat(64)), randomBytes(4096));
    const first = await importTakeout([tgz1, tgz2]);
    assert.deepEqual(await readdir(staging), []);
    assert.equal(first.uploaded, 13);
    assert.equal(first.matchedSidecars, 16);
    assert.deepEqual(first.problems, []);
    const taken = takenTimes(OSX);
    const assets = await allAssets(client);
    assert.equal(assets.length, 13);
    for (const a of assets) {
      const expected = taken.get(a.sha256);
      const m = a.metadata as { captureTime: string };
      if (expected !== undefined) assert.equal(Date.parse(m.captureTime), expected, a.filename);
    }
    assert.deepEqual(
      (await client.albums()).map((a) => [a.name, a.memberCount]),
      [
        ['Adelaide', 1],
        ['Pumpkin Farm', 3],
      ],
    );
    const again = await importTakeout([tgz2, tgz1]);
    assert.equal(again.uploaded, 0);
    assert.equal((await client.albums()).length, 2);
    assert.deepEqual(await readdir(staging).catch(() => []), []);
  });
});
