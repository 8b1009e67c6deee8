// `keepsake import device` from cards that are really mounted: a FAT image loop-mounted
// read-only (a camera card as the kernel sees it; skipped, with the reason, where this kernel
// or container cannot mount FAT), and a read-only bind mount (runs wherever mounting is
// allowed). A read-only mount turns any write to the card into an error, so a clean import from
// one proves the card is never written.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeviceImportReport } from '../../main/engine/import/device/device-import.js';
import { bindMountReadOnly, mountFatCard } from '../support/card-image.js';
import { describeRun, killAllChildren, parseJsonOutput, runCli } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { startTestVault, type TestVault } from '../support/vault.js';

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((p) => statSync(join(dir, p)).isFile())
    .sort();
}

describe('keepsake import device from a mounted card', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let vault: TestVault;
  let content: string;

  before(async () => {
    tmp = await makeTempDir('keepsake-mounted-card-');
    vault = await startTestVault();
    content = join(tmp.dir, 'content');
    mkdirSync(join(content, 'DCIM/100CANON'), { recursive: true });
    copyFileSync(
      corpusFile('ianare-exif-samples/jpg/Canon_40D.jpg'),
      join(content, 'DCIM/100CANON/IMG_0001.JPG'),
    );
    copyFileSync(
      corpusFile('ianare-exif-samples/jpg/Olympus_C8080WZ.jpg'),
      join(content, 'DCIM/100CANON/IMG_0002.JPG'),
    );
  });
  after(async () => {
    await killAllChildren();
    await vault?.close();
    await tmp?.cleanup();
  });

  async function importFrom(card: string, name: string) {
    const into = join(tmp.dir, `pictures-${name}`);
    const run = await runCli(
      [
        'import',
        'device',
        card,
        '--into',
        into,
        '--to',
        vault.url,
        '--token',
        vault.token,
        '--data-dir',
        join(tmp.dir, `data-${name}`),
        '--json',
      ],
      { env: { KEEPSAKE_SETTLE_MS: '200', KEEPSAKE_METADATA_GRACE_MS: '3000' } },
    );
    assert.equal(run.code, 0, describeRun(run));
    return { report: parseJsonOutput<DeviceImportReport>(run), into };
  }

  it('a FAT card, loop-mounted read-only, is imported by capture date and called safe to erase', async (t) => {
    const card = await mountFatCard(content, { label: 'EOS_DIGITAL' });
    if ('skip' in card) {
      t.skip(card.skip);
      return;
    }
    try {
      const { report, into } = await importFrom(card.dir, 'fat');
      assert.equal(report.found, 2);
      assert.equal(report.failed, 0);
      assert.equal(report.safeToErase, true);
      assert.deepEqual(files(into), [
        join('2006/2006-10-22/IMG_0002.JPG'),
        join('2008/2008-05-30/IMG_0001.JPG'),
      ]);
    } finally {
      await card.unmount();
    }
  });

  it('a card the kernel mounts read-only is imported without a single write to it', async (t) => {
    const card = bindMountReadOnly(content, join(tmp.dir, 'ro-card'));
    if ('skip' in card) {
      t.skip(card.skip);
      return;
    }
    try {
      const { report, into } = await importFrom(card.dir, 'ro');
      assert.equal(report.found, 2);
      assert.equal(report.failed, 0);
      assert.equal(report.imported + report.alreadyOnVault, 2);
      assert.equal(report.safeToErase, true);
      assert.ok(files(into).length <= 2);
    } finally {
      await card.unmount();
    }
  });
});
