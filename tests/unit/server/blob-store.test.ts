import assert from 'node:assert/strict';
import { access, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsBlobStore } from '../../../server/blob-store.js';
import { makeTempDir } from '../../support/paths.js';
import { sha256Hex } from '../../support/vault.js';

describe('content-addressed blob store', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let blobs: FsBlobStore;
  before(async () => {
    temp = await makeTempDir('keepsake-blobs-');
    blobs = new FsBlobStore(join(temp.dir, 'blobs'));
    await blobs.init();
  });
  after(async () => {
    await temp.cleanup();
  });

  it('moves a file to blobs/ab/<sha256>, and stores known content once', async () => {
    const data = Buffer.from('some photo bytes');
    const sha = sha256Hex(data);
    await writeFile(join(temp.dir, 'partial-1'), data);
    assert.equal(await blobs.adopt(join(temp.dir, 'partial-1'), sha), true);
    const final = join(temp.dir, 'blobs', sha.slice(0, 2), sha);
    assert.deepEqual(await readFile(final), data);
    await assert.rejects(access(join(temp.dir, 'partial-1')), 'moved, not copied');

    await writeFile(join(temp.dir, 'partial-2'), data);
    assert.equal(await blobs.adopt(join(temp.dir, 'partial-2'), sha), false);
    await assert.rejects(access(join(temp.dir, 'partial-2')), 'the duplicate is dropped');
    assert.deepEqual(await readdir(join(temp.dir, 'blobs', sha.slice(0, 2))), [sha]);
    assert.equal(await readFile(join(temp.dir, 'blobs.layout'), 'utf8'), 'ab/<sha256>\n');
  });

  it('a vault from before blobs.layout keeps finding and storing blobs under ab/cd/', async () => {
    const old = await makeTempDir('keepsake-blobs-old-');
    try {
      const data = Buffer.from('stored by an older version');
      const sha = sha256Hex(data);
      const oldPath = join(old.dir, 'blobs', sha.slice(0, 2), sha.slice(2, 4), sha);
      await mkdir(join(oldPath, '..'), { recursive: true });
      await writeFile(oldPath, data);
      const store = new FsBlobStore(join(old.dir, 'blobs'));
      await store.init();
      assert.equal(store.pathOf(sha), oldPath);
      assert.equal(await store.has(sha), true);
      const next = Buffer.from('stored by this version');
      const nextSha = sha256Hex(next);
      await writeFile(join(old.dir, 'partial'), next);
      await store.placeSynced([{ path: join(old.dir, 'partial'), sha256: nextSha }]);
      assert.deepEqual(
        await readFile(join(old.dir, 'blobs', nextSha.slice(0, 2), nextSha.slice(2, 4), nextSha)),
        next,
      );
      // written down, so the layout no longer depends on what blobs/ holds
      assert.equal(await readFile(join(old.dir, 'blobs.layout'), 'utf8'), 'ab/cd/<sha256>\n');
      await writeFile(join(old.dir, 'blobs.layout'), 'ab/cd/ef/<sha256>\n');
      assert.throws(() => new FsBlobStore(join(old.dir, 'blobs')), /does not know/);
    } finally {
      await old.cleanup();
    }
  });

  it('never builds a path from anything but a sha256', () => {
    for (const bad of ['../../etc/passwd', 'A'.repeat(64), 'a'.repeat(63), '']) {
      assert.throws(() => blobs.pathOf(bad), /not a sha256/);
    }
  });
});
