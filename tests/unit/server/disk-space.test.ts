// Room on the vault's disk (server/disk-space.ts): writes in flight hold what they may still
// store, so two uploads are never both promised the same free bytes; a refusal says how much
// is free. The probe is a fixed-size filesystem, the rest is the real module.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DiskSpace, isOutOfSpace } from '../../../server/disk-space.js';
import { VaultHttpError } from '../../../server/http-error.js';

const MiB = 1024 * 1024;
const disk = (availableBytes: number) =>
  new DiskSpace({
    directory: '/unused',
    probe: () => Promise.resolve({ availableBytes, totalBytes: 100 * MiB }),
  });

describe('disk space', () => {
  it('keeps a margin of 2 % of the filesystem, at least 1 MiB', async () => {
    assert.equal(await disk(10 * MiB).freeBytes(), 8 * MiB);
    assert.equal(await disk(MiB / 2).freeBytes(), 0);
  });

  it('bytes reserved by a write in flight are not promised again until released', async () => {
    const space = disk(12 * MiB); // 10 MiB usable
    const release = await space.reserve(6 * MiB, 'the first upload');
    await assert.rejects(space.reserve(6 * MiB, 'the second upload'), (err: unknown) => {
      assert.ok(err instanceof VaultHttpError);
      assert.equal(err.status, 507);
      assert.equal(err.code, 'insufficient_storage');
      assert.deepEqual(JSON.parse(err.body()), {
        freeBytes: 4 * MiB,
        neededBytes: 6 * MiB,
        error: 'insufficient_storage',
        message: err.message,
      });
      return true;
    });
    release();
    release(); // twice is harmless
    (await space.reserve(6 * MiB, 'the second upload'))();
    assert.equal(await space.freeBytes(), 10 * MiB);
  });

  it('recognises ENOSPC, EDQUOT and SQLITE_FULL as a full disk', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'SQLITE_FULL']) assert.ok(isOutOfSpace({ code }));
    assert.ok(!isOutOfSpace({ code: 'EIO' }));
    assert.ok(!isOutOfSpace(new Error('ENOSPC')));
  });
});
