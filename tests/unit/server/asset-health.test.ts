// The vault's self-check parts on a real disk and a real SQLite index: inspecting a blob,
// and a verified upload replacing a blob known bad (the health record: health-store.test.ts).
import assert from 'node:assert/strict';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspectBlob } from '../../../server/asset-health.js';
import { FsBlobStore } from '../../../server/blob-store.js';
import { VaultIndex } from '../../../server/index/vault-index.js';
import { makeTempDir } from '../../support/paths.js';
import { flipByte } from '../../support/vault-damage.js';
import { sha256Hex } from '../../support/vault.js';

describe('asset health', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let index: VaultIndex;
  let blobs: FsBlobStore;
  const repaired: string[] = [];
  before(async () => {
    temp = await makeTempDir('keepsake-health-');
    index = await VaultIndex.open(join(temp.dir, 'vault.db'));
    blobs = new FsBlobStore(join(temp.dir, 'blobs'), {
      knownBad: (sha) => index.health.problem(sha),
      repaired: async (sha) => {
        repaired.push(sha);
        await index.health.record(sha, 'ok', 99);
      },
    });
    await blobs.init();
  });
  after(async () => {
    index.close();
    await temp.cleanup();
  });

  async function store(data: Buffer, name: string): Promise<string> {
    const sha = sha256Hex(data);
    await writeFile(join(temp.dir, name), data);
    await blobs.adopt(join(temp.dir, name), sha);
    return sha;
  }

  it('inspecting a blob tells intact, damaged (one flipped byte, or truncated) and missing', async () => {
    const data = Buffer.from('x'.repeat(3 << 20));
    const sha = await store(data, 'big');
    assert.equal((await inspectBlob(blobs, sha, data.length)).state, 'ok');
    await flipByte(blobs.pathOf(sha), (3 << 20) - 1);
    assert.equal((await inspectBlob(blobs, sha, data.length)).state, 'damaged');
    assert.equal((await inspectBlob(blobs, sha, data.length + 1)).state, 'damaged');
    await unlink(blobs.pathOf(sha));
    assert.equal((await inspectBlob(blobs, sha, data.length)).state, 'missing');
  });

  it('a verified upload replaces a blob known damaged, and an unknown-bad blob still wins', async () => {
    const data = Buffer.from('the original photo');
    const sha = await store(data, 'p1');
    await flipByte(blobs.pathOf(sha), 3);
    // Not known bad yet: the existing blob wins (the scrubber or a read must find it).
    await writeFile(join(temp.dir, 'p2'), data);
    assert.equal(await blobs.adopt(join(temp.dir, 'p2'), sha), false);
    assert.notDeepEqual(await readFile(blobs.pathOf(sha)), data);
    await index.health.record(sha, 'damaged', 50);
    await writeFile(join(temp.dir, 'p3'), data);
    assert.equal(await blobs.adopt(join(temp.dir, 'p3'), sha), true);
    assert.deepEqual(await readFile(blobs.pathOf(sha)), data);
    assert.deepEqual(repaired, [sha]);
    assert.equal(await index.health.problem(sha), undefined);
  });
});
