// Numbers that agree (issue 9 items 12-14): what `keepsake backup` says it sent, how it names
// duplicates and where it says the backup went, and the engine's status while bytes flow.
// Real parts: the CLI as a child process, a real vault on loopback (behind the fault proxy
// where the link must be slow), real corpus files and real SQLite data directories.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { EngineStatus } from '../../common/contract.js';
import type { KeepsakeEngine } from '../../main/engine/api.js';
import { createEngine } from '../../main/engine/engine.js';
import { silentLogger } from '../../main/engine/ports.js';
import {
  type BackupSummary,
  describeRun,
  killAllChildren,
  parseJsonOutput,
  runCli,
  waitFor,
} from '../support/cli.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { corpusFile, makeTempDir } from '../support/paths.js';
import { cleanJpegs, copyCorpusFiles, standardSample, uniqueVariant } from '../support/tree.js';
import { startTestVault, type TestVault } from '../support/vault.js';

const MiB = 1024 * 1024;

describe('numbers that agree', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await killAllChildren();
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
  });

  async function tempDir(prefix: string): Promise<string> {
    const t = await makeTempDir(prefix);
    cleanups.push(t.cleanup);
    return t.dir;
  }
  async function vault(): Promise<TestVault> {
    const v = await startTestVault();
    cleanups.push(() => v.close());
    return v;
  }
  async function proxyTo(v: TestVault): Promise<FaultProxy> {
    const p = await startFaultProxy({ targetPort: Number(new URL(v.url).port) });
    cleanups.push(() => p.close());
    return p;
  }

  it('after kill -9 mid-upload, the next run reports only the bytes it sent again', async () => {
    const v = await vault();
    const proxy = await proxyTo(v);
    const src = await tempDir('keepsake-numbers-src-');
    const dataDir = await tempDir('keepsake-numbers-data-');
    const size = 12 * MiB + 4321;
    await writeFile(join(src, 'clip.mp4'), randomBytes(size));
    const args = (url: string) => [
      'backup',
      src,
      '--to',
      url,
      '--token',
      v.token,
      '--data-dir',
      dataDir,
      '--chunk-size',
      '1M',
      '--json',
    ];
    // A slow link, so the kill lands mid-file with several chunks confirmed.
    proxy.setFault({ kind: 'throttle', bytesPerSecond: 4 * MiB });
    let pid = 0;
    const first = runCli(args(proxy.url), { onSpawn: (p) => (pid = p) });
    const start = proxy.bytesForwarded;
    await waitFor(() => proxy.bytesForwarded - start > 6 * MiB, {
      what: 'six MiB on the wire',
      intervalMs: 10,
    });
    process.kill(pid, 'SIGKILL');
    const killed = await first;
    assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
    const sentBefore = proxy.bytesForwarded - start;
    proxy.setFault(null);

    const second = await runCli(args(v.url));
    assert.equal(second.code, 0, describeRun(second));
    const s = parseJsonOutput<BackupSummary>(second);
    assert.equal(s.backedUp, 1);
    assert.ok(s.bytesUploaded > 0, `the rest was sent: ${JSON.stringify(s)}`);
    // The vault kept what it confirmed; at most the chunk in flight at the kill is sent again.
    assert.ok(
      s.bytesUploaded <= size - sentBefore + 2 * MiB,
      `the resumed run sent ${s.bytesUploaded} of ${size} bytes after ${sentBefore} went before the kill`,
    );
    assert.ok(s.bytesUploaded < size, 'not the whole file again');
  });

  it('on a brand-new vault, a second copy in the folder is "a duplicate of another file here", and --dry-run predicted it', async () => {
    const v = await vault();
    const src = await tempDir('keepsake-numbers-src-');
    const dataDir = await tempDir('keepsake-numbers-data-');
    const jpeg = cleanJpegs(2 * MiB)[0];
    assert.ok(jpeg, 'the corpus has a clean JPEG');
    // The same photo three times under different names (a person's copies), and one other.
    for (const name of ['a.jpg', 'copy of a.jpg', 'again a.jpg']) {
      await copyFile(corpusFile(jpeg.path), join(src, name));
    }
    await copyCorpusFiles(src, standardSample.slice(0, 1));
    const backup = (extra: string[]) =>
      runCli(['backup', src, '--to', v.url, '--token', v.token, '--data-dir', dataDir, ...extra]);

    const dry = await backup(['--json', '--dry-run']);
    assert.equal(dry.code, 0, describeRun(dry));
    const predicted = parseJsonOutput<BackupSummary>(dry);
    const wouldUpload = predicted.wouldUpload as { path: string }[];
    const dupes = predicted.duplicatesOfFilesHere as { path: string; of: string }[];
    assert.equal(
      wouldUpload.length,
      2,
      `one of the three copies, and the other photo: ${dry.stdout}`,
    );
    assert.equal(dupes.length, 2, `the other two copies are predicted duplicates: ${dry.stdout}`);
    for (const d of dupes) assert.match(d.of, /a\.jpg$/);
    assert.equal(predicted.duplicates, 2);

    const real = await backup([]);
    assert.equal(real.code, 0, describeRun(real));
    assert.match(real.stdout, /2 duplicates of another file here, 0 already on the vault/);
    assert.doesNotMatch(real.stdout, /[1-9]\d* already on the vault/);

    const again = await backup(['--json']);
    const s = parseJsonOutput<BackupSummary>(again);
    assert.equal(s.duplicates, predicted.duplicates, 'the dry run said what the real run did');
    assert.equal(s.duplicatesHere, 2);
    assert.equal(s.bytesUploaded, 0);
  });

  it('without --to, the summary says the copy is in the embedded vault on the same disk as the photos', async () => {
    const src = await tempDir('keepsake-numbers-src-');
    const dataDir = await tempDir('keepsake-numbers-data-');
    await copyCorpusFiles(src, standardSample.slice(0, 2));
    const run = await runCli(['backup', src, '--data-dir', dataDir]);
    assert.equal(run.code, 0, describeRun(run));
    // Both temp directories are on one filesystem, as a quick start's are.
    assert.match(
      run.stdout,
      new RegExp(
        `into the embedded vault in ${join(dataDir, 'vault').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, on the same disk as your photos`,
      ),
      run.stdout,
    );
    assert.doesNotMatch(run.stdout, /127\.0\.0\.1/, 'no temporary loopback address');
    const json = await runCli(['backup', src, '--data-dir', dataDir, '--json']);
    const s = parseJsonOutput<BackupSummary>(json);
    assert.deepEqual(
      { ...(s.vault as Record<string, unknown>), url: undefined },
      { url: undefined, embedded: true, dir: join(dataDir, 'vault'), sameDiskAsPhotos: true },
    );
  });

  it('while files upload, the speed is never 0 and "uploading now" matches the uploading count', async () => {
    const v = await vault();
    const src = await tempDir('keepsake-numbers-src-');
    const data = await tempDir('keepsake-numbers-data-');
    // Small photos (they go in batches) and one large video (it goes by tus).
    for (const [i, row] of cleanJpegs(1 * MiB)
      .slice(-40)
      .entries()) {
      const bytes = uniqueVariant(await readFile(corpusFile(row.path)), String(i));
      await writeFile(join(src, `${i}-${row.path.split('/').pop()}`), bytes);
    }
    await writeFile(join(src, 'clip.mp4'), randomBytes(6 * MiB));
    const engine: KeepsakeEngine = await createEngine({
      dataDir: data,
      vault: { url: v.url, token: v.token },
      logger: silentLogger,
      metadataReader: null,
      createWatcher: null,
      settleMs: 0,
      overrides: { bandwidthLimit: '2M', chunkSizeBytes: 512 * 1024 },
    });
    cleanups.push(() => engine.close());
    const seen: EngineStatus[] = [];
    engine.on('status', (s) => seen.push(s));
    await engine.api['folders.add']({ path: src });
    await engine.start();
    const samples: EngineStatus[] = [];
    const settled = engine.whenSettled(AbortSignal.timeout(120_000));
    let done = false;
    void settled.then(() => (done = true));
    while (!done) {
      samples.push(await engine.api['status.get']({}));
      await new Promise((r) => setTimeout(r, 100));
    }
    await settled;
    const flowing = samples.filter((s) => s.current.some((c) => c.bytesSent > 0));
    assert.ok(flowing.length >= 5, `sampled the upload in flight (${flowing.length} samples)`);
    for (const s of [...samples, ...seen]) {
      assert.equal(
        s.current.length,
        s.counts.uploading,
        `"uploading now" lists what the counts call uploading: ${JSON.stringify(s.current.map((c) => c.path))} vs ${s.counts.uploading}`,
      );
      const sent = s.current.reduce((n, c) => n + c.bytesSent, 0);
      assert.ok(sent <= s.current.reduce((n, c) => n + c.bytesTotal, 0));
    }
    // Once bytes have flowed for a moment, the speed reads what is flowing, never 0.
    const steady = flowing.slice(2);
    for (const s of steady) {
      assert.ok(
        s.throughputBytesPerSecond > 0,
        `speed while ${s.current.length} files upload: ${s.throughputBytesPerSecond}`,
      );
    }
    // Small files in a batch show their own progress too (a batch used to read 0 bytes).
    assert.ok(
      samples.some((s) => s.current.length > 1 && s.current.some((c) => c.bytesSent > 0)),
      'a batch in flight shows bytes sent',
    );
    // And the rate is in the right range for a 2 MiB/s cap (never 0, never far above).
    const peak = Math.max(...steady.map((s) => s.throughputBytesPerSecond));
    assert.ok(peak <= 4 * MiB, `peak ${peak} B/s under a 2 MiB/s cap`);
    const final = await engine.api['status.get']({});
    assert.equal(final.current.length, 0);
    assert.equal(final.throughputBytesPerSecond, 0, 'nothing in flight reads 0');
    // Every file distinct: each byte was sent at least once, and (no faults) only once.
    assert.equal(final.counts.duplicate, 0);
    assert.equal(engine.bytesUploaded(), final.bytesSafe);
  });
});
