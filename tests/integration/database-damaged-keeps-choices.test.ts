// A database rebuilt after damage keeps what the person chose (issue 9 item 8): the folders
// added through the running daemon (with their rules) and the settings they changed come back
// from their copy beside the database, whether the damage is met mid-run (rebuilt in-process)
// or at a start, and backing up those folders goes on. Real daemon, real vault, real SQLite
// file damaged mid-file. See [Note: Choices outlive a rebuilt database].
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { CommandArgs, CommandName, CommandResult } from '../../common/contract.js';
import { invokeRunning, runningKeepsake } from '../../main/host/control-endpoint.js';
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

describe('a database rebuilt after damage keeps the watched folders and settings', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const daemons: DaemonHandle[] = [];
  after(async () => {
    for (const d of daemons) d.killGroup();
    await killAllChildren();
    for (const c of cleanups.reverse()) await c();
  });

  /** Two folders with photos (one with a screenshot its rule excludes), a vault, a daemon. */
  async function setUp(name: string) {
    const temp = await makeTempDir(`keepsake-${name}-`);
    cleanups.push(temp.cleanup);
    const vault: TestVault = await startTestVault();
    cleanups.push(() => vault.close());
    const camera = join(temp.dir, 'Camera');
    const phone = join(temp.dir, 'Phone');
    const dataDir = join(temp.dir, 'data');
    await copyCorpusFiles(camera, [
      { corpus: 'ianare-exif-samples/jpg/gps/DSCN0010.jpg', dest: 'DSCN0010.jpg' },
    ]);
    await copyCorpusFiles(phone, [
      { corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg', dest: 'S40.jpg' },
    ]);
    await mkdir(join(phone, 'screenshots'));
    await copyFile(
      corpusFile('exifr-fixtures/cookiezen.jpg'),
      join(phone, 'screenshots', 'shot.jpg'),
    );
    const start = async () => {
      const daemon = startDaemon(
        ['--data-dir', dataDir, '--to', vault.url, '--token', vault.token],
        {
          env: { KEEPSAKE_SETTLE_MS: '200' },
          timeoutMs: 300_000,
        },
      );
      daemons.push(daemon);
      await daemon.waitForOutput(/keepsake daemon ready/);
      return daemon;
    };
    const api = async <K extends CommandName>(
      command: K,
      args: CommandArgs<K>,
    ): Promise<CommandResult<K>> => {
      const control = runningKeepsake(dataDir)?.control;
      assert.ok(control, 'the daemon offers its commands');
      const answer = await invokeRunning(control, command, args, AbortSignal.timeout(60_000));
      assert.ok(answer.ok, JSON.stringify(answer));
      return answer.value;
    };
    const status = async (): Promise<StatusReport> => {
      const run = await runCli(['status', '--data-dir', dataDir, '--json']);
      assert.equal(run.code, 0, describeRun(run));
      return parseJsonOutput<StatusReport>(run);
    };
    const safe = (s: StatusReport) => (s.counts.backed_up ?? 0) + (s.counts.duplicate ?? 0);
    /** What the person chooses through the daemon: two folders, a rule, two settings. */
    const choose = async () => {
      await api('folders.add', { path: camera });
      await api('folders.add', { path: phone, exclude: ['screenshots/**'] });
      await api('settings.set', { key: 'bandwidthLimit', value: '8M' });
      await api('settings.set', { key: 'concurrency', value: 2 });
    };
    /** The choices are all there (asked of the running daemon). */
    const assertKept = async () => {
      const folders = await api('folders.list', {});
      assert.deepEqual(
        folders.map((f) => ({ path: f.path, include: f.include, exclude: f.exclude })),
        [
          { path: camera, include: [], exclude: [] },
          { path: phone, include: [], exclude: ['screenshots/**'] },
        ],
      );
      const settings = await api('settings.get', {});
      assert.equal(settings.bandwidthLimit.value, '8M');
      assert.equal(settings.bandwidthLimit.source, 'user');
      assert.equal(settings.concurrency.value, 2);
    };
    const reader = new VaultReader(vault.url, vault.token);
    /** A new photo in Phone reaches the vault. */
    const newPhotoBackedUp = async (what: string, daemon: DaemonHandle) => {
      const late = join(phone, `${what}.jpg`);
      await copyFile(corpusFile('exifr-fixtures/noexif.jpg'), late);
      const sha = sha256Of(await readFile(late));
      await waitFor(async () => (await reader.check([sha])).has(sha), {
        timeoutMs: 120_000,
        what: () => `${what} backed up after the rebuild\n${daemon.stderr()}`,
      });
    };
    const setAside = async () =>
      (await readdir(dataDir)).filter((n) => n.startsWith('keepsake.db.corrupt-'));
    return { dataDir, start, choose, assertKept, status, safe, newPhotoBackedUp, setAside };
  }

  it('keeps them when the damage is met while the daemon runs', async () => {
    const t = await setUp('choices-midrun');
    const daemon = await t.start();
    await t.choose();
    await waitFor(async () => t.safe(await t.status()) === 2, {
      timeoutMs: 120_000,
      what: () => `the first photos backed up\n${daemon.stderr()}`,
    });

    damageTable(join(t.dataDir, 'keepsake.db'));
    // a new photo arrives: the daemon looks its path up in the damaged table and rebuilds
    await t.newPhotoBackedUp('late', daemon);
    const after = await waitFor(
      async () => {
        const s = await t.status();
        return s.storage === null && t.safe(s) === 3 ? s : null;
      },
      { timeoutMs: 60_000, what: 'every photo safe again, no storage problem' },
    );
    assert.equal(after.counts.excluded, 1, JSON.stringify(after.counts));
    assert.equal((await t.setAside()).length, 1);
    await t.assertKept();
    daemon.terminate();
    assert.equal((await daemon.waitForExit(30_000)).code, 0, daemon.stderr().slice(-3000));
  });

  it('keeps them when the damage is found at the next start', async () => {
    const t = await setUp('choices-start');
    const first = await t.start();
    await t.choose();
    await waitFor(async () => t.safe(await t.status()) === 2, {
      timeoutMs: 120_000,
      what: () => `the first photos backed up\n${first.stderr()}`,
    });
    first.terminate();
    assert.equal((await first.waitForExit(30_000)).code, 0, first.stderr().slice(-3000));

    damageTable(join(t.dataDir, 'keepsake.db'));
    // started as the desktop app starts it: no --folder to re-add anything
    const second = await t.start();
    assert.equal((await t.setAside()).length, 1, second.stderr());
    await t.assertKept();
    await t.newPhotoBackedUp('after-restart', second);
    const after = await waitFor(
      async () => {
        const s = await t.status();
        return t.safe(s) === 3 ? s : null;
      },
      { timeoutMs: 60_000, what: 'every photo safe again' },
    );
    assert.equal(after.counts.excluded, 1, JSON.stringify(after.counts));
    second.terminate();
    assert.equal((await second.waitForExit(30_000)).code, 0, second.stderr().slice(-3000));
  });
});
