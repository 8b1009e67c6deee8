// The start-up sweep of partial uploads: alone, it clears every leftover at once; beside
// other vault nodes (a shared index and uploads directory), it leaves what may be another
// node's upload in progress and clears only what is older than the grace.
import assert from 'node:assert/strict';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { VaultIndex } from '../../../server/index/vault-index.js';
import { silentVaultLogger } from '../../../server/logger.js';
import { SHARED_SWEEP_GRACE_MS, sweepAfterStart } from '../../../server/startup-sweep.js';
import { makeTempDir } from '../../support/paths.js';

const HOUR = 60 * 60 * 1000;
const id = (c: string) => c.repeat(32);

describe('start-up sweep of partial uploads', () => {
  let temp: { dir: string; cleanup: () => Promise<void> };
  let index: VaultIndex;
  let uploadsDir: string;
  let stateDir: string;
  const now = Date.now();

  /** A file in the uploads directory, last written `ageMs` ago. */
  async function file(name: string, ageMs: number): Promise<void> {
    const path = join(uploadsDir, name);
    await writeFile(path, 'x');
    const t = new Date(now - ageMs);
    await utimes(path, t, t);
  }

  beforeEach(async () => {
    temp = await makeTempDir('keepsake-sweep-');
    uploadsDir = join(temp.dir, 'uploads');
    stateDir = join(temp.dir, 'upload-state');
    await mkdir(uploadsDir);
    await mkdir(stateDir);
    index = await VaultIndex.open(join(temp.dir, 'vault.db'));
    // A: a live upload (row, partial and info). B: an old partial without its row. C: a
    // young partial without its row (another node between its file and its row). D: an old
    // row without a partial. E: a young row without a partial (another node between its row
    // and its file). A torn temp, old and young.
    for (const [u, age] of [
      ['a', 0],
      ['d', 2 * HOUR],
      ['e', 0],
    ] as const) {
      await index.recordUploadCreated({ id: id(u), sha256: u.repeat(64), size: 1, at: now - age });
    }
    await file(id('a'), 2 * HOUR);
    await file(`${id('a')}.json`, 2 * HOUR);
    await file(id('b'), 2 * HOUR);
    await file(`${id('b')}.json`, 2 * HOUR);
    await file(id('c'), 0);
    await file('batch-old-1', 2 * HOUR);
    await file('batch-young-1', 0);
  });
  afterEach(async () => {
    await index.close();
    await temp.cleanup();
  });

  it('alone, removes every leftover and forgets every row without its partial', async () => {
    const swept = await sweepAfterStart({ uploadsDir, stateDir, index, logger: silentVaultLogger });
    assert.deepEqual((await readdir(uploadsDir)).sort(), [id('a'), `${id('a')}.json`].sort());
    assert.deepEqual(
      (await index.listUploads()).map((u) => u.id),
      [id('a')],
    );
    assert.deepEqual(swept, { removedFiles: 5, forgottenUploads: 2 });
  });

  it('beside other nodes, keeps what is younger than the grace and clears the rest', async () => {
    assert.ok(SHARED_SWEEP_GRACE_MS < 2 * HOUR, 'the old leftovers here are past the grace');
    const swept = await sweepAfterStart({
      uploadsDir,
      stateDir,
      index,
      logger: silentVaultLogger,
      shared: { now: () => now, filesShared: true },
    });
    assert.deepEqual(
      (await readdir(uploadsDir)).sort(),
      [id('a'), `${id('a')}.json`, id('c'), 'batch-young-1'].sort(),
    );
    assert.deepEqual((await index.listUploads()).map((u) => u.id).sort(), [id('a'), id('e')]);
    assert.deepEqual(swept, { removedFiles: 3, forgottenUploads: 1 });
  });

  it('beside other nodes with an uploads directory of its own, removes every leftover file at once and keeps young rows', async () => {
    // The kill -9 of a node on PostgreSQL without --uploads: a decoded copy for a preview or a
    // batch's temp file it left is its own, and no other node will ever remove it.
    await file('plain-0123456789abcdef.tmp', 0);
    const swept = await sweepAfterStart({
      uploadsDir,
      stateDir,
      index,
      logger: silentVaultLogger,
      shared: { now: () => now, filesShared: false },
    });
    assert.deepEqual((await readdir(uploadsDir)).sort(), [id('a'), `${id('a')}.json`].sort());
    assert.deepEqual((await index.listUploads()).map((u) => u.id).sort(), [id('a'), id('e')]);
    assert.deepEqual(swept, { removedFiles: 6, forgottenUploads: 1 });
  });
});
