// `keepsake verify` beside another Keepsake process (issue 10 section 3, "without --to, the
// vault this data directory backs up to"): beside a running daemon the daemon runs the verify
// and keeps its receipt ([Note: Commands beside a running Keepsake]); beside a process that
// holds only the embedded vault, verify uses the lookup restore uses (useEmbeddedVault).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
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
import { blobPath, flipByte } from '../support/vault-damage.js';

interface Receipt {
  ok: boolean;
  files: number;
  filesProven: number;
  embedded: boolean;
}

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

  it('proves the files on the embedded vault the daemon serves, with no vault flags, and the daemon keeps the receipt and repairs what the vault lost', async () => {
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
    const receipt = parseJsonOutput<Receipt>(v);
    assert.equal(receipt.ok, true);
    assert.equal(receipt.files, 2);
    assert.equal(receipt.filesProven, 2);
    assert.equal(receipt.embedded, true);

    // The receipt is the daemon's: kept where the Overview and `keepsake status` read it.
    const status = await runCli(['status', '--data-dir', dataDir, '--json']);
    assert.equal(status.code, 0, describeRun(status));
    const last = parseJsonOutput<{ lastVerify: { filesProven: number } | null }>(status);
    assert.equal(last.lastVerify?.filesProven, 2);

    // A damaged blob: the same report and exit code as a verify of its own...
    const damaged = join(src, 'b.jpg');
    const sha = createHash('sha256')
      .update(await readFile(damaged))
      .digest('hex');
    await flipByte(blobPath(join(dataDir, 'vault'), sha), 100);
    const bad = await runCli(['verify', '--all', '--data-dir', dataDir]);
    assert.equal(bad.code, 1, describeRun(bad));
    assert.match(bad.stdout, /1 of 2 files .* proven on the embedded vault; 1 problem/);
    assert.match(bad.stdout, /damaged\s+\S*b\.jpg/);

    // ...and the daemon, which holds the original, uploads it again on its own.
    let healed: Receipt | null = null;
    for (let attempt = 0; attempt < 60 && healed?.ok !== true; attempt++) {
      if (attempt > 0) await delay(500);
      const again = await runCli(['verify', '--all', '--data-dir', dataDir, '--json']);
      healed = parseJsonOutput<Receipt>(again);
      assert.equal(again.code, healed.ok ? 0 : 1, describeRun(again));
    }
    assert.equal(healed?.filesProven, 2, JSON.stringify(healed));
    daemon.terminate();
    await daemon.waitForExit(30_000);
    daemon = null;
  });

  it('tells what to do when another Keepsake holds the data directory without offering its commands', async () => {
    const src = join(temp.dir, 'Busy');
    const dataDir = join(temp.dir, 'data-busy');
    await mkdir(src, { recursive: true });
    await copyFile(corpusFile('exifr-fixtures/cookiezen.jpg'), join(src, 'a.jpg'));
    const b = await runCli(['backup', src, '--data-dir', dataDir, '--json']);
    assert.equal(b.code, 0, describeRun(b));
    // A live process holding the lock, as a `keepsake backup` run does.
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {
      stdio: 'ignore',
    });
    try {
      await writeFile(join(dataDir, 'keepsake.lock'), `${holder.pid}\n`);
      const v = await runCli(['verify', '--all', '--data-dir', dataDir]);
      assert.equal(v.code, 2, describeRun(v));
      assert.match(v.stderr, new RegExp(`another Keepsake \\(pid ${holder.pid}\\)`));
      assert.match(v.stderr, /run verify again once it has finished/);
    } finally {
      holder.kill();
      await rm(join(dataDir, 'keepsake.lock'), { force: true });
    }
  });

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
