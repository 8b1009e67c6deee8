// Removing a watched folder forgets its files here, but never leaves the vault believing they
// are still on this computer: their places are marked gone there (issue 10 section 1), even
// when the vault was down at the moment of the removal (the tombstones wait in the data
// directory for the next run), and nothing is deleted from the vault.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { VaultReader, describeRun, killAllChildren, openEngine, runCli } from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import { copyCorpusFiles } from '../support/tree.js';
import { startTestVault, vaultFetch, type TestVault } from '../support/vault.js';

interface LocationPage {
  locations: { sha256: string; folder: string; path: string; goneAt: number | null }[];
}

describe('removing a watched folder', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let vault: TestVault | null = null;
  after(async () => {
    await killAllChildren();
    await vault?.close();
    for (const c of cleanups.reverse()) await c();
  });

  it("marks its files' places gone on the vault, even when the vault was down then, and deletes nothing there", async () => {
    const temp = await makeTempDir('keepsake-remove-folder-');
    cleanups.push(temp.cleanup);
    const vaultDir = join(temp.dir, 'vault');
    const dataDir = join(temp.dir, 'data');
    vault = await startTestVault({ dataDir: vaultDir });
    const kept = await copyCorpusFiles(join(temp.dir, 'Photos'), [
      { corpus: 'ianare-exif-samples/jpg/gps/DSCN0010.jpg', dest: 'DSCN0010.jpg' },
    ]);
    const removed = await copyCorpusFiles(join(temp.dir, 'Phone'), [
      { corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg', dest: 'a/S40.jpg' },
      { corpus: 'exifr-fixtures/noexif.jpg', dest: 'noexif.jpg' },
    ]);
    const backup = (...folders: string[]) =>
      runCli([
        'backup',
        ...folders.map((f) => join(temp.dir, f)),
        '--to',
        vault!.url,
        '--token',
        vault!.token,
        '--data-dir',
        dataDir,
        '--json',
      ]);
    const first = await backup('Photos', 'Phone');
    assert.equal(first.code, 0, describeRun(first));
    const live = async (): Promise<LocationPage['locations']> => {
      const res = await vaultFetch(vault!, '/api/v1/locations?limit=1000&includeGone=1');
      return ((await res.json()) as LocationPage).locations;
    };
    const registered = await live();
    assert.deepEqual(
      registered
        .filter((l) => l.goneAt === null)
        .map((l) => `${l.folder}/${l.path}`)
        .sort(),
      ['Phone/a/S40.jpg', 'Phone/noexif.jpg', 'Photos/DSCN0010.jpg'],
    );

    // The vault is down when the person removes the folder.
    const { url, token } = vault;
    const port = Number(new URL(url).port);
    await vault.close();
    vault = null;
    const engine = await openEngine(dataDir, { url, token }, { reconcileIntervalMs: 0 });
    try {
      await engine.start();
      const phone = (await engine.api['folders.list']({})).find((f) => f.path.endsWith('/Phone'));
      assert.ok(phone);
      await engine.api['folders.remove']({ id: phone.id });
      assert.equal((await engine.api['folders.list']({})).length, 1, 'forgotten here at once');
    } finally {
      await engine.close();
    }

    // The vault is back; the next run tells it, whatever folders it backs up.
    vault = await startTestVault({ dataDir: vaultDir, port, token });
    const second = await backup('Photos');
    assert.equal(second.code, 0, describeRun(second));
    const after = await live();
    const byPlace = new Map(after.map((l) => [`${l.folder}/${l.path}`, l]));
    for (const place of ['Phone/a/S40.jpg', 'Phone/noexif.jpg']) {
      assert.notEqual(byPlace.get(place)?.goneAt ?? null, null, `${place} is marked gone`);
    }
    assert.equal(byPlace.get('Photos/DSCN0010.jpg')?.goneAt, null, 'the kept folder stays live');
    // nothing is deleted from the vault
    const reader = new VaultReader(vault.url, vault.token);
    const held = await reader.check([...kept, ...removed].map((f) => f.sha256));
    for (const f of [...kept, ...removed]) assert.ok(held.has(f.sha256), `${f.relPath} stays`);
  });
});
