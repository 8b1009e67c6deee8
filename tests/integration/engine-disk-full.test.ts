// Keepsake's own disk full (issue 9, item 7): the data directory on a real, size-limited
// tmpfs with too little room for the database. `keepsake backup` stops at once with words a
// person can act on and exit 1 (it used to spin at 90 % CPU, print nothing and ignore
// signals); a running engine (the daemon) pauses with the reason in its status, tries again
// on its clock, and goes on by itself once space is freed; nothing is lost and nothing the
// vault holds is uploaded twice. Where mounting is refused the tests skip with that reason.
// See [Note: Storage faults] in main/engine/store/database.ts.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Engine } from '../../main/engine/api.js';
import {
  VaultReader,
  describeRun,
  killAllChildren,
  listEngineFiles,
  listFiles,
  openEngine,
  parseJsonOutput,
  runCli,
  waitFor,
  type BackupSummary,
} from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import { mountSmallDisk } from '../support/small-disk.js';
import { cleanJpegs, generateUniqueFiles, type GeneratedTree } from '../support/tree.js';
import { startTestVault, type TestVault } from '../support/vault.js';

const KiB = 1024;

describe("Keepsake's data directory on a full disk", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    await killAllChildren();
    for (const c of cleanups.reverse()) await c();
  });

  /**
   * A 16 MiB disk with `freeKiB` left (room for an empty database, not for a scan of the
   * folder; once the filler goes, room for the whole run), a vault elsewhere, and a folder of
   * `count` small unique photos.
   */
  async function setup(
    freeKiB: number,
    count: number,
  ): Promise<
    | { skip: string }
    | {
        dataDir: string;
        filler: string;
        vault: TestVault;
        reader: VaultReader;
        photos: string;
        tree: GeneratedTree;
      }
  > {
    const disk = await mountSmallDisk(16);
    if ('skip' in disk) return disk;
    cleanups.push(disk.unmount);
    const filler = join(disk.dir, 'filler.bin');
    await writeFile(filler, Buffer.alloc(16 * 1024 * KiB - freeKiB * KiB, 0xaa));
    const vault = await startTestVault();
    cleanups.push(() => vault.close());
    const photos = await makeTempDir('keepsake-disk-full-photos-');
    cleanups.push(photos.cleanup);
    const tree = await generateUniqueFiles(photos.dir, {
      count,
      folders: 4,
      sources: cleanJpegs(12_000).map((r) => r.path),
      uniqueTag: `disk-full-${process.pid}-${Date.now()}`,
    });
    return {
      dataDir: join(disk.dir, 'data'),
      filler,
      vault,
      reader: new VaultReader(vault.url, vault.token),
      photos: photos.dir,
      tree,
    };
  }

  it('`keepsake backup` stops with "not enough disk space for Keepsake\'s database in DIR" and exit 1, and a run after space is freed backs up everything', async (t) => {
    const s = await setup(600, 1500);
    if ('skip' in s) return t.skip(s.skip);
    const args = ['backup', s.photos, '--data-dir', s.dataDir, '--to', s.vault.url, '--json'];
    const env = { KEEPSAKE_TOKEN: s.vault.token, KEEPSAKE_SETTLE_MS: '0' };
    const full = await runCli(args, { env, timeoutMs: 60_000 });
    assert.equal(full.timedOut, false, describeRun(full));
    assert.equal(full.code, 1, describeRun(full));
    assert.ok(
      full.stderr.includes(`not enough disk space for Keepsake's database in ${s.dataDir}`),
      describeRun(full),
    );
    assert.doesNotMatch(full.stderr, /SqliteError|at .*\.ts:\d+/, 'no stack trace');

    // Space freed: the next run resumes cleanly and backs up every photo, each once.
    await rm(s.filler);
    const ok = await runCli(args, { env, timeoutMs: 120_000 });
    assert.equal(ok.code, 0, describeRun(ok));
    const summary = parseJsonOutput<BackupSummary>(ok);
    assert.equal(summary.failed, 0);
    assert.equal(summary.backedUp + summary.duplicates, s.tree.files);
    const held = await s.reader.assetsBySha();
    for (const [rel, sha] of s.tree.hashes) assert.ok(held.has(sha), `${rel} on the vault`);
    const rows = await listEngineFiles(s.dataDir);
    assert.ok(rows.every((r) => r.state === 'backed_up' || r.state === 'duplicate'));
  });

  it('a running engine pauses with reason disk_full, tries again on its clock, and goes on by itself once space is freed', async (t) => {
    const s = await setup(600, 1500);
    if ('skip' in s) return t.skip(s.skip);
    const engine: Engine = await openEngine(
      s.dataDir,
      { url: s.vault.url, token: s.vault.token },
      { diskFullRetryMs: 200, settleMs: 0, createWatcher: null, reconcileIntervalMs: 0 },
    );
    cleanups.push(() => engine.close());
    const activity: string[] = [];
    engine.on('activity', (e) => activity.push(e.message));
    await engine.api['folders.add']({ path: s.photos });
    await engine.start();
    const paused = await waitFor(
      async () => {
        const st = await engine.api['status.get']({});
        return st.pauseReason === 'disk_full' ? st : null;
      },
      { what: 'the engine to pause on the full disk', timeoutMs: 60_000 },
    );
    assert.equal(paused.status, 'needs_attention');
    assert.ok(
      activity.some((m) =>
        m.includes(`not enough disk space for Keepsake's database in ${s.dataDir}`),
      ),
      activity.join('\n'),
    );
    // Still full: it keeps trying and stays paused (a few retry periods pass).
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await engine.api['status.get']({})).pauseReason, 'disk_full');
    // `keepsake status` beside it says so too (the engine cannot write it down).
    const status = await runCli(['status', '--data-dir', s.dataDir, '--json']);
    assert.equal(status.code, 0, describeRun(status));
    const report = parseJsonOutput<{ storage: { code: string; message: string } | null }>(status);
    assert.equal(report.storage?.code, 'disk_full', status.stdout);
    assert.match(report.storage.message, /not enough disk space for Keepsake's database in /);

    await rm(s.filler);
    await waitFor(
      async () => {
        const st = await engine.api['status.get']({});
        return (
          st.pauseReason === null && st.status === 'up_to_date' && st.filesSafe === s.tree.files
        );
      },
      { what: 'every photo backed up after space was freed', timeoutMs: 120_000 },
    );
    const rows = await listFiles(engine);
    assert.equal(rows.length, s.tree.files);
    const held = await s.reader.assetsBySha();
    for (const [rel, sha] of s.tree.hashes) assert.ok(held.has(sha), `${rel} on the vault`);
  });
});
