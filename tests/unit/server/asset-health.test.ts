// The vault's self-check parts on a real disk and a real SQLite index: the health record,
// inspecting a blob, and a verified upload replacing a blob known bad.
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

  it('a problem keeps the moment it was first found until the asset is ok again', async () => {
    const sha = 'a'.repeat(64);
    assert.equal(await index.health.record(sha, 'damaged', 10), undefined);
    // Each finding says what it replaced: how a change is logged once.
    assert.equal(await index.health.record(sha, 'missing', 20), 'damaged');
    assert.deepEqual(await index.health.get(sha), {
      state: 'missing',
      checkedAt: 20,
      problemSince: 10,
    });
    assert.equal(await index.health.problem(sha), 'missing');
    assert.equal(await index.health.record(sha, 'ok', 30), 'missing');
    assert.deepEqual(await index.health.get(sha), {
      state: 'ok',
      checkedAt: 30,
      problemSince: null,
    });
    assert.equal(await index.health.problem(sha), undefined);
    assert.equal(await index.health.record(sha, 'ok', 40), undefined);
  });

  it('scrubbers on several vault nodes share one pass: each asset is claimed once', async () => {
    const shared = await VaultIndex.open(join(temp.dir, 'scrub.db'));
    try {
      const period = 10_000;
      assert.deepEqual(await shared.health.nextScrubStep(3, 1000, period), { kind: 'empty' });
      await shared.commitBatch(
        Array.from({ length: 10 }, (_, i) => ({
          sha256: sha256Hex(Buffer.from(`content ${i}`)),
          size: 9,
          mime: null,
          kind: 'other' as const,
          filename: `f${i}`,
          relpath: null,
          mtimeMs: null,
          at: 1,
        })),
      );
      const claimed: string[] = [];
      let started = 0;
      let done = 0;
      // Three nodes' scrubbers ask at once, each until no pass is due.
      const node = async (): Promise<string> => {
        for (;;) {
          const step = await shared.health.nextScrubStep(3, 2000, period);
          if (step.kind === 'stretch') {
            claimed.push(...step.assets.map((a) => a.sha256));
            if (step.started) started += 1;
          } else if (step.kind === 'passDone') done += 1;
          else return step.kind;
        }
      };
      assert.deepEqual(await Promise.all([node(), node(), node()]), [
        'between',
        'between',
        'between',
      ]);
      assert.equal(claimed.length, 10);
      assert.equal(new Set(claimed).size, 10);
      assert.deepEqual([started, done], [1, 1]);
      assert.deepEqual(await shared.health.scrubPlace(), {
        cursor: 0,
        passStartedAt: 2000,
        lastFullPassAt: 2000,
      });
      // A period after the pass began, the next one begins.
      const next = await shared.health.nextScrubStep(3, 2000 + period, period);
      assert.ok(next.kind === 'stretch' && next.started && next.assets.length === 3);
    } finally {
      await shared.close();
    }
  });

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
