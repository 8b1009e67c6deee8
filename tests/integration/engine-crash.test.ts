// Acceptance test of crash safety (issue 3 "Tests: Crash"): a `keepsake daemon` child is
// killed with SIGKILL at random moments (scan, hash, dedup check, upload, idle), restarted
// each time, while new photos keep arriving; then it runs to the end. Afterwards every photo
// present and stable is backed up (or a duplicate) on the vault with the same sha256, no
// content was uploaded twice, and no file is stuck in hashing or uploading.
//
// Randomized: prints its seed; replay with SEED=<seed> npm test -- engine-crash.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type DaemonHandle,
  VaultReader,
  describeRun,
  killAllChildren,
  listEngineFiles,
  metricSum,
  parseJsonOutput,
  runCli,
  startDaemon,
  waitFor,
} from '../support/cli.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { assertTreeUntouched, snapshotTree } from '../support/snapshot.js';
import { cleanJpegs, sha256Of, uniqueVariant } from '../support/tree.js';
import { startTestVault } from '../support/vault.js';

type TestVault = Awaited<ReturnType<typeof startTestVault>>;

/** mulberry32: a small seeded PRNG, so a failing run can be replayed exactly. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const kills = Number(process.env.CRASH_KILLS ?? 20);
const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

describe('kill -9 of the daemon', () => {
  let vault: TestVault;
  let reader: VaultReader;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    // a chunk size small enough that the bigger photos take several PATCHes
    vault = await startTestVault();
    reader = new VaultReader(vault.url, vault.token);
  });
  after(async () => {
    await killAllChildren();
    await vault?.close();
    for (const c of cleanups.reverse()) await c();
  });

  it(`loses nothing, uploads nothing twice and leaves nothing stuck after ${kills} kills at random moments (SEED=${seed})`, async () => {
    console.log(`engine-crash: SEED=${seed} (replay with SEED=${seed} npm test -- engine-crash)`);
    const random = seededRandom(seed);
    const src = (await makeTempDir('keepsake-src-')).dir;
    const dataDir = (await makeTempDir('keepsake-data-')).dir;
    cleanups.push(
      () => import('node:fs/promises').then((fs) => fs.rm(src, { recursive: true, force: true })),
      () =>
        import('node:fs/promises').then((fs) => fs.rm(dataDir, { recursive: true, force: true })),
    );

    // sources: small clean JPEGs and a few bigger camera photos (several upload chunks each)
    const small = cleanJpegs(40_000).map((r) => readFileSync(corpusFile(r.path)));
    const big = [
      'ianare-exif-samples/jpg/gps/DSCN0010.jpg',
      'osxphotos/wedding.jpg',
      'exifr-fixtures/cookiezen.jpg',
      'ianare-exif-samples/jpg/corrupted.jpg',
    ].map((p) => readFileSync(corpusFile(p)));
    const expected = new Map<string, string>(); // relPath -> sha256
    let n = 0;
    const addPhotos = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const base =
          random() < 0.25
            ? big[Math.floor(random() * big.length)]!
            : small[Math.floor(random() * small.length)]!;
        const bytes = uniqueVariant(base, `crash:${seed}:${n}`);
        const rel = `batch${String(Math.floor(n / 10)).padStart(2, '0')}/IMG_${String(n).padStart(4, '0')}.jpg`;
        await mkdir(join(src, rel, '..'), { recursive: true });
        await writeFile(join(src, rel), bytes);
        expected.set(rel, sha256Of(bytes));
        n++;
      }
    };
    await addPhotos(20);

    // Small chunks and a bandwidth cap make the bigger photos take several PATCHes over a
    // second or more, so kills land mid-upload too, not only between files.
    const daemonArgs = [
      '--data-dir',
      dataDir,
      '--to',
      vault.url,
      '--token',
      vault.token,
      '--folder',
      src,
      '--chunk-size',
      '256K',
      '--bwlimit',
      '3M',
    ];

    let daemon: DaemonHandle | null = null;
    const deadline = performance.now() + 180_000;
    let done = 0;
    const progress: string[] = []; // kill delay and vault progress at each kill, for the log
    try {
      for (; done < kills && performance.now() < deadline; done++) {
        daemon = startDaemon(daemonArgs);
        // A random moment: a third of the kills while the daemon is still starting (database
        // open, crash recovery, reconcile scan), the rest at a random time after it said it
        // was ready (hashing, dedup check, uploading, idle).
        let delay: string;
        if (random() < 1 / 3) {
          const ms = Math.floor(random() * 1500);
          await new Promise((r) => setTimeout(r, ms));
          delay = `start+${ms}`;
        } else {
          const ms = Math.floor(random() * 2500);
          await daemon.waitForOutput(/keepsake daemon ready/, 60_000);
          await new Promise((r) => setTimeout(r, ms));
          delay = `ready+${ms}`;
        }
        daemon.kill9();
        const exit = await daemon.waitForExit(10_000);
        if (exit.signal !== 'SIGKILL') {
          assert.fail(
            `daemon exited on its own before the kill (${JSON.stringify(exit)}):\n${daemon.stdout()}\n${daemon.stderr()}`,
          );
        }
        daemon.killGroup(); // exiftool and friends, as a crashed machine would lose them
        progress.push(`${delay}:${(await reader.usage()).assets}/${expected.size}`);
        // new photos keep arriving between crashes
        if (random() < 0.6) await addPhotos(1 + Math.floor(random() * 3));
      }
      console.log(`engine-crash: kills at (delay:vault assets/photos) ${progress.join(' ')}`);
      assert.ok(done >= Math.min(kills, 20), `at least 20 kills in the time bound (did ${done})`);

      // the last start runs to the end
      const before = await snapshotTree(src);
      daemon = startDaemon(daemonArgs);
      // (the previous daemons may have finished everything: the stop below must still find
      // this one running, past its start-up)
      await daemon.waitForOutput(/keepsake daemon ready/, 60_000);
      const shas = [...expected.values()];
      await waitFor(async () => (await reader.check(shas)).size === shas.length, {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: () => `all ${shas.length} photos on the vault`,
      });
      // and the engine's own record settles (status reads the database beside the daemon)
      let lastStatus = '';
      await waitFor(
        async () => {
          const st = await runCli(['status', '--data-dir', dataDir, '--json']);
          lastStatus = st.stdout;
          const c = parseJsonOutput<{ counts: Record<string, number> }>(st).counts;
          const pending =
            (c.discovered ?? 0) + (c.hashing ?? 0) + (c.queued ?? 0) + (c.uploading ?? 0);
          return pending === 0 && (c.backed_up ?? 0) + (c.duplicate ?? 0) >= expected.size;
        },
        {
          timeoutMs: 60_000,
          intervalMs: 500,
          what: () => `the daemon to record every photo as safe; last status ${lastStatus}`,
        },
      );
      // then stop it cleanly
      daemon.terminate();
      const exit = await daemon.waitForExit(30_000);
      assert.equal(
        exit.code,
        0,
        `clean stop on SIGTERM: ${JSON.stringify(exit)}\n${daemon.stdout()}\n${daemon.stderr()}`,
      );
      await assertTreeUntouched(src, before);
    } finally {
      daemon?.killGroup();
    }

    // the engine's own view: every file backed up or duplicate, nothing stuck
    const status = await runCli(['status', '--data-dir', dataDir, '--json']);
    assert.equal(status.code, 0, describeRun(status));
    parseJsonOutput(status);
    const rows = await listEngineFiles(dataDir);
    const stuck = rows.filter((r) => r.state === 'hashing' || r.state === 'uploading');
    assert.deepEqual(
      stuck.map((r) => `${r.relPath}: ${r.state}`),
      [],
      'nothing stuck',
    );
    for (const [rel, sha] of expected) {
      const row = rows.find((r) => r.relPath === rel);
      assert.ok(row, `${rel} known (SEED=${seed})`);
      assert.ok(
        ['backed_up', 'duplicate'].includes(row.state),
        `${rel}: ${row.state} (SEED=${seed})`,
      );
      assert.equal(row.sha256, sha, `${rel} hash`);
    }
    // the vault: each content exactly once, and never received twice
    const assets = await reader.listAssets();
    const held = new Map(assets.map((a) => [a.sha256, a]));
    for (const [rel, sha] of expected) assert.ok(held.has(sha), `${rel} on the vault`);
    const metrics = await reader.metricsText();
    assert.equal(
      metricSum(metrics, /^keepsake_vault_uploads_deduplicated_total$/),
      0,
      `no finished upload of content the vault already held (SEED=${seed})`,
    );
    assert.equal(
      metricSum(metrics, /^keepsake_vault_uploads_finished_total$/),
      expected.size,
      `uploads finished = distinct photos (SEED=${seed})`,
    );
  });
});
