// The Restore page's commands on a running engine (the contract the desktop app and the web
// UI call): the vault's devices, a preview of a selection, and a restore started in the
// background whose progress restore.state reports, ending with the files back in place.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KeepsakeEngine } from '../../main/engine/api.js';
import { openEngine, waitFor } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, type TestVault } from '../support/vault.js';

describe('restore from the app', () => {
  let vault: TestVault;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let engine: KeepsakeEngine;

  before(async () => {
    temp = await makeTempDir('keepsake-restore-app-');
    vault = await startTestVault();
  });
  after(async () => {
    await engine?.close();
    await vault?.close();
    await temp?.cleanup();
  });

  it('previews a selection by folder and path, then restores it with progress', async () => {
    const src = join(temp.dir, 'Pictures');
    await mkdir(join(src, '2019'), { recursive: true });
    await mkdir(join(src, '2020'), { recursive: true });
    const t = new Date('2019-06-01T12:00:00Z');
    for (const [rel, from] of [
      ['2019/cookie.jpg', 'exifr-fixtures/cookiezen.jpg'],
      ['2019/cookie copy.jpg', 'exifr-fixtures/cookiezen.jpg'],
      ['2020/wedding.jpg', 'osxphotos/wedding.jpg'],
    ] as const) {
      await copyFile(corpusFile(from), join(src, rel));
      await utimes(join(src, rel), t, t);
    }
    engine = (await openEngine(join(temp.dir, 'data'), vault, {
      createWatcher: null,
      settleMs: 0,
      metadataReader: null,
    })) as KeepsakeEngine;
    await engine.api['folders.add']({ path: src });
    await engine.api['settings.set']({ key: 'deviceName', value: 'Ada’s laptop' });
    await engine.start();
    await engine.whenSettled(AbortSignal.timeout(60_000));
    await engine.whenLocationsSent(AbortSignal.timeout(60_000));

    const devices = await engine.api['restore.devices']({});
    assert.deepEqual(
      devices.map((d) => d.deviceName),
      ['Ada’s laptop'],
    );
    const all = await engine.api['restore.preview']({});
    assert.equal(all.files, 3);
    const some = await engine.api['restore.preview']({ folder: 'Pictures', path: '2019/*' });
    assert.deepEqual(some.items.map((i) => i.path).sort(), [
      '2019/cookie copy.jpg',
      '2019/cookie.jpg',
    ]);

    const to = join(temp.dir, 'Restored');
    await engine.api['restore.start']({ to, device: devices[0]!.deviceId });
    const done = await waitFor(
      async () => {
        const s = await engine.api['restore.state']({});
        return s.running ? null : s;
      },
      { what: 'the restore to finish', timeoutMs: 60_000 },
    );
    assert.equal(done.error, null);
    assert.equal(done.result?.restored, 3);
    assert.equal(done.filesDone, 3);
    for (const rel of ['2019/cookie.jpg', '2019/cookie copy.jpg', '2020/wedding.jpg']) {
      assert.ok(
        (await readFile(join(to, 'Pictures', rel))).equals(await readFile(join(src, rel))),
        rel,
      );
    }
  });
});
