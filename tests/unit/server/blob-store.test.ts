import assert from 'node:assert/strict';
import { access, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobStore } from '../../../server/blob-store.js';
import { makeTempDir } from '../../support/paths.js';
import { sha256Hex } from '../../support/vault.js';

describe('content-addressed blob store', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let blobs: BlobStore;
  before(async () => {
    temp = await makeTempDir('keepsake-blobs-');
    blobs = new BlobStore(join(temp.dir, 'blobs'));
    await blobs.init();
  });
  after(async () => {
    await temp.cleanup();
  });

  it('moves a file to blobs/ab/cd/<sha256>, and stores known content once', async () => {
    const data = Buffer.from('some photo bytes');
    const sha = sha256Hex(data);
    await writeFile(join(temp.dir, 'partial-1'), data);
    assert.equal(await blobs.adopt(join(temp.dir, 'partial-1'), sha), true);
    const final = join(temp.dir, 'blobs', sha.slice(0, 2), sha.slice(2, 4), sha);
    assert.deepEqual(await readFile(final), data);
    await assert.rejects(access(join(temp.dir, 'partial-1')), 'moved, not copied');

    await writeFile(join(temp.dir, 'partial-2'), data);
    assert.equal(await blobs.adopt(join(temp.dir, 'partial-2'), sha), false);
    await assert.rejects(access(join(temp.dir, 'partial-2')), 'the duplicate is dropped');
    assert.deepEqual(await readdir(join(temp.dir, 'blobs', sha.slice(0, 2), sha.slice(2, 4))), [
      sha,
    ]);
  });

  it('never builds a path from anything but a sha256', () => {
    for (const bad of ['../../etc/passwd', 'A'.repeat(64), 'a'.repeat(63), '']) {
      assert.throws(() => blobs.pathOf(bad), /not a sha256/);
    }
  });
});
