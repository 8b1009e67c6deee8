// `keepsake import device` end to end (issue 12 section 4): the CLI from source against a real
// vault on loopback, with "cards" built from real camera files of the corpus. What a person
// relies on: new photos land in the chosen folder by capture date, each copy proven by SHA-256,
// backed up, and the card called safe to erase only when the vault holds everything on it;
// what the vault has is not copied; nothing is ever written to the card; an unreadable file or
// a full disk is said plainly; a card pulled out (kill -9) mid-copy loses nothing and leaves no
// half-copied file under a final name.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeviceImportReport } from '../../main/engine/import/device/device-import.js';
import { createVaultClient, type VaultClient } from '../../main/engine/vault/vault-client.js';
import { describeRun, killAllChildren, parseJsonOutput, runCli, waitFor } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { mountSmallDisk } from '../support/small-disk.js';
import { startTestVault, type TestVault, uploadBuffer } from '../support/vault.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Real camera photos (EXIF DateTimeOriginal) and what their capture day is. */
const PHOTOS = {
  canon: { file: 'ianare-exif-samples/jpg/Canon_40D.jpg', day: '2008/2008-05-30' },
  nikon: { file: 'ianare-exif-samples/jpg/Nikon_D70.jpg', day: '2008/2008-03-15' },
  pentax: { file: 'ianare-exif-samples/jpg/Pentax_K10D.jpg', day: '2008/2008-05-04' },
  noExif: { file: 'exifr-fixtures/noexif.jpg', day: null },
  fuji: { file: 'ianare-exif-samples/jpg/Fujifilm_FinePix6900ZOOM.jpg', day: '2001/2001-02-19' },
};

/** Every file under dir (relative, '/'-separated), dot-files included, sorted. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((p) => statSync(join(dir, p)).isFile())
    .map((p) => p.split('\\').join('/'))
    .sort();
}

/** A snapshot of a card: every file with its content hash and mtime (to prove it unchanged). */
function cardState(dir: string): string[] {
  return tree(dir).map((p) => {
    const st = statSync(join(dir, p));
    return `${p} ${sha256(readFileSync(join(dir, p)))} ${st.mtimeMs}`;
  });
}

/** A card folder: DCIM/100CANON + 101CANON with corpus photos, a .THM, and a dated no-EXIF one. */
function makeCard(root: string): void {
  mkdirSync(join(root, 'DCIM/100CANON'), { recursive: true });
  mkdirSync(join(root, 'DCIM/101CANON'), { recursive: true });
  mkdirSync(join(root, 'MISC'), { recursive: true });
  copyFileSync(corpusFile(PHOTOS.canon.file), join(root, 'DCIM/100CANON/IMG_0001.JPG'));
  copyFileSync(corpusFile(PHOTOS.nikon.file), join(root, 'DCIM/100CANON/IMG_0002.JPG'));
  copyFileSync(corpusFile(PHOTOS.pentax.file), join(root, 'DCIM/101CANON/IMG_0001.JPG'));
  copyFileSync(corpusFile(PHOTOS.noExif.file), join(root, 'DCIM/101CANON/IMG_0003.JPG'));
  const noon = new Date(2020, 4, 6, 12, 0, 0); // local time: its folder is 2020/2020-05-06
  utimesSync(join(root, 'DCIM/101CANON/IMG_0003.JPG'), noon, noon);
  writeFileSync(join(root, 'DCIM/100CANON/IMG_0001.THM'), 'thumbnail');
  writeFileSync(join(root, 'MISC/AUTPRINT.MRK'), 'print order');
}

const quickEnv = { KEEPSAKE_SETTLE_MS: '200', KEEPSAKE_METADATA_GRACE_MS: '3000' };

