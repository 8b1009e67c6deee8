// Names that are not valid UTF-8 (issue 9 item 2, issue 10 "A non-UTF-8 file name survives
// backup and restore byte-exact"): real corpus photos under Latin-1 names ("caf\xe9.jpg", as old
// Windows, Samba and zip archives leave them), two of which show alike ("caf\xe9.jpg" and
// "caf\xe8.jpg" both read "caf\uFFFD.jpg"), and one in a folder so named, are backed up and
// counted, listed by `keepsake files` with replacement characters, registered on the vault with
// their exact bytes, and given back by `keepsake restore` on a fresh machine under the very
// same bytes, content and mtime. Runs `keepsake` as a person does against a real vault.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  utimesSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type BackupSummary,
  describeRun,
  killAllChildren,
  listEngineFiles,
  parseJsonOutput,
  runCli,
  VaultReader,
} from '../support/cli.js';
import { decodeRawName } from '../../main/engine/raw-path.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { spawnVaultProcess, vaultFetch, type VaultProcess } from '../support/vault.js';

const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => Buffer.from(p)));

/** The source tree: exact relative name -> corpus file. */
const tree: [Buffer, string][] = [
  [bytes('caf', [0xe9], '.jpg'), 'osxphotos/wedding.jpg'],
  [bytes('caf', [0xe8], '.jpg'), 'exifr-fixtures/noexif.jpg'],
  [bytes('Fotos ', [0xe9], 't', [0xe9], '/IMG', [0xff], '.jpg'), 'osxphotos/wedding_edited.jpg'],
  [bytes('Fotos ', [0xe9], 't', [0xe9], '/copy of caf', [0xe9], '.jpg'), 'osxphotos/wedding.jpg'],
  [bytes('plain.jpg'), 'exifr-fixtures/cookiezen.jpg'],
  // past the batch limit (8 MiB), so it goes by tus: a JPEG with 9 MiB after its end marker
  [bytes('gro', [0xdf], 'e Datei.jpg'), 'osxphotos/wedding_edited.jpg'],
];
const padded = new Set(['gro\udcdfe Datei.jpg']);

const under = (root: string, rel: Buffer): Buffer => Buffer.concat([Buffer.from(`${root}/`), rel]);

/** hex of each regular file's exact relative path -> [sha256, mtime ms], listed as raw bytes. */
function rawTree(root: Buffer, prefix = Buffer.alloc(0)): Map<string, [string, number]> {
  const out = new Map<string, [string, number]>();
  for (const d of readdirSync(root, { withFileTypes: true, encoding: 'buffer' })) {
    const rel = prefix.length === 0 ? d.name : Buffer.concat([prefix, Buffer.from('/'), d.name]);
    const abs = Buffer.concat([root, Buffer.from('/'), d.name]);
    if (d.isDirectory()) {
      for (const [k, v] of rawTree(abs, rel)) out.set(k, v);
    } else if (d.isFile()) {
      const sha = createHash('sha256').update(readFileSync(abs)).digest('hex');
      out.set(rel.toString('hex'), [sha, Math.trunc(lstatSync(abs).mtimeMs)]);
    }
  }
  return out;
}

