// Everything comes back (issue 10 tests; DESIGN.md promise 3): a real corpus folder with
// duplicate files and album copies is backed up, the computer is "lost" (data directory and
// source deleted), and `keepsake restore` with only the vault URL and token rebuilds every
// path byte-identical with its mtime. A second restore downloads nothing; a restore never
// replaces a different file; the folders as they were before a deletion come back with --at;
// and with no flags at all, the data directory's embedded vault is the one restored from.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  describeRun,
  killAllChildren,
  parseJsonOutput,
  runCli,
  type CliResult,
} from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { snapshotTree } from '../support/snapshot.js';
import { spawnVaultProcess, vaultFetch, type VaultProcess } from '../support/vault.js';

interface RestoreJson {
  files: number;
  restored: number;
  skipped: number;
  failed: number;
  bytesDownloaded: number;
  seconds: number;
}

/** label/path -> [sha256, mtime ms] of every regular file under `root` (the folder labels). */
async function contents(root: string): Promise<Map<string, [string | null, number]>> {
  const snap = await snapshotTree(root, { hash: true });
  const out = new Map<string, [string | null, number]>();
  for (const e of snap.values()) {
    if (e.kind === 'file') out.set(e.relPath, [e.sha256, e.mtimeMs]);
  }
  return out;
}

/** Copies corpus files into `root` (relative target -> corpus path), each with its own mtime. */
async function buildSource(root: string, files: Record<string, string>): Promise<void> {
  let i = 0;
  for (const [rel, from] of Object.entries(files)) {
    const target = join(root, rel);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(corpusFile(from), target);
    const t = new Date(Date.UTC(2019, 0, 1 + i++, 12, 0, 0));
    await utimes(target, t, t);
  }
}

function restoreJson(r: CliResult): RestoreJson {
  assert.equal(r.code, 0, describeRun(r));
  return parseJsonOutput<RestoreJson>(r);
}