describe('keepsake import device', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let vault: TestVault;
  let client: VaultClient;

  before(async () => {
    tmp = await makeTempDir('keepsake-device-');
    vault = await startTestVault();
    client = createVaultClient({ endpoint: vault.url, token: vault.token });
  });
  after(async () => {
    await killAllChildren();
    client?.close();
    await vault?.close();
    await tmp?.cleanup();
  });

  async function importCard(
    card: string,
    into: string,
    dataDir: string,
    extra: string[] = [],
    opts: { asNobody?: boolean; onSpawn?: (pid: number) => void; vaultUrl?: string } = {},
  ) {
    return runCli(
      [
        'import',
        'device',
        card,
        '--into',
        into,
        '--to',
        opts.vaultUrl ?? vault.url,
        '--token',
        vault.token,
        '--data-dir',
        dataDir,
        '--json',
        ...extra,
      ],
      {
        env: quickEnv,
        ...(opts.asNobody ? { asNobody: true } : {}),
        ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
      },
    );
  }

  it('copies new photos into folders by capture date, proves and backs them up, then says the card is safe to erase', async () => {
    const card = join(tmp.dir, 'card1');
    makeCard(card);
    const before = cardState(card);
    const into = join(tmp.dir, 'pictures1');
    const run = await importCard(card, into, join(tmp.dir, 'data1'));
    assert.equal(run.code, 0, describeRun(run));
    const report = parseJsonOutput<DeviceImportReport>(run);
    assert.deepEqual(
      {
        found: report.found,
        imported: report.imported,
        alreadyOnVault: report.alreadyOnVault,
        failed: report.failed,
        safeToErase: report.safeToErase,
      },
      { found: 4, imported: 4, alreadyOnVault: 0, failed: 0, safeToErase: true },
    );
    assert.deepEqual(tree(into), [
      `${PHOTOS.nikon.day}/IMG_0002.JPG`,
      `${PHOTOS.pentax.day}/IMG_0001.JPG`,
      `${PHOTOS.canon.day}/IMG_0001.JPG`,
      '2020/2020-05-06/IMG_0003.JPG',
    ]);
    // the photo without a date inside is filed by its file time, and the report says so
    assert.deepEqual(report.datedByFileTime, ['DCIM/101CANON/IMG_0003.JPG']);
    // and its copy keeps the card's modification time, so the vault dates it the same way
    assert.equal(
      Math.trunc(statSync(join(into, '2020/2020-05-06/IMG_0003.JPG')).mtimeMs),
      Math.trunc(statSync(join(card, 'DCIM/101CANON/IMG_0003.JPG')).mtimeMs),
    );
    assert.deepEqual(report.otherFiles, ['DCIM/100CANON/IMG_0001.THM']);
    // every copy is byte-identical to the card, and the vault holds every one
    for (const c of report.copies) {
      assert.equal(sha256(readFileSync(c.path)), sha256(readFileSync(join(card, c.card))));
    }
    const held = await client.check(report.copies.map((c) => c.sha256));
    assert.equal(held.size, 4);
    assert.deepEqual(cardState(card), before, 'the card is never written');
  });

  it('importing the same card again copies nothing: everything is already on the vault', async () => {
    const card = join(tmp.dir, 'card1');
    const into = join(tmp.dir, 'pictures1');
    const before = tree(into);
    const run = await importCard(card, into, join(tmp.dir, 'data1'));
    assert.equal(run.code, 0, describeRun(run));
    const report = parseJsonOutput<DeviceImportReport>(run);
    assert.equal(report.alreadyOnVault, 4);
    assert.equal(report.imported, 0);
    assert.equal(report.safeToErase, true);
    assert.deepEqual(tree(into), before);
  });

  it('a photo the vault already holds is not copied; a name taken by other content gets a new name', async () => {
    const card = join(tmp.dir, 'card2');
    mkdirSync(join(card, 'dcim/100MSDCF'), { recursive: true }); // some cameras write lower case
    const onVault = randomBytes(5000);
    writeFileSync(join(card, 'dcim/100MSDCF/DSC00001.JPG'), onVault);
    const { res } = await uploadBuffer(vault, onVault);
    assert.ok(res.ok);
    copyFileSync(corpusFile(PHOTOS.fuji.file), join(card, 'dcim/100MSDCF/DSC00002.JPG'));
    const into = join(tmp.dir, 'pictures2');
    // another photo already has the name this one would get
    mkdirSync(join(into, PHOTOS.fuji.day), { recursive: true });
    writeFileSync(join(into, PHOTOS.fuji.day, 'DSC00002.JPG'), 'a different photo');
    const run = await importCard(card, into, join(tmp.dir, 'data2'));
    assert.equal(run.code, 0, describeRun(run));
    const report = parseJsonOutput<DeviceImportReport>(run);
    assert.equal(report.found, 2);
    assert.equal(report.alreadyOnVault, 1);
    assert.equal(report.imported, 1);
    assert.equal(report.safeToErase, true);
    assert.deepEqual(tree(into), [
      `${PHOTOS.fuji.day}/DSC00002 (1).JPG`,
      `${PHOTOS.fuji.day}/DSC00002.JPG`,
    ]);
    assert.equal(
      readFileSync(join(into, PHOTOS.fuji.day, 'DSC00002.JPG'), 'utf8'),
      'a different photo',
    );
  });

  it('a folder without DCIM is refused as bad input, and nothing is written', async () => {
    const notACard = join(tmp.dir, 'not-a-card');
    mkdirSync(join(notACard, 'Photos'), { recursive: true });
    const into = join(tmp.dir, 'pictures-none');
    const run = await importCard(notACard, into, join(tmp.dir, 'data-none'));
    assert.equal(run.code, 2, describeRun(run));
    assert.match(run.stderr, /no DCIM folder/);
    assert.equal(existsSync(into), false);
  });

  it('an unreadable file is reported, the rest is imported, and the card is not called safe to erase', async () => {
    chmodSync(tmp.dir, 0o711); // nobody may pass through to its own folder
    const base = join(tmp.dir, 'nobody');
    mkdirSync(base);
    chmodSync(base, 0o777);
    const card = join(base, 'card');
    makeCard(card);
    chmodSync(join(card, 'DCIM/100CANON/IMG_0002.JPG'), 0o000);
    const into = join(base, 'pictures');
    const dataDir = join(base, 'data');
    for (const d of [into, dataDir]) {
      mkdirSync(d);
      chmodSync(d, 0o777);
    }
    const run = await importCard(card, into, dataDir, [], { asNobody: true });
    assert.equal(run.code, 1, describeRun(run));
    const report = parseJsonOutput<DeviceImportReport>(run);
    assert.equal(report.found, 4);
    assert.equal(report.failed, 1);
    assert.equal(report.safeToErase, false);
    assert.equal(report.failures[0]?.path, join(card, 'DCIM/100CANON/IMG_0002.JPG'));
    assert.equal(report.failures[0]?.code, 'permission_denied');
    // the other three are there and on the vault (two were imported by the first test)
    assert.equal(report.imported + report.alreadyOnVault, 3);
  });

  it('a full destination disk stops the import with a clear reason and leaves no partial file', async (t) => {
    const disk = await mountSmallDisk(1);
    if ('skip' in disk) {
      t.skip(disk.skip);
      return;
    }
    try {
      const card = join(tmp.dir, 'card-big');
      mkdirSync(join(card, 'DCIM/100CANON'), { recursive: true });
      for (let i = 1; i <= 3; i++) {
        writeFileSync(join(card, `DCIM/100CANON/MVI_000${i}.MP4`), randomBytes(400 * 1024));
      }
      writeFileSync(join(disk.dir, 'filler'), Buffer.alloc(300 * 1024)); // room for one file
      const into = join(disk.dir, 'pictures');
      const run = await importCard(card, into, join(tmp.dir, 'data-full'));
      assert.equal(run.code, 1, describeRun(run));
      const report = parseJsonOutput<DeviceImportReport>(run);
      assert.equal(report.stopped?.code, 'disk_full');
      assert.match(report.stopped?.message ?? '', /destination disk is full/);
      assert.equal(report.safeToErase, false);
      assert.ok(report.failed >= 1);
      assert.equal(report.imported + report.failed, 3);
      // what is there is whole and proven; nothing half-written under any name
      for (const p of tree(into)) {
        assert.ok(!p.includes('keepsake-partial'), `partial left: ${p}`);
        const copy = report.copies.find((c) => relative(into, c.path) === p);
        assert.ok(copy, `unexpected file ${p}`);
        assert.equal(sha256(readFileSync(join(into, p))), copy.sha256);
      }
    } finally {
      await disk.unmount();
    }
  });

  it('a card pulled out mid-copy (kill -9) loses nothing: the next run finishes, nothing half-copied under a final name, nothing twice', async () => {
    const card = join(tmp.dir, 'card-kill');
    mkdirSync(join(card, 'DCIM/100CANON'), { recursive: true });
    const contents = new Map<string, string>();
    for (let i = 1; i <= 3; i++) {
      const data = randomBytes(48 * 1024 * 1024);
      const name = `MVI_000${i}.MP4`;
      writeFileSync(join(card, 'DCIM/100CANON', name), data);
      contents.set(name, sha256(data));
    }
    const into = join(tmp.dir, 'pictures-kill');
    const dataDir = join(tmp.dir, 'data-kill');
    let pid = 0;
    const first = importCard(card, into, dataDir, [], { onSpawn: (p) => (pid = p) });
    // Pulled out while the second file is being copied: its partial copy exists.
    await waitFor(
      () => tree(into).some((p) => p.endsWith('.MVI_0002.MP4.keepsake-partial')) || null,
      { timeoutMs: 120_000, intervalMs: 5, what: 'the second file being copied' },
    );
    process.kill(-pid, 'SIGKILL');
    const killed = await first;
    assert.equal(killed.signal ?? 'SIGKILL', 'SIGKILL', describeRun(killed));
    // no file under a final name is partial: each final name holds exactly its card content
    for (const p of tree(into)) {
      const name = p.split('/').pop() ?? '';
      if (name.startsWith('.')) continue;
      assert.equal(sha256(readFileSync(join(into, p))), contents.get(name), `${p} is whole`);
    }
    const resumed = await importCard(card, into, dataDir);
    assert.equal(resumed.code, 0, describeRun(resumed));
    const report = parseJsonOutput<DeviceImportReport>(resumed);
    assert.equal(report.found, 3);
    assert.equal(report.failed, 0);
    assert.equal(report.safeToErase, true);
    const finals = tree(into);
    assert.equal(
      finals.length,
      3,
      `exactly one copy of each, no partial left: ${finals.join(', ')}`,
    );
    for (const p of finals) {
      const name = p.split('/').pop() ?? '';
      assert.equal(sha256(readFileSync(join(into, p))), contents.get(name));
    }
    const held = await client.check([...contents.values()]);
    assert.equal(held.size, 3);
  });
});
