// A run of many files adds no abort listener per file to a long-lived signal (issue 9 "Small
// ones": MaxListenersExceededWarning on large runs). Node warns once a signal holds more than
// 10 listeners, so a per-file leak shows within a few dozen files: this backs up 300 small
// files (the batch path) and 12 files above the batch limit (tus, one by one), then runs again
// unchanged, and fails on any MaxListenersExceededWarning from the CLI or the vault.
import assert from 'node:assert/strict';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeRun, killAllChildren, parseJsonOutput, runCli } from '../support/cli.js';
import type { BackupSummary } from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { writeTreeFile } from '../support/tree.js';
import { startTestVault, type TestVault } from '../support/vault.js';

describe('a large run', () => {
  let vault: TestVault;
  const cleanups: (() => Promise<void>)[] = [];
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  before(async () => {
    process.on('warning', onWarning);
    vault = await startTestVault();
  });
  after(async () => {
    process.off('warning', onWarning);
    await killAllChildren();
    await vault?.close();
    for (const c of cleanups.reverse()) await c();
  });

  it('leaks no abort listener per file (no MaxListenersExceededWarning), small and large files alike', async () => {
    const src = await makeTempDir('keepsake-many-');
    const data = await makeTempDir('keepsake-data-');
    cleanups.push(src.cleanup, data.cleanup);
    const base = await readFile(corpusFile('exifr-fixtures/noexif.jpg'));
    for (let i = 0; i < 300; i++) {
      await writeTreeFile(
        src.dir,
        `d${i % 10}/IMG_${i}.jpg`,
        Buffer.concat([base, Buffer.from(`#${i}`)]),
      );
    }
    for (let i = 0; i < 12; i++) {
      // above the 8 MiB batch limit, sparse after a unique head
      const path = join(src.dir, `large/VID_${i}.jpg`);
      await writeTreeFile(
        src.dir,
        `large/VID_${i}.jpg`,
        Buffer.concat([base, Buffer.from(`#L${i}`)]),
      );
      const fh = await open(path, 'r+');
      await fh.truncate(9 * 1024 * 1024);
      await fh.close();
    }
    const backup = () =>
      runCli(
        [
          'backup',
          src.dir,
          '--to',
          vault.url,
          '--token',
          vault.token,
          '--data-dir',
          data.dir,
          '--json',
        ],
        { env: { NODE_OPTIONS: '--trace-warnings' }, timeoutMs: 300_000 },
      );
    for (const run of [await backup(), await backup()]) {
      assert.equal(run.code, 0, describeRun(run));
      assert.equal(parseJsonOutput<BackupSummary>(run).files, 312);
      assert.doesNotMatch(run.stderr, /MaxListenersExceededWarning/, run.stderr);
    }
    assert.deepEqual(
      warnings.filter((w) => w.includes('MaxListeners')),
      [],
      'the vault warned',
    );
  });
});
