// The daemon's card offer (issue 12 section 4), with the engine in-process against a real vault
// on loopback and a real mount: a card bind-mounted read-only under a temp "media" root, which
// the engine watches through /proc/self/mountinfo exactly as it watches /media. What a person
// relies on: an inserted card is offered with how many new photos it holds, nothing is copied
// before they say yes, the import then copies, backs up and calls the card safe to erase, and a
// card they ticked "always import" is imported at its next insertion without asking.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeviceOffer } from '../../common/contract.js';
import type { Engine } from '../../main/engine/api.js';
import { createLinuxVolumeSource } from '../../main/engine/import/device/volumes.js';
import { systemClock } from '../../main/engine/ports.js';
import { bindMountReadOnly, type MountedCard } from '../support/card-image.js';
import { openEngine, waitFor } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, type TestVault } from '../support/vault.js';

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((p) => statSync(join(dir, p)).isFile())
    .sort();
}

describe('a card inserted while the daemon runs', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let vault: TestVault;
  let engine: Engine | null = null;
  let card: MountedCard | null = null;
  let content: string;
  let media: string;
  let into: string;
  let skip: string | null = null;

  before(async () => {
    tmp = await makeTempDir('keepsake-card-offer-');
    vault = await startTestVault();
    content = join(tmp.dir, 'content');
    media = join(tmp.dir, 'media');
    into = join(tmp.dir, 'Pictures');
    mkdirSync(join(content, 'DCIM/100CANON'), { recursive: true });
    mkdirSync(join(media, 'alice'), { recursive: true });
    copyFileSync(
      corpusFile('ianare-exif-samples/jpg/Canon_40D.jpg'),
      join(content, 'DCIM/100CANON/IMG_0001.JPG'),
    );
    copyFileSync(
      corpusFile('ianare-exif-samples/jpg/Sony_HDR-HC3.jpg'),
      join(content, 'DCIM/100CANON/IMG_0002.JPG'),
    );
    engine = await openEngine(join(tmp.dir, 'data'), vault, {
      createWatcher: null,
      settleMs: 100,
      devices: {
        source: createLinuxVolumeSource({
          clock: systemClock,
          roots: [media],
          pollMs: 50,
          udisksctl: null, // as on a machine without udisks2 (this one, and CI)
        }),
        defaultInto: into,
      },
    });
    await engine.start();
  });
  after(async () => {
    await engine?.close();
    await card?.unmount();
    await vault?.close();
    await tmp?.cleanup();
  });

  const offer = async (state?: DeviceOffer['state']) =>
    waitFor(
      async () =>
        (await engine!.api['devices.list']({})).find(
          (o) => o.label === 'EOS_DIGITAL' && (state === undefined || o.state === state),
        ),
      { timeoutMs: 60_000, what: `the EOS_DIGITAL offer${state ? ` (${state})` : ''}` },
    );

  it('is offered with its new photos, and nothing is copied before the person says yes', async (t) => {
    const mounted = bindMountReadOnly(content, join(media, 'alice/EOS_DIGITAL'));
    if ('skip' in mounted) {
      skip = mounted.skip;
      t.skip(skip);
      return;
    }
    card = mounted;
    const offered = await offer('offered');
    assert.equal(offered.newFiles, 2);
    assert.equal(offered.totalFiles, 2);
    assert.ok(offered.newBytes > 0);
    assert.equal(offered.alwaysImport, false);
    assert.equal(offered.into, into);
    assert.deepEqual(files(into), [], 'nothing imported without consent');
  });

  it('on consent, copies by capture date, backs up, and calls the card safe to erase', async (t) => {
    if (skip !== null) return t.skip(skip);
    const offered = await offer('offered');
    await engine!.api['devices.import']({ id: offered.id, always: true });
    const done = await offer('done');
    assert.deepEqual(done.result, {
      found: 2,
      imported: 2,
      alreadyOnVault: 0,
      failed: 0,
      safeToErase: true,
    });
    assert.match(done.message ?? '', /safe to erase/);
    assert.deepEqual(files(into), [
      join('2007/2007-06-15/IMG_0002.JPG'),
      join('2008/2008-05-30/IMG_0001.JPG'),
    ]);
  });

  it('a card ticked "always import" is imported at its next insertion without asking', async (t) => {
    if (skip !== null) return t.skip(skip);
    await card!.unmount();
    card = null;
    await waitFor(
      async () =>
        (await engine!.api['devices.list']({})).every((o) => o.label !== 'EOS_DIGITAL') || null,
      { timeoutMs: 60_000, what: 'the offer to go when the card is removed' },
    );
    copyFileSync(
      corpusFile('ianare-exif-samples/jpg/Olympus_C8080WZ.jpg'),
      join(content, 'DCIM/100CANON/IMG_0003.JPG'),
    );
    const mounted = bindMountReadOnly(content, join(media, 'alice/EOS_DIGITAL'));
    assert.ok(!('skip' in mounted));
    card = mounted;
    const done = await offer('done');
    assert.equal(done.alwaysImport, true);
    assert.deepEqual(done.result, {
      found: 3,
      imported: 1,
      alreadyOnVault: 2,
      failed: 0,
      safeToErase: true,
    });
    assert.ok(files(into).includes(join('2006/2006-10-22/IMG_0003.JPG')));
  });

  it('Eject on a computer without udisksctl says plainly that it cannot, and the card stays offered', async (t) => {
    if (skip !== null) return t.skip(skip);
    const done = await offer('done');
    assert.equal(done.canEject, false);
    await assert.rejects(engine!.api['devices.eject']({ id: done.id }), (err: unknown) => {
      const e = err as { code?: string; message?: string };
      return e.code === 'not_supported' && /cannot eject EOS_DIGITAL/.test(e.message ?? '');
    });
    assert.ok((await engine!.api['devices.list']({})).some((o) => o.id === done.id));
  });
});
