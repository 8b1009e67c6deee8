// `keepsake verify` with the embedded vault while another Keepsake process holds it (issue 10
// section 3, "without --to, the vault this data directory backs up to"): verify uses the
// lookup restore uses (useEmbeddedVault, [Note: Finding a running embedded vault]).
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
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

describe('verify beside a running daemon', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let daemon: DaemonHandle | null = null;

  before(async () => {
    temp = await makeTempDir('keepsake-verify-daemon-');
  });
  after(async () => {
    daemon?.killGroup();
    await killAllChildren();
    await temp?.cleanup();
  });

  it(
    'proves the files on the embedded vault the daemon serves, with no vault flags',
    {
      // verify opens the data directory's database under its lock (to keep the receipt and
      // queue repairs), which the daemon holds: it stops at data_dir_locked before the vault.
      todo: 'verify needs the database beside a daemon that holds the data directory lock',
    },
    async () => {
      const src = join(temp.dir, 'Camera');
      const dataDir = join(temp.dir, 'data');
      await mkdir(src, { recursive: true });
      await copyFile(corpusFile('exifr-fixtures/cookiezen.jpg'), join(src, 'a.jpg'));
      await copyFile(corpusFile('osxphotos/wedding.jpg'), join(src, 'b.jpg'));
      const b = await runCli(['backup', src, '--data-dir', dataDir, '--json']);
      assert.equal(b.code, 0, describeRun(b));

      daemon = startDaemon(['--data-dir', dataDir]);
      await daemon.waitForOutput(/keepsake daemon ready/, 60_000);
      const v = await runCli(['verify', '--all', '--data-dir', dataDir, '--json']);
      assert.equal(v.code, 0, describeRun(v));
      const receipt = parseJsonOutput<{ ok: boolean; files: number; filesProven: number }>(v);
      assert.equal(receipt.ok, true);
      assert.equal(receipt.files, 2);
      assert.equal(receipt.filesProven, 2);
      daemon.terminate();
      await daemon.waitForExit(30_000);
      daemon = null;
    },
  );

  it('says what to do when another process holds the vault without saying where it listens', async () => {
    const src = join(temp.dir, 'Held');
    const dataDir = join(temp.dir, 'data-held');
    await mkdir(src, { recursive: true });
    await copyFile(corpusFile('exifr-fixtures/cookiezen.jpg'), join(src, 'a.jpg'));
    const b = await runCli(['backup', src, '--data-dir', dataDir, '--json']);
    assert.equal(b.code, 0, describeRun(b));
    const held = await spawnVaultProcess({ dataDir: join(dataDir, 'vault') });
    try {
      const v = await runCli(['verify', '--all', '--data-dir', dataDir, '--json']);
      assert.equal(v.code, 2, describeRun(v));
      assert.match(v.stderr, /in use by process \d+/);
      assert.match(v.stderr, /--to URL --token TOKEN/);
    } finally {
      await held.stop();
    }
  });
});
