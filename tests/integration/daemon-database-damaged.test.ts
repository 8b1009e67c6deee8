// A database damaged while the daemon runs (SQLITE_CORRUPT met by a query, issue 9 item 8) no
// longer leaves the daemon paused until someone restarts it: the daemon sets the damaged file
// aside (renamed, never deleted), rebuilds from the folders and the vault in-process, and goes
// on backing up, uploading nothing the vault already holds. Real daemon, real vault, real
// SQLite file damaged mid-file (the pages of the files table, the header left whole).
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  VaultReader,
  describeRun,
  killAllChildren,
  parseJsonOutput,
  runCli,
  startDaemon,
  waitFor,
  type DaemonHandle,
} from '../support/cli.js';
import { damageTable } from '../support/damage-db.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { copyCorpusFiles, sha256Of } from '../support/tree.js';
import { startTestVault, type TestVault } from '../support/vault.js';

interface StatusReport {
  counts: Record<string, number>;
  storage: { code: string; message: string } | null;
}

describe('a database damaged while the daemon runs', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let vault: TestVault | null = null;
  let daemon: DaemonHandle | null = null;
  after(async () => {
    daemon?.killGroup();
    await killAllChildren();
    await vault?.close();
    for (const c of cleanups.reverse()) await c();
  });

  it('is set aside and rebuilt in-process, and backing up goes on without re-uploading', async () => {
    const temp = await makeTempDir('keepsake-damaged-db-');
    cleanups.push(temp.cleanup);
    const src = join(temp.dir, 'Photos');
    const dataDir = join(temp.dir, 'data');
    vault = await startTestVault();
    const reader = new VaultReader(vault.url, vault.token);
    const first = await copyCorpusFiles(src, [
      { corpus: 'ianare-exif-samples/jpg/gps/DSCN0010.jpg', dest: 'DSCN0010.jpg' },
      { corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg', dest: 'S40.jpg' },
    ]);
    daemon = startDaemon(
      ['--data-dir', dataDir, '--to', vault.url, '--token', vault.token, '--folder', src],
      { env: { KEEPSAKE_SETTLE_MS: '200' }, timeoutMs: 300_000 },
    );
    await daemon.waitForOutput(/keepsake daemon ready/);
    const status = async (): Promise<StatusReport> => {
      const run = await runCli(['status', '--data-dir', dataDir, '--json']);
      assert.equal(run.code, 0, describeRun(run));
      return parseJsonOutput<StatusReport>(run);
    };
    const safe = (s: StatusReport) => (s.counts.backed_up ?? 0) + (s.counts.duplicate ?? 0);
    await waitFor(async () => safe(await status()) === 2, {
      timeoutMs: 120_000,
      what: () => `the first photos backed up\n${daemon?.stderr() ?? ''}`,
    });
    const usageBefore = await reader.usage();

    damageTable(join(dataDir, 'keepsake.db'));
    // a new photo arrives: the daemon looks the path up in the damaged table
    const late = join(src, 'late.jpg');
    await copyFile(corpusFile('exifr-fixtures/noexif.jpg'), late);
    const lateSha = sha256Of(await readFile(late));

    await waitFor(async () => (await reader.check([lateSha])).has(lateSha), {
      timeoutMs: 120_000,
      what: () => `the new photo backed up after the rebuild\n${daemon?.stderr() ?? ''}`,
    });
    const after = await waitFor(
      async () => {
        const s = await status();
        return s.storage === null && safe(s) === 3 ? s : null;
      },
      { timeoutMs: 60_000, what: 'every photo safe again, no storage problem' },
    );
    assert.equal(after.counts.failed ?? 0, 0);
    // the damaged database was kept under another name
    const names = await readdir(dataDir);
    assert.ok(
      names.some((n) => n.startsWith('keepsake.db.corrupt-')),
      `set aside: ${names.join(', ')}`,
    );
    assert.ok(!names.includes('keepsake.db.damaged'), 'the damage mark went with it');
    // only the new photo was uploaded: the rebuild asked the vault about the others
    const usageAfter = await reader.usage();
    assert.equal(usageAfter.assets, usageBefore.assets + 1, JSON.stringify(usageAfter));
    const held = await reader.check(first.map((f) => f.sha256));
    for (const f of first) assert.ok(held.has(f.sha256));
    assert.match(daemon.stderr(), /rebuil/);
    // the daemon is still running, and stops cleanly
    daemon.terminate();
    const exit = await daemon.waitForExit(30_000);
    assert.equal(exit.code, 0, daemon.stderr().slice(-3000));
    daemon = null;
  });
});
