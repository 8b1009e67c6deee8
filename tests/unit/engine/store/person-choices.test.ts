// The person's choices (watched folders with their rules, the settings they set) outlive a
// database set aside as damaged: from DATA-DIR/choices.json, else salvaged from the set-aside
// file, else the rebuild says they are lost. Real SQLite files, damaged page by page. See
// [Note: Choices outlive a rebuilt database].
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { databasePath } from '../../../../main/engine/data-dir.js';
import { silentLogger, systemClock } from '../../../../main/engine/ports.js';
import { openDataDir } from '../../../../main/engine/runtime/recovery.js';
import { choicesFileName, saveChoices } from '../../../../main/engine/store/person-choices.js';
import { damageTable } from '../../../support/damage-db.js';
import { makeTempDir } from '../../../support/paths.js';
import { mountSmallDisk } from '../../../support/small-disk.js';

/** A data directory whose person chose two folders (one with rules) and two settings. */
async function chosen(dataDir: string): Promise<void> {
  const { lock, store } = await openDataDir(dataDir, systemClock, silentLogger);
  try {
    store.addFolder('/photos/camera', [], []);
    const phone = store.addFolder('/photos/phone', [], []);
    store.setFolderRules(phone.id, ['**/*.jpg'], ['screenshots/**']);
    store.setSetting('bandwidthLimit', '4M');
    store.setSetting('deviceName', 'kitchen laptop');
    store.setSetting('engine.vaultIdentity', 'embedded'); // a cache, not a choice
    store.commit();
  } finally {
    store.close();
    lock.release();
  }
}

/** Opens the data directory again (setting a damaged database aside) and reads what it holds. */
async function reopened(dataDir: string) {
  const { lock, store } = await openDataDir(dataDir, systemClock, silentLogger);
  try {
    return {
      folders: store
        .listFolders()
        .map((f) => ({ path: f.path, include: f.include, exclude: f.exclude })),
      settings: Object.fromEntries(store.userSettings()),
      activity: store.listActivity(10).map((a) => a.message),
    };
  } finally {
    store.close();
    lock.release();
  }
}

const expectedFolders = [
  { path: '/photos/camera', include: [], exclude: [] },
  { path: '/photos/phone', include: ['**/*.jpg'], exclude: ['screenshots/**'] },
];

describe('choices outlive a rebuilt database', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await makeTempDir('keepsake-choices-'));
  });
  after(() => cleanup());

  it('keeps a copy beside the database that follows every change', async () => {
    const dataDir = join(dir, 'copy');
    await chosen(dataDir);
    const copy = JSON.parse(readFileSync(join(dataDir, choicesFileName), 'utf8')) as {
      folders: unknown;
      settings: Record<string, unknown>;
    };
    assert.deepEqual(copy.folders, expectedFolders);
    assert.deepEqual(copy.settings, { bandwidthLimit: '4M', deviceName: 'kitchen laptop' });
  });

  it('gets them back from the copy when the folders and settings pages themselves are damaged', async () => {
    const dataDir = join(dir, 'pages');
    await chosen(dataDir);
    damageTable(databasePath(dataDir), 'folders');
    const got = await reopened(dataDir);
    assert.deepEqual(got.folders, expectedFolders);
    assert.equal(got.settings.bandwidthLimit, '4M');
    assert.equal(got.settings.deviceName, 'kitchen laptop');
    assert.equal(got.settings['engine.vaultIdentity'], undefined);
    assert.match(
      got.activity.join('\n'),
      /set aside .* Your 2 watched folders and 2 settings were kept/,
    );
  });

  it('salvages them from the set-aside database when there is no copy and their pages read', async () => {
    const dataDir = join(dir, 'salvage');
    await chosen(dataDir);
    rmSync(join(dataDir, choicesFileName)); // as left by a Keepsake from before the copy
    damageTable(databasePath(dataDir), 'files');
    const got = await reopened(dataDir);
    assert.deepEqual(got.folders, expectedFolders);
    assert.equal(got.settings.bandwidthLimit, '4M');
  });

  it('keeps the cards ticked "always import" and the import folder, not the cache of what was seen', async () => {
    const dataDir = join(dir, 'cards');
    await chosen(dataDir);
    const { lock, store } = await openDataDir(dataDir, systemClock, silentLogger);
    try {
      store.setSetting('deviceImport.always', ['uuid:3A1F-09BC']);
      store.setSetting('deviceImport.into', '/home/alice/Pictures');
      store.setSetting('deviceImport.seen.uuid:3A1F-09BC', ['DCIM/100CANON/IMG_0001.JPG\t1\t2']);
      store.commit();
    } finally {
      store.close();
      lock.release();
    }
    damageTable(databasePath(dataDir), 'folders');
    const got = await reopened(dataDir);
    assert.deepEqual(got.settings['deviceImport.always'], ['uuid:3A1F-09BC']);
    assert.equal(got.settings['deviceImport.into'], '/home/alice/Pictures');
    assert.equal(got.settings['deviceImport.seen.uuid:3A1F-09BC'], undefined);
  });

  it('a full disk leaves the copy as it was and no half-written file beside it', async (t) => {
    const disk = await mountSmallDisk(1);
    if ('skip' in disk) return t.skip(disk.skip);
    const dataDir = join(dir, 'full');
    await chosen(dataDir);
    const { lock, store } = await openDataDir(dataDir, systemClock, silentLogger);
    try {
      const before = readFileSync(join(dataDir, choicesFileName), 'utf8');
      saveChoices(disk.dir, store);
      const kept = readFileSync(join(disk.dir, choicesFileName), 'utf8');
      assert.equal(kept, before);
      try {
        writeFileSync(join(disk.dir, 'filler'), Buffer.alloc(2 * 1024 * 1024));
      } catch {
        // filled: the tmpfs refuses the rest
      }
      store.setSetting('bandwidthLimit', '8M');
      assert.throws(() => saveChoices(disk.dir, store), /ENOSPC/);
      assert.equal(readFileSync(join(disk.dir, choicesFileName), 'utf8'), kept);
      assert.deepEqual(
        readdirSync(disk.dir).filter((n) => n.endsWith('.tmp')),
        [],
      );
    } finally {
      store.close();
      lock.release();
      await disk.unmount();
    }
  });

  it('says they are lost when neither the copy nor the damaged database has them', async () => {
    const dataDir = join(dir, 'lost');
    await chosen(dataDir);
    rmSync(join(dataDir, choicesFileName));
    damageTable(databasePath(dataDir), 'folders');
    const got = await reopened(dataDir);
    assert.deepEqual(got.folders, []);
    assert.match(got.activity.join('\n'), /could not be recovered: add your folders again/);
  });
});
