// The bandwidth cap people set is the bandwidth Keepsake uses: one budget shared by every
// concurrent upload, changed live. Functional checks with generous bounds, not speed tests.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { parseBandwidthLimit } from '../../main/engine/vault/bandwidth.js';
import { createTusUploader } from '../../main/engine/vault/tus-uploader.js';
import type { UploadJob } from '../../main/engine/vault/types.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeTempDir } from '../support/paths.js';
import { jobFor, randomFile, recordingCallbacks } from '../support/upload-fixtures.js';
import { type TestVault, startTestVault } from '../support/vault.js';

const MiB = 1024 * 1024;

async function closeVault(vault: TestVault | undefined): Promise<void> {
  if (!vault) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([vault.close(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
  clearTimeout(timer);
}

describe('bandwidth limit', () => {
  let vault: TestVault;
  let proxy: FaultProxy;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let jobs: UploadJob[];
  before(async () => {
    vault = await startTestVault();
    proxy = await startFaultProxy({ targetPort: Number(new URL(vault.url).port) });
    tmp = await makeTempDir('keepsake-upload-throttle-');
    jobs = [];
    for (let i = 0; i < 3; i++) {
      jobs.push(await jobFor(await randomFile(join(tmp.dir, `video-${i}.mp4`), 30 * MiB + i)));
    }
  });
  after(async () => {
    await proxy?.close();
    await closeVault(vault);
    await tmp?.cleanup();
  });

  it('3 concurrent uploads under a 4M cap send 4 MiB/s in total over 15 s (within 15%)', async (t) => {
    const cap = 4 * MiB;
    const uploader = createTusUploader({
      endpoint: proxy.url,
      token: vault.token,
      bandwidth: parseBandwidthLimit('4M'),
      logger: silentLogger,
      clock: systemClock,
    });
    const stop = new AbortController();
    try {
      const start = proxy.bytesForwarded;
      const t0 = performance.now();
      const running = jobs.map((job) =>
        uploader.upload(job, recordingCallbacks(), stop.signal).catch((e: unknown) => e),
      );
      await new Promise((r) => setTimeout(r, 15_000));
      const seconds = (performance.now() - t0) / 1000;
      const sent = proxy.bytesForwarded - start;
      stop.abort();
      const outcomes = await Promise.all(running);
      for (const o of outcomes) assert.ok(o instanceof Error && o.name === 'AbortError', String(o));
      const rate = sent / seconds;
      t.diagnostic(`${(rate / MiB).toFixed(3)} MiB/s in total over ${seconds.toFixed(1)} s`);
      assert.ok(
        Math.abs(rate - cap) / cap <= 0.15,
        `sent ${(rate / MiB).toFixed(2)} MiB/s under a 4 MiB/s cap`,
      );
    } finally {
      await uploader.close();
    }
  });

  it('a limit changed during an upload takes effect at once, and pause answers within a second', async () => {
    const uploader = createTusUploader({
      endpoint: proxy.url,
      token: vault.token,
      bandwidth: parseBandwidthLimit('256k'),
      logger: silentLogger,
      clock: systemClock,
    });
    try {
      const job = jobs[0] as UploadJob;
      const rec = recordingCallbacks();
      const pause = new AbortController();
      const t0 = performance.now();
      const running = uploader.upload(job, rec, pause.signal).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 1500));
      const slow = rec.progress.at(-1)?.bytesSent ?? 0;
      const slowSeconds = (performance.now() - t0) / 1000;
      // at most the rate times the time, plus the bucket's burst and one read slice
      assert.ok(
        slow <= 256 * 1024 * slowSeconds + 64 * 1024 + 256 * 1024,
        `${slow} bytes in ${slowSeconds.toFixed(2)} s at 256 KiB/s`,
      );
      // raised to 8 MiB/s, not lifted: unlimited on loopback sends the rest of the 30 MiB file
      // between two progress samples, and the pause below would find nothing left to stop
      uploader.setBandwidthLimit(8 * MiB);
      const deadline = performance.now() + 20_000;
      // until the vault confirms the first 8 MiB chunk, which the pause must keep
      while ((rec.offsets.at(-1) ?? 0) < 8 * MiB) {
        assert.ok(performance.now() < deadline, 'the raised limit did not take effect');
        await new Promise((r) => setTimeout(r, 20));
      }
      uploader.setBandwidthLimit(64 * 1024);
      const t = performance.now();
      pause.abort();
      const outcome = await running;
      assert.ok(
        outcome instanceof Error && outcome.name === 'AbortError',
        `expected an AbortError, got ${String(outcome)} (offsets ${rec.offsets.join(',')})`,
      );
      const pausedMs = performance.now() - t;
      assert.ok(pausedMs < 1000, `pause took ${pausedMs.toFixed(0)} ms`);
      const confirmed = rec.offsets.at(-1) ?? 0;
      assert.ok(confirmed > 0, 'the confirmed offset survives the pause');
    } finally {
      await uploader.close();
    }
  });
});