describe('names that are not UTF-8', () => {
  let vault: VaultProcess;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;

  before(async () => {
    temp = await makeTempDir('keepsake-names-');
    vault = await spawnVaultProcess({ dataDir: join(temp.dir, 'vault') });
  });
  after(async () => {
    await killAllChildren();
    await vault?.stop();
    await temp?.cleanup();
  });

  it('a photo whose name is not UTF-8 is backed up, listed with U+FFFD, and restored under its exact bytes', async () => {
    const photos = join(temp.dir, 'src', 'Photos');
    tree.forEach(([rel, from], i) => {
      const target = under(photos, rel);
      mkdirSync(target.subarray(0, target.lastIndexOf(0x2f)), { recursive: true });
      copyFileSync(corpusFile(from), target);
      if (padded.has(decodeRawName(rel))) appendFileSync(target, Buffer.alloc(9 << 20, 0x5a));
      const t = new Date(Date.UTC(2021, 0, 1 + i, 12, 0, 0));
      utimesSync(target, t, t);
    });
    const original = rawTree(Buffer.from(photos));
    assert.equal(original.size, tree.length, 'this filesystem keeps names that are not UTF-8');

    const dataDir = join(temp.dir, 'data');
    const backup = await runCli([
      'backup',
      photos,
      '--to',
      vault.url,
      '--token',
      vault.token,
      '--data-dir',
      dataDir,
      '--json',
    ]);
    assert.equal(backup.code, 0, describeRun(backup));
    const summary = parseJsonOutput<BackupSummary>(backup);
    assert.equal(summary.files, tree.length, describeRun(backup));
    assert.equal(summary.failed, 0);
    assert.equal(summary.backedUp + summary.duplicates, tree.length);
    assert.equal(summary.duplicates, 1); // the copy in the Latin-1 folder
    // what a person reads (summary, logs) shows U+FFFD, never an escape of the engine's own
    assert.ok(!/\\ud[c-f]/i.test(backup.stdout + backup.stderr), describeRun(backup));

    // The engine knows each by its exact name, and read the photo's own date from it.
    const rows = await listEngineFiles(dataDir);
    const wedding = rows.find((r) => r.relPath === 'caf\udce9.jpg');
    assert.ok(wedding, `rows: ${rows.map((r) => JSON.stringify(r.relPath)).join(', ')}`);
    assert.match(wedding.captureTime ?? '', /^2019-04-15T14:40:24/);
    // its metadata reached the vault, with a path a person can read
    const asset = await new VaultReader(vault.url, vault.token).getAsset(wedding.sha256 ?? '');
    const sent = asset?.metadata as { captureTimeSource?: string; originalPath?: string } | null;
    assert.equal(sent?.captureTimeSource, 'exif_original', JSON.stringify(asset));
    assert.ok(sent?.originalPath?.includes('\uFFFD'), JSON.stringify(asset));
    assert.ok(!/\p{Cs}/u.test(sent?.originalPath ?? ''), JSON.stringify(asset));

    // `keepsake files`: U+FFFD where a byte is not UTF-8; --json adds the exact bytes.
    const human = await runCli(['files', '--data-dir', dataDir]);
    assert.equal(human.code, 0, describeRun(human));
    const shown = human.stdout.split('\n').filter((l) => l.includes('caf\uFFFD.jpg'));
    assert.equal(shown.length, 3, human.stdout); // caf\xe9, caf\xe8 and the copy
    assert.ok(human.stdout.includes(`Fotos \uFFFDt\uFFFD/IMG\uFFFD.jpg`), human.stdout);
    const listed = await runCli(['files', '--data-dir', dataDir, '--json']);
    assert.equal(listed.code, 0, describeRun(listed));
    const lines = listed.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { path: string; state: string; pathB64?: string });
    assert.equal(lines.length, tree.length);
    for (const [rel] of tree) {
      const abs = under(photos, rel);
      const line = lines.find((l) => (l.pathB64 ?? '') === abs.toString('base64'));
      if (rel.toString('utf8') === 'plain.jpg') continue;
      assert.ok(line, `no line with the exact bytes of ${abs.toString('hex')}`);
      assert.ok(line.path.includes('\uFFFD') && !/\p{Cs}/u.test(line.path), line.path);
      assert.ok(['backed_up', 'duplicate'].includes(line.state), line.state);
    }

    // The vault holds every place with its exact bytes.
    const places = (await (await vaultFetch(vault, '/api/v1/locations?limit=1000')).json()) as {
      locations: { folder: string; pathB64: string }[];
    };
    assert.deepEqual(
      places.locations.map((l) => Buffer.from(l.pathB64, 'base64').toString('hex')).sort(),
      [...original.keys()].sort(),
    );

    // The computer is lost; a fresh one restores from the vault alone.
    await rm(dataDir, { recursive: true, force: true });
    await rm(join(temp.dir, 'src'), { recursive: true, force: true });
    const out = join(temp.dir, 'restored');
    const restore = await runCli([
      'restore',
      '--to',
      out,
      '--from',
      vault.url,
      '--token',
      vault.token,
      '--data-dir',
      join(temp.dir, 'fresh-data'),
      '--json',
    ]);
    assert.equal(restore.code, 0, describeRun(restore));
    const restored = parseJsonOutput<{ files: number; restored: number; failed: number }>(restore);
    assert.equal(restored.files, tree.length);
    assert.equal(restored.restored, tree.length);
    assert.equal(restored.failed, 0);
    assert.deepEqual(
      rawTree(Buffer.from(join(out, 'Photos'))),
      original,
      'every name back byte for byte, with its content and mtime',
    );

    // A second restore finds each file there under its exact name and downloads nothing.
    const again = await runCli([
      'restore',
      '--to',
      out,
      '--from',
      vault.url,
      '--token',
      vault.token,
      '--data-dir',
      join(temp.dir, 'fresh-data'),
      '--json',
    ]);
    assert.equal(again.code, 0, describeRun(again));
    const second = parseJsonOutput<{ restored: number; skipped: number; bytesDownloaded: number }>(
      again,
    );
    assert.deepEqual(
      { restored: second.restored, skipped: second.skipped, bytes: second.bytesDownloaded },
      { restored: 0, skipped: tree.length, bytes: 0 },
    );
    assert.equal(rawTree(Buffer.from(join(out, 'Photos'))).size, tree.length, 'no extra copies');
  });
});
