// A restore killed with SIGKILL mid-file, twice, continues where it stopped (issue 10 tests):
// the finished file is byte-identical with its mtime, and the vault sent at most one chunk
// per kill twice (what was in flight when the process died).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killAllChildren, parseJsonOutput, runCli, describeRun } from '../support/cli.js';
import { startDownloadMeter, type DownloadMeter } from '../support/download-meter.js';
import { makeTempDir } from '../support/paths.js';
import { startTestVault, uploadBuffer, vaultFetch, type TestVault } from '../support/vault.js';

const SIZE = 40 * 1024 * 1024;
/**
 * What one kill may cost: what the restore had received but not yet written. The test holds
 * the download and lets the restore drain the socket buffers before each kill, so bytes a
 * slow (loaded) client had not yet read from the kernel do not count against it: those
 * depend on the machine's load, not on the restore.
 */
const CHUNK = 1024 * 1024;
const MTIME_MS = Date.parse('2018-07-14T10:20:30Z');

interface RestoreJson {
  files: number;
  restored: number;
  skipped: number;
  failed: number;
  bytesDownloaded: number;
}

describe('restore: resume after kill -9', () => {
  let vault: TestVault;
  let meter: DownloadMeter;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  const data = randomBytes(SIZE);

  before(async () => {
    temp = await makeTempDir('keepsake-restore-kill-');
    vault = await startTestVault();
    const up = await uploadBuffer(vault, data);
    assert.equal(up.res.status, 201, up.text);
    const reg = await vaultFetch(vault, '/api/v1/locations', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        deviceId: 'laptop-1',
        deviceName: 'laptop',
        locations: [
          {
            sha256: up.sha256,
            folder: 'Videos',
            path: 'big/holiday.mov',
            size: SIZE,
            mtimeMs: MTIME_MS,
          },
        ],
      }),
    });
    assert.equal(reg.status, 200);
    meter = await startDownloadMeter(vault.url);
  });
  after(async () => {
    await killAllChildren();
    await meter?.close();
    await vault?.close();
    await temp?.cleanup();
  });

  /** Size of the one partial file under `dir`, or 0. */
  async function partialSize(dir: string): Promise<number> {
    try {
      const names = await readdir(dir);
      const partial = names.find((n) => n.startsWith('.keepsake-partial-'));
      return partial === undefined ? 0 : (await stat(join(dir, partial))).size;
    } catch {
      return 0;
    }
  }

  it('a restore killed twice mid-file finishes with at most one chunk per kill fetched twice', async () => {
    const out = join(temp.dir, 'out');
    const dir = join(out, 'Videos', 'big');
    const args = ['restore', '--to', out, '--from', meter.url, '--token', vault.token, '--json'];
    // Slow enough that a kill lands mid-file, on any machine.
    meter.setRate(8 * 1024 * 1024);
    for (const fraction of [0.3, 0.6]) {
      let pid = 0;
      const run = runCli(args, { onSpawn: (p) => (pid = p), timeoutMs: 120_000 });
      for (;;) {
        if ((await partialSize(dir)) >= SIZE * fraction) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      // hold the download, and wait until the partial stops growing: the restore has read
      // everything that was sent, and holds at most its unwritten buffer
      meter.setRate(0);
      let size = await partialSize(dir);
      for (let still = 0; still < 10;) {
        await new Promise((r) => setTimeout(r, 50));
        const now = await partialSize(dir);
        still = now === size ? still + 1 : 0;
        size = now;
      }
      process.kill(-pid, 'SIGKILL');
      const killed = await run;
      assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
      const kept = await partialSize(dir);
      assert.ok(kept >= SIZE * fraction && kept < SIZE, `partial holds ${kept} bytes`);
      meter.setRate(8 * 1024 * 1024);
    }
    meter.setRate(null);
    const done = await runCli(args);
    assert.equal(done.code, 0, describeRun(done));
    const summary = parseJsonOutput<RestoreJson>(done);
    assert.equal(summary.restored, 1);
    const target = join(dir, 'holiday.mov');
    assert.ok((await readFile(target)).equals(data), 'restored bytes are the original');
    assert.equal(Math.floor((await stat(target)).mtimeMs), MTIME_MS);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('.keepsake-partial-')),
      [],
      'no partial left behind',
    );
    const twice = meter.bytesServed - SIZE;
    process.stdout.write(`# bytes fetched twice over 2 kills: ${twice}\n`);
    assert.ok(twice >= 0);
    assert.ok(twice <= 2 * CHUNK, `${twice} bytes were fetched twice (at most ${2 * CHUNK})`);
  });
});
