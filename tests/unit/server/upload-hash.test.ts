import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UploadHashes } from '../../../server/upload-hash.js';
import { makeTempDir } from '../../support/paths.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('upload hashes between PATCHes', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  const data = randomBytes(9 * 1024 * 1024 + 17);
  const cut = 1_234_567;

  before(async () => {
    temp = await makeTempDir('keepsake-upload-hash-');
  });
  after(async () => {
    await temp.cleanup();
  });

  it('continues from the running hash at the same offset without rereading the partial', async () => {
    const partial = join(temp.dir, 'p1');
    await writeFile(partial, data.subarray(0, cut));
    const hashes = new UploadHashes();
    const h = await hashes.resumeAt('p1', 0, partial);
    h.update(data.subarray(0, cut));
    hashes.keep('p1', h, cut);
    await writeFile(partial, data); // the rest arrives
    const h2 = await hashes.resumeAt('p1', cut, partial);
    h2.update(data.subarray(cut));
    hashes.keep('p1', h2, data.length);
    assert.equal(await hashes.digest('p1', data.length, partial), sha(data));
    assert.equal(hashes.rebuilds, 0);
  });

  it('rebuilds from the partial after a restart, at another offset, or once discarded', async () => {
    const partial = join(temp.dir, 'p2');
    await writeFile(partial, data);
    const hashes = new UploadHashes();
    const h = await hashes.resumeAt('p2', 0, partial);
    h.update(data.subarray(0, 1000));
    hashes.keep('p2', h, 1000);
    assert.equal(await hashes.digest('p2', data.length, partial), sha(data), 'other offset');
    const restarted = new UploadHashes();
    assert.equal(await restarted.digest('p2', cut, partial), sha(data.subarray(0, cut)), 'restart');
    const h3 = await hashes.resumeAt('p2', 0, partial);
    h3.update(data);
    hashes.keep('p2', h3, data.length);
    hashes.discard('p2');
    assert.equal(await hashes.digest('p2', data.length, partial), sha(data), 'discarded');
    assert.equal(hashes.rebuilds + restarted.rebuilds, 3);
  });

  it('fails rather than hash fewer bytes than the offset claims', async () => {
    const partial = join(temp.dir, 'p3');
    await writeFile(partial, data.subarray(0, 100));
    await assert.rejects(
      new UploadHashes().digest('p3', 200, partial),
      /holds 100 bytes, expected 200/,
    );
  });
});
