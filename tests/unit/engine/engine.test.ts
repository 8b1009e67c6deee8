// createEngine end to end in one process: real corpus files, a real vault on loopback, real
// SQLite. The vault ends up holding every media file with the sha256 of its bytes; a second
// start re-hashes and uploads nothing; one data directory admits one engine at a time.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KeepsakeEngine } from '../../../main/engine/api.js';
import { createEngine } from '../../../main/engine/engine.js';
import { KeepsakeError } from '../../../main/engine/errors.js';
import type { FileHasher } from '../../../main/engine/hash/types.js';
import { createFileHasher } from '../../../main/engine/hash/index.js';
import { silentLogger } from '../../../main/engine/ports.js';
import { createVaultClient } from '../../../main/engine/vault/vault-client.js';
import type { FileRow } from '../../../common/contract.js';
import { corpusFile, makeTempDir } from '../../support/paths.js';
import { startTestVault, type TestVault } from '../../support/vault.js';

const photos = [
  'exifr-fixtures/BonTonARTSTORplusIPTC.jpg',
  'exifr-fixtures/IMG_20180725_163423-tiny.jpg',
  'exifr-fixtures/cookiezen.jpg',
  'exifr-fixtures/img_1771_no_exif.jpg',
];

async function sha256Of(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function allFiles(engine: KeepsakeEngine): Promise<FileRow[]> {
  return (await engine.api['files.list']({ limit: 1000 })).files;
}

/** A hasher that counts how many files it read (the real one does the work). */
function countingHasher(): FileHasher & { count: number } {
  const inner = createFileHasher({ logger: silentLogger, threads: 1 });
  const h = {
    count: 0,
    hashFile(path: string, signal?: AbortSignal) {
      h.count++;
      return inner.hashFile(path, signal);
    },
    close: () => inner.close(),
  };
  return h;
}

describe('engine', () => {
  let vault: TestVault;
  let src: string;
  let dataDir: string;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    vault = await startTestVault();
    const s = await makeTempDir('keepsake-engine-src-');
    const d = await makeTempDir('keepsake-engine-data-');
    cleanups.push(s.cleanup, d.cleanup);
    src = s.dir;
    dataDir = d.dir;
    await mkdir(join(src, 'trip'), { recursive: true });
    for (const p of photos) await copyFile(corpusFile(p), join(src, 'trip', p.split('/').pop()!));
    // The same photo twice (stored once), one excluded by a rule, and a non-media file.
    await copyFile(corpusFile(photos[0]!), join(src, 'copy.jpg'));
    await mkdir(join(src, 'private'));
    await copyFile(corpusFile(photos[1]!), join(src, 'private', 'secret.jpg'));
    await writeFile(join(src, 'notes.txt'), 'not a photo');
  });
  after(async () => {
    await vault.close();
    for (const c of cleanups) await c();
  });

  function open(hasher: FileHasher): Promise<KeepsakeEngine> {
    return createEngine({
      dataDir,
      vault: { url: vault.url, token: vault.token },
      logger: silentLogger,
      hasher,
      metadataReader: null,
      createWatcher: null,
      settleMs: 0,
    });
  }

  it('backs up every media file to the vault, which holds each with the same sha256', async () => {
    const hasher = countingHasher();
    const engine = await open(hasher);
    try {
      await engine.api['folders.add']({ path: src, exclude: ['private/**'] });
      await engine.start();
      await engine.whenSettled(AbortSignal.timeout(60_000));
      const rows = await allFiles(engine);
      const byRel = new Map(rows.map((r) => [r.relPath, r]));
      assert.equal(byRel.get('private/secret.jpg')?.state, 'excluded');
      assert.match(byRel.get('private/secret.jpg')?.excludedBy ?? '', /private\/\*\*/);
      // a non-media file is shown as skipped, with why, and never uploaded
      assert.equal(byRel.get('notes.txt')?.state, 'skipped', 'non-media files are skipped');
      assert.equal(byRel.get('notes.txt')?.excludedBy, 'not a photo or video');
      const media = rows.filter((r) => r.state !== 'excluded' && r.state !== 'skipped');
      assert.equal(media.length, photos.length + 1);
      for (const r of media) {
        assert.ok(['backed_up', 'duplicate'].includes(r.state), `${r.relPath}: ${r.state}`);
        assert.equal(r.sha256, await sha256Of(r.path), `${r.relPath} hash`);
      }
      const client = createVaultClient({ endpoint: vault.url, token: vault.token });
      const shas = [...new Set(media.map((r) => r.sha256!))];
      const present = await client.check(shas);
      client.close();
      assert.deepEqual([...present].sort(), shas.sort(), 'the vault holds every one');
      const status = await engine.api['status.get']({});
      assert.equal(status.status, 'up_to_date');
      assert.equal(status.filesSafe, photos.length + 1);
    } finally {
      await engine.close();
    }
  });

  it('a second start re-hashes nothing unchanged and uploads nothing', async () => {
    const hasher = countingHasher();
    const engine = await open(hasher);
    try {
      await engine.start();
      await engine.whenSettled(AbortSignal.timeout(60_000));
      assert.equal(hasher.count, 0, 'no file was read again');
      assert.equal(engine.bytesUploaded(), 0);
      const states = (await allFiles(engine)).map((r) => r.state);
      assert.ok(
        states.every((s) => ['backed_up', 'duplicate', 'excluded', 'skipped'].includes(s)),
        states.join(),
      );
    } finally {
      await engine.close();
    }
  });

  it('refuses a second engine on the same data directory, naming the holder', async () => {
    const engine = await open(countingHasher());
    try {
      await assert.rejects(
        open(countingHasher()),
        (err: unknown) =>
          err instanceof KeepsakeError &&
          err.code === 'data_dir_locked' &&
          err.message.includes(`pid ${process.pid}`),
      );
    } finally {
      await engine.close();
    }
    // Released on close: the next engine opens.
    const again = await open(countingHasher());
    await again.close();
  });

  it('pointed at another vault, it uploads there what that vault lacks, without re-hashing', async () => {
    const other = await startTestVault();
    try {
      const hasher = countingHasher();
      const engine = await createEngine({
        dataDir,
        vault: { url: other.url, token: other.token },
        logger: silentLogger,
        hasher,
        metadataReader: null,
        createWatcher: null,
        settleMs: 0,
      });
      try {
        await engine.start();
        await engine.whenSettled(AbortSignal.timeout(60_000));
        assert.equal(hasher.count, 0, 'the stored hashes stand');
        const media = (await allFiles(engine)).filter(
          (r) => r.state !== 'excluded' && r.state !== 'skipped',
        );
        const shas = [...new Set(media.map((r) => r.sha256!))];
        const client = createVaultClient({ endpoint: other.url, token: other.token });
        const present = await client.check(shas);
        client.close();
        assert.equal(present.size, shas.length, 'the new vault holds every file');
        assert.ok(media.every((r) => ['backed_up', 'duplicate'].includes(r.state)));
      } finally {
        await engine.close();
      }
    } finally {
      await other.close();
    }
  });

  it('takes over a stale lock left by a process that died', async () => {
    await writeFile(join(dataDir, 'keepsake.lock'), '999999999\n');
    const engine = await open(countingHasher());
    await engine.close();
  });
});
