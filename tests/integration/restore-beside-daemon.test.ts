// `keepsake restore` with the embedded vault while another Keepsake process holds the data
// directory (issue 10 section 2: "with the embedded vault with no flags at all"): a running
// daemon serves the vault already, so the restore goes through it; a process that holds the
// vault without saying where it listens gets a message that says what to do.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  describeRun,
  killAllChildren,
  parseJsonOutput,
  runCli,
  startDaemon,
  type DaemonHandle,
} from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { spawnVaultProcess } from '../support/vault.js';

describe('restore beside a running daemon', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let daemon: DaemonHandle | null = null;

  before(async () => {
    temp = await makeTempDir('keepsake-restore-daemon-');
  });
  after(async () => {
    daemon?.killGroup();
    await killAllChildren();
    await temp?.cleanup();
  });

  it('restores through the embedded vault the daemon serves, with no vault flags', async () => {
    const src = join(temp.dir, 'Camera');
    const dataDir = join(temp.dir, 'data');
    await mkdir(join(src, 'sub'), { recursive: true });
    await copyFile(corpusFile('exifr-fixtures/cookiezen.jpg'), join(src, 'a.jpg'));
    await copyFile(corpusFile('osxphotos/wedding.jpg'), join(src, 'sub', 'b.jpg'));
    const b = await runCli(['backup', src, '--data-dir', dataDir, '--json']);
    assert.equal(b.code, 0, describeRun(b));

    daemon = startDaemon(['--data-dir', dataDir]);
    await daemon.waitForOutput(/keepsake daemon ready/, 60_000);
    const out = join(temp.dir, 'out');
    const r = await runCli(['restore', '--to', out, '--data-dir', dataDir, '--json']);
    assert.equal(r.code, 0, describeRun(r));
    const summary = parseJsonOutput<{ restored: number; failed: number }>(r);
    assert.equal(summary.restored, 2);
    for (const rel of ['a.jpg', 'sub/b.jpg']) {
      assert.ok(
        (await readFile(join(out, 'Camera', rel))).equals(await readFile(join(src, rel))),
        rel,
      );
    }
    daemon.terminate();
    await daemon.waitForExit(30_000);
    daemon = null;
  });

  it('says what to do when another process holds the vault without saying where it listens', async () => {
    const dataDir = join(temp.dir, 'data-held');
    const held = await spawnVaultProcess({ dataDir: join(dataDir, 'vault') });
    try {
      const r = await runCli(['restore', '--to', join(temp.dir, 'out2'), '--data-dir', dataDir]);
      assert.equal(r.code, 2, describeRun(r));
      assert.match(r.stderr, /in use by process \d+/);
      assert.match(r.stderr, /--from URL --token TOKEN/);
    } finally {
      await held.stop();
    }
  });
});