describe('restore: disaster recovery', () => {
  let vault: VaultProcess;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;

  before(async () => {
    temp = await makeTempDir('keepsake-restore-');
    // A vault of its own, as the one a lost laptop backed up to would be.
    vault = await spawnVaultProcess({ dataDir: join(temp.dir, 'vault') });
  });
  after(async () => {
    await killAllChildren();
    await vault?.stop();
    await temp?.cleanup();
  });

  it('a lost computer gets every path back, byte-identical with its mtime, from the vault URL and token alone', async () => {
    const src = join(temp.dir, 'src');
    const dataDir = join(temp.dir, 'data');
    await buildSource(join(src, 'Photos'), {
      '2019/IMG_1853.HEIC': 'osxphotos/IMG_1853.HEIC',
      '2019/IMG_1853.AAE': 'osxphotos/IMG_1853.AAE',
      '2019/wedding.jpg': 'osxphotos/wedding.jpg',
      '2019/wedding_edited.jpg': 'osxphotos/wedding_edited.jpg',
      '2019/cookiezen.jpg': 'exifr-fixtures/cookiezen.jpg',
      '2019/cookiezen.xmp': 'exifr-fixtures/cookiezen.xmp',
      // duplicates: the same bytes under other names
      '2019/IMG_1853 copy.HEIC': 'osxphotos/IMG_1853.HEIC',
      '2019/backup/cookiezen.jpg': 'exifr-fixtures/cookiezen.jpg',
      // album copies
      'Albums/Wedding/wedding.jpg': 'osxphotos/wedding.jpg',
      'Albums/Wedding/wedding_edited.jpg': 'osxphotos/wedding_edited.jpg',
      'Albums/Best of 2019/IMG_1853.HEIC': 'osxphotos/IMG_1853.HEIC',
      // deleted before the disaster: gone now, still in the history
      '2019/deleted later.jpg': 'exifr-fixtures/issue-exifr-4.jpg',
    });
    await buildSource(join(src, 'Phone'), {
      'DCIM/100APPLE/heic-single.heic': 'exifr-fixtures/heic-single.heic',
      'DCIM/100APPLE/noexif.jpg': 'exifr-fixtures/noexif.jpg',
      'DCIM/100APPLE/wedding.jpg': 'osxphotos/wedding.jpg',
    });
    const backup = (args: string[] = []) =>
      runCli([
        'backup',
        join(src, 'Photos'),
        join(src, 'Phone'),
        '--to',
        vault.url,
        '--token',
        vault.token,
        '--data-dir',
        dataDir,
        '--json',
        ...args,
      ]);
    const first = await backup();
    assert.equal(first.code, 0, describeRun(first));
    const beforeDelete = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    await rm(join(src, 'Photos/2019/deleted later.jpg'));
    const second = await backup();
    assert.equal(second.code, 0, describeRun(second));

    // Every file's place is on the vault; the deleted one only in the history.
    const original = await contents(src);
    const live = (await (await vaultFetch(vault, '/api/v1/locations?limit=1000')).json()) as {
      locations: { folder: string; path: string }[];
    };
    assert.deepEqual(
      live.locations.map((l) => `${l.folder}/${l.path}`).sort(),
      [...original.keys()].sort(),
    );

    // The disaster: the computer's data directory and the photos are gone.
    await rm(dataDir, { recursive: true, force: true });
    await rm(src, { recursive: true, force: true });

    const out = join(temp.dir, 'restored');
    const fresh = join(temp.dir, 'fresh-data');
    const restore = (to: string, extra: string[] = []) =>
      runCli([
        'restore',
        '--to',
        to,
        '--from',
        vault.url,
        '--token',
        vault.token,
        '--data-dir',
        fresh,
        '--json',
        ...extra,
      ]);
    const restored = restoreJson(await restore(out));
    assert.equal(restored.files, original.size);
    assert.equal(restored.restored, original.size);
    assert.equal(restored.failed, 0);
    assert.deepEqual(await contents(out), original, 'every path back, same bytes, same mtime');
    // Duplicates and album copies were downloaded once each.
    const distinct = new Map([...original.values()].map(([sha]) => [sha, true]));
    assert.ok(distinct.size < original.size);

    // A second run finds everything there and downloads nothing.
    const again = restoreJson(await restore(out));
    assert.deepEqual(
      { restored: again.restored, skipped: again.skipped, bytes: again.bytesDownloaded },
      { restored: 0, skipped: original.size, bytes: 0 },
    );

    // A different file where a restored one goes is never replaced: both are kept.
    const mine = Buffer.from('my own notes, not a photo');
    await writeFile(join(out, 'Photos/2019/wedding.jpg'), mine);
    await rm(join(out, 'Phone/DCIM/100APPLE/noexif.jpg'));
    const third = restoreJson(await restore(out));
    assert.equal(third.restored, 2);
    assert.ok((await readFile(join(out, 'Photos/2019/wedding.jpg'))).equals(mine));
    const kept = await contents(out);
    assert.deepEqual(
      kept.get('Photos/2019/wedding (restored).jpg'),
      original.get('Photos/2019/wedding.jpg'),
    );
    assert.deepEqual(
      kept.get('Phone/DCIM/100APPLE/noexif.jpg'),
      original.get('Phone/DCIM/100APPLE/noexif.jpg'),
    );
    const fourth = restoreJson(await restore(out));
    assert.equal(fourth.restored, 0);
    assert.equal(fourth.bytesDownloaded, 0);

    // The folder as it was before the deletion, one subfolder of it.
    const past = join(temp.dir, 'past');
    const then = restoreJson(
      await restore(past, [
        '--at',
        new Date(beforeDelete).toISOString(),
        '--folder',
        'Photos',
        '--path',
        '2019/*',
      ]),
    );
    const pastFiles = await contents(past);
    assert.equal(then.restored, pastFiles.size);
    assert.ok(pastFiles.has('Photos/2019/deleted later.jpg'));
    assert.ok(!pastFiles.has('Photos/2019/backup/cookiezen.jpg'), '--path 2019/* is one level');
    assert.ok(![...pastFiles.keys()].some((p) => p.startsWith('Phone/')));
  });

  it('with no vault flags, restore uses the data directory’s embedded vault', async () => {
    const src = join(temp.dir, 'embedded-src');
    const dataDir = join(temp.dir, 'embedded-data');
    await buildSource(join(src, 'Camera'), {
      'a.jpg': 'exifr-fixtures/cookiezen.jpg',
      'sub/b.heic': 'exifr-fixtures/heic-single.heic',
      'sub/a copy.jpg': 'exifr-fixtures/cookiezen.jpg',
    });
    const b = await runCli(['backup', join(src, 'Camera'), '--data-dir', dataDir, '--json']);
    assert.equal(b.code, 0, describeRun(b));
    const out = join(temp.dir, 'embedded-out');
    const r = restoreJson(await runCli(['restore', '--to', out, '--data-dir', dataDir, '--json']));
    assert.equal(r.restored, 3);
    assert.deepEqual(await contents(out), await contents(src));
    assert.ok((await stat(join(out, 'Camera/sub/a copy.jpg'))).isFile());
  });
});
