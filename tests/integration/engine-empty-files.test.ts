// Acceptance test of issue 9 item 6, empty files: a photo of 0 bytes is backed up but shown as a
// problem, and a photo that was backed up and is now empty is possible damage, told in every
// place a person looks (backup --json and its exit code, status, files), while its earlier
// version stays on the vault, at its place (the vault is never told that version is gone).
// Runs `keepsake` as a person does, against a real vault on loopback, with a real corpus JPEG.
import assert from 'node:assert/strict';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type BackupSummary,
  VaultReader,
  describeRun,
  killAllChildren,
  parseJsonOutput,
  runCli,
} from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { copyCorpusFiles, sha256Of } from '../support/tree.js';
import { startTestVault, vaultFetch } from '../support/vault.js';

type TestVault = Awaited<ReturnType<typeof startTestVault>>;

interface Summary extends BackupSummary {
  problems: { path: string; code: string; reason: string }[];
}

interface StatusReport {
  emptyFiles: { path: string; code: string; message: string }[];
}

interface Listed {
  path: string;
  state: string;
  reason: string | null;
}

interface LocationPage {
  locations: { sha256: string; folder: string; path: string; goneAt: number | null }[];
}

const emptySha = sha256Of(Buffer.alloc(0));

describe('empty photos are backed up and shown as problems', () => {
  let vault: TestVault;
  let reader: VaultReader;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    vault = await startTestVault();
    reader = new VaultReader(vault.url, vault.token);
  });
  after(async () => {
    await killAllChildren();
    await vault?.close();
    for (const c of cleanups.reverse()) await c();
  });

  const corpusJpeg = 'ianare-exif-samples/jpg/gps/DSCN0010.jpg';

  it('a fresh 0-byte photo is "an empty file", and a backed-up photo truncated to 0 bytes warns of possible damage while its earlier version stays on the vault at its place', async () => {
    const src = await makeTempDir('keepsake-src-');
    const data = await makeTempDir('keepsake-data-');
    cleanups.push(src.cleanup, data.cleanup);
    const [photo] = await copyCorpusFiles(src.dir, [{ corpus: corpusJpeg, dest: 'DSCN0010.jpg' }]);
    assert.ok(photo);
    const empty = join(src.dir, 'empty.jpg');
    await writeFile(empty, Buffer.alloc(0));
    const backup = () =>
      runCli([
        'backup',
        src.dir,
        '--to',
        vault.url,
        '--token',
        vault.token,
        '--data-dir',
        data.dir,
        '--json',
      ]);

    // 1. The fresh empty photo is backed up, and is a problem (exit 1, as for any problem).
    const first = await backup();
    assert.equal(first.code, 1, `an empty photo is a problem: ${describeRun(first)}`);
    const s1 = parseJsonOutput<Summary>(first);
    assert.equal(s1.backedUp + s1.duplicates, 2, JSON.stringify(s1));
    assert.equal(s1.failed, 0);
    assert.deepEqual(s1.problems, [
      { path: empty, code: 'empty_file', reason: 'this photo is an empty file' },
    ]);
    const held = await reader.check([photo.sha256, emptySha]);
    assert.ok(held.has(photo.sha256) && held.has(emptySha), 'both are on the vault');

    // 2. The backed-up photo becomes 0 bytes (a bad card, a crashed editor).
    await truncate(photo.path, 0);
    const second = await backup();
    assert.equal(second.code, 1, describeRun(second));
    const s2 = parseJsonOutput<Summary>(second);
    const damage = `possible damage: this photo was backed up with ${photo.size.toLocaleString('en-US')} bytes and is now empty; the earlier version stays on the vault`;
    assert.deepEqual(
      [...s2.problems].sort((a, b) => a.path.localeCompare(b.path)),
      [
        { path: photo.path, code: 'possible_damage', reason: damage },
        { path: empty, code: 'empty_file', reason: 'this photo is an empty file' },
      ].sort((a, b) => a.path.localeCompare(b.path)),
    );
    // the earlier version is still on the vault...
    assert.ok((await reader.check([photo.sha256])).has(photo.sha256));
    const original = await readFile(corpusFile(corpusJpeg));
    assert.ok((await reader.content(photo.sha256)).equals(original), 'byte for byte');
    // ...and still live at the photo's place: the empty content never replaced it
    const page = (await (
      await vaultFetch(vault, '/api/v1/locations?limit=1000&includeGone=1')
    ).json()) as LocationPage;
    const atPlace = page.locations.filter((l) => l.path === basename(photo.path));
    assert.ok(atPlace.length >= 1, JSON.stringify(page));
    for (const l of atPlace) {
      assert.equal(
        l.sha256,
        photo.sha256,
        `only the earlier version is at its place: ${JSON.stringify(l)}`,
      );
      assert.equal(l.goneAt, null, 'never marked gone');
    }

    // 3. `keepsake status` names both, in words and in --json.
    const status = await runCli(['status', '--data-dir', data.dir, '--json']);
    assert.equal(status.code, 0, describeRun(status));
    const report = parseJsonOutput<StatusReport>(status);
    assert.deepEqual(
      report.emptyFiles.map((f) => [f.path, f.code, f.message]).sort(),
      [
        [photo.path, 'possible_damage', damage],
        [empty, 'empty_file', 'this photo is an empty file'],
      ].sort(),
    );
    const human = await runCli(['status', '--data-dir', data.dir]);
    assert.ok(human.stdout.includes(`problem ${photo.path}: ${damage}`), human.stdout);

    // 4. `keepsake files` gives the same reasons.
    const listed = await runCli(['files', '--data-dir', data.dir, '--json']);
    assert.equal(listed.code, 0, describeRun(listed));
    const lines = listed.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Listed);
    assert.equal(lines.find((l) => l.path === photo.path)?.reason, damage);
    assert.equal(lines.find((l) => l.path === empty)?.reason, 'this photo is an empty file');

    // 5. The person puts the photo back (from the vault) and fills the empty one: no problem
    // is left, and the photo's place is registered as before.
    await writeFile(photo.path, original);
    await writeFile(empty, original);
    const third = await backup();
    assert.equal(third.code, 0, describeRun(third));
    assert.deepEqual(parseJsonOutput<Summary>(third).problems, []);
  });
});
