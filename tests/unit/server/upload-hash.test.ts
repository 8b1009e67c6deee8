import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UploadHashes } from '../../../server/upload-hash.js';
import { makeTempDir } from '../../support/paths.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('upload hash checkpoints', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let stateDir: string;
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const cut = 1_234_567;

  before(async () => {
    temp = await makeTempDir('keepsake-upload-hash-');
    stateDir = join(temp.dir, 'state');
    await mkdir(stateDir);
  });
  after(async () => {
    await temp.cleanup();
  });

  it('continues from a checkpoint at the same offset without rereading the partial', async () => {
    const partial = join(temp.dir, 'p1');
    await writeFile(partial, data.subarray(0, cut));
    const hashes = new UploadHashes(stateDir);
    const h = await hashes.resumeAt('p1', 0, partial);
    h.update(data.subarray(0, cut));
    await hashes.checkpoint('p1', h, cut);
    await writeFile(partial, data); // the rest arrives
    const resumed = new UploadHashes(stateDir); // as after a restart
    const h2 = await resumed.resumeAt('p1', cut, partial);
    h2.update(data.subarray(cut));
    assert.equal(h2.digest('hex'), sha(data));
    assert.equal(resumed.rebuilds, 0);
  });

  it('rebuilds from the partial when the checkpoint is at another offset, torn, or missing', async () => {
    const partial = join(temp.dir, 'p2');
    await writeFile(partial, data);
    const hashes = new UploadHashes(stateDir);
    const h = await hashes.resumeAt('p2', 0, partial);
    h.update(data.subarray(0, 1000));
    await hashes.checkpoint('p2', h, 1000);
    assert.equal(await hashes.digest('p2', data.length, partial), sha(data), 'other offset');
    await writeFile(join(stateDir, 'p2.sha256state'), '{"offset": 1000, "sta');
    assert.equal(await hashes.digest('p2', data.length, partial), sha(data), 'torn');
    await hashes.discard('p2');
    assert.equal(await hashes.digest('p2', cut, partial), sha(data.subarray(0, cut)), 'missing');
    assert.equal(hashes.rebuilds, 3);
  });

  it('fails rather than hash fewer bytes than the offset claims', async () => {
    const partial = join(temp.dir, 'p3');
    await writeFile(partial, data.subarray(0, 100));
    await assert.rejects(
      new UploadHashes(stateDir).digest('p3', 200, partial),
      /holds 100 bytes, expected 200/,
    );
  });
});

describe('upload hash checkpoints across a reboot', () => {
  it('trusts a checkpoint only in the boot that wrote it (unsynced bytes may be lost on power loss)', async () => {
    const temp = await makeTempDir('keepsake-upload-hash-boot-');
    try {
      const data = randomBytes(500_000);
      const partial = join(temp.dir, 'p');
      await writeFile(partial, data);
      const before = new UploadHashes(temp.dir, 'boot-1');
      assert.equal(before.needsDurableCheckpoints, false);
      const h = await before.resumeAt('p', 0, partial);
      h.update(data);
      await before.checkpoint('p', h, data.length);
      const sameBoot = new UploadHashes(temp.dir, 'boot-1');
      assert.equal(await sameBoot.digest('p', data.length, partial), sha(data));
      assert.equal(sameBoot.rebuilds, 0);
      const afterReboot = new UploadHashes(temp.dir, 'boot-2');
      assert.equal(await afterReboot.digest('p', data.length, partial), sha(data));
      assert.equal(afterReboot.rebuilds, 1, 'reread after a reboot');
      assert.equal(new UploadHashes(temp.dir, null).needsDurableCheckpoints, true);
    } finally {
      await temp.cleanup();
    }
  });
});
