// Progress a person sees: a few samples a second at most, a smoothed rate and an ETA; and
// URLs in logs and errors that never carry credentials.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../../../../main/engine/ports.js';
import { redactUrl } from '../../../../main/engine/vault/http-client.js';
import { ProgressMeter, ThroughputMeter } from '../../../../main/engine/vault/progress.js';
import { backoffDelay } from '../../../../main/engine/pipeline/backoff.js';
import type { UploadProgressSample } from '../../../../main/engine/vault/types.js';

function steppingClock(): Clock & { set(ms: number): void } {
  let now = 1_000_000;
  return {
    now: () => now,
    setTimeout: () => ({}),
    clearTimeout: () => {},
    sleep: () => Promise.resolve(),
    set: (ms) => (now = 1_000_000 + ms),
  };
}

describe('ThroughputMeter', () => {
  it('reads the bytes of the last seconds across uploads, not 0 between files', () => {
    const clock = steppingClock();
    const meter = new ThroughputMeter(clock);
    assert.equal(meter.rate(), 0, 'nothing sent yet');
    // 1 MiB every 250 ms from several uploads, with a gap of 400 ms between two files
    let t = 0;
    for (let i = 0; i < 12; i++) {
      clock.set(t);
      meter.record(512 * 1024);
      meter.record(512 * 1024);
      t += i === 6 ? 400 : 250;
    }
    clock.set(t - 100);
    const rate = meter.rate();
    assert.ok(rate > 3 * 1024 * 1024 && rate < 5 * 1024 * 1024, `about 4 MiB/s: ${rate}`);
    assert.equal(meter.bytes(), 12 * 1024 * 1024);
    // the first moments of a burst read its real rate, not a fraction of it
    const fresh = new ThroughputMeter(clock);
    fresh.record(1024 * 1024);
    clock.set(t + 150);
    assert.ok(fresh.rate() >= 2 * 1024 * 1024, `a fresh burst: ${fresh.rate()}`);
    // a quiet spell reads 0
    clock.set(t + 10_000);
    assert.equal(meter.rate(), 0);
  });
});

describe('ProgressMeter', () => {
  it('emits at most four samples a second, with rate and ETA from the last seconds', () => {
    const clock = steppingClock();
    const samples: UploadProgressSample[] = [];
    const meter = new ProgressMeter(clock, 7, 10_000_000, (s) => samples.push(s));
    // 1 MB/s for 5 s, reported every 10 ms
    for (let ms = 0; ms <= 5000; ms += 10) {
      clock.set(ms);
      meter.update(ms * 1000);
    }
    assert.ok(samples.length <= 5 * 4 + 1, `${samples.length} samples in 5 s`);
    const last = samples.at(-1);
    assert.equal(last?.fileId, 7);
    assert.equal(last?.bytesTotal, 10_000_000);
    assert.ok(Math.abs((last?.bytesPerSecond ?? 0) - 1_000_000) < 50_000, JSON.stringify(last));
    assert.ok(last?.etaSeconds !== null && Math.abs((last?.etaSeconds ?? 0) - 5) <= 1);
  });

  it('a forced sample always goes out (start, end), and the end has ETA 0', () => {
    const clock = steppingClock();
    const samples: UploadProgressSample[] = [];
    const meter = new ProgressMeter(clock, 1, 100, (s) => samples.push(s));
    meter.update(0, true);
    meter.update(100, true);
    assert.equal(samples.length, 2);
    assert.equal(samples[1]?.etaSeconds, 0);
  });

  it('an unknown rate gives no ETA rather than a made-up one', () => {
    const clock = steppingClock();
    const samples: UploadProgressSample[] = [];
    new ProgressMeter(clock, 1, 100, (s) => samples.push(s)).update(10, true);
    assert.equal(samples[0]?.etaSeconds, null);
  });
});

describe('redactUrl and backoff', () => {
  it('strips credentials and token-like parameters from URLs', () => {
    assert.equal(
      redactUrl('https://user:pass@vault.example/files/abc?token=s3cret&x=1'),
      'https://vault.example/files/abc?token=REDACTED&x=1',
    );
  });

  it('backoff doubles per attempt, is capped, and jitters between 50% and 100%', () => {
    assert.equal(
      backoffDelay({ baseMs: 100, maxMs: 10_000, maxAttempts: 1 }, 1, () => 1),
      100,
    );
    assert.equal(
      backoffDelay({ baseMs: 100, maxMs: 10_000, maxAttempts: 1 }, 3, () => 1),
      400,
    );
    assert.equal(
      backoffDelay({ baseMs: 100, maxMs: 10_000, maxAttempts: 1 }, 3, () => 0),
      200,
    );
    assert.equal(
      backoffDelay({ baseMs: 100, maxMs: 10_000, maxAttempts: 1 }, 20, () => 1),
      10_000,
    );
  });
});
