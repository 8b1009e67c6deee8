// --bwlimit and --chunk-size as people type them (rclone syntax), and the shared throttle.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeepsakeError } from '../../../../main/engine/errors.js';
import { type Clock, type TimerHandle, systemClock } from '../../../../main/engine/ports.js';
import {
  bandwidthAt,
  formatRate,
  nextBandwidthChange,
  parseBandwidthLimit,
  parseByteSize,
  parseChunkSize,
} from '../../../../main/engine/vault/bandwidth.js';
import { BandwidthThrottle } from '../../../../main/engine/vault/throttle.js';

const KiB = 1024;
const MiB = 1024 * 1024;

/** Local time: 2026-11-23 is a Monday. */
const at = (day: number, hh: number, mm: number) => new Date(2026, 10, 23 + day, hh, mm).getTime();

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KeepsakeError);
    assert.equal(err.code, 'invalid_argument');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('parseBandwidthLimit', () => {
  it('reads rates with binary suffixes, as rclone does', () => {
    const rate = (t: string) => bandwidthAt(parseBandwidthLimit(t), 0);
    assert.equal(rate('4M'), 4 * MiB);
    assert.equal(rate('512k'), 512 * KiB);
    assert.equal(rate('1.5M'), 1.5 * MiB);
    assert.equal(rate('2MiB'), 2 * MiB);
    assert.equal(rate('100000B'), 100000);
    assert.equal(rate('1G'), 1024 * MiB);
    // a bare number is KiB/s in rclone
    assert.equal(rate('512'), 512 * KiB);
    // UP:DOWN pairs: Keepsake only uploads
    assert.equal(rate('10M:1M'), 10 * MiB);
  });

  it('reads "off" and its synonyms as no cap', () => {
    for (const t of ['off', 'OFF', '0', '', 'unlimited']) {
      assert.equal(bandwidthAt(parseBandwidthLimit(t), 0), null, t);
    }
  });

  it('follows a weekly timetable, wrapping round the week', () => {
    const p = parseBandwidthLimit('Mon-08:00,2M Mon-18:00,off');
    assert.equal(p.kind, 'schedule');
    assert.equal(bandwidthAt(p, at(0, 7, 59)), null, 'before Monday 08:00: last week\'s "off"');
    assert.equal(bandwidthAt(p, at(0, 8, 0)), 2 * MiB);
    assert.equal(bandwidthAt(p, at(0, 17, 59)), 2 * MiB);
    assert.equal(bandwidthAt(p, at(0, 18, 0)), null);
    assert.equal(bandwidthAt(p, at(3, 12, 0)), null);
  });

  it('applies entries without a day every day', () => {
    const p = parseBandwidthLimit('08:00,512k 23:00,off');
    for (let d = 0; d < 7; d++) {
      assert.equal(bandwidthAt(p, at(d, 12, 0)), 512 * KiB);
      assert.equal(bandwidthAt(p, at(d, 23, 30)), null);
      assert.equal(bandwidthAt(p, at(d, 3, 0)), null);
    }
  });

  it('knows when the timetable next changes', () => {
    const p = parseBandwidthLimit('Mon-08:00,2M Mon-18:00,off');
    assert.equal(nextBandwidthChange(p, at(0, 9, 30)), at(0, 18, 0));
    assert.equal(nextBandwidthChange(p, at(2, 9, 30)), at(7, 8, 0));
    assert.equal(nextBandwidthChange(parseBandwidthLimit('4M'), 0), null);
  });

  it('refuses what it cannot read, saying what it expects', () => {
    refused(() => parseBandwidthLimit('fast'), /not a rate.*"4M"/);
    refused(() => parseBandwidthLimit('4X'), /not a rate/);
    refused(() => parseBandwidthLimit('100B'), /below 1 KiB\/s/);
    refused(() => parseBandwidthLimit('Mon-25:00,1M'), /not a time of day/);
    refused(() => parseBandwidthLimit('Moo-08:00,1M'), /not a day: use Mon/);
    refused(() => parseBandwidthLimit('Mon-08:00,1M Mon-08:00,2M'), /twice/);
    refused(() => parseBandwidthLimit('Mon 08:00,1M'), /\[DAY-\]HH:MM,RATE/);
  });

  it('formats rates for people', () => {
    assert.equal(formatRate(4 * MiB), '4 MiB/s');
    assert.equal(formatRate(512 * KiB), '512 KiB/s');
    assert.equal(formatRate(null), 'off');
  });
});

describe('parseByteSize / parseChunkSize', () => {
  it('reads sizes with binary suffixes; a bare number is bytes', () => {
    assert.equal(parseByteSize('8M'), 8 * MiB);
    assert.equal(parseByteSize('1G'), 1024 * MiB);
    assert.equal(parseByteSize('512k'), 512 * KiB);
    assert.equal(parseByteSize('8MiB'), 8 * MiB);
    assert.equal(parseByteSize('1048576'), MiB);
  });
  it('refuses nonsense and out-of-range chunk sizes', () => {
    refused(() => parseByteSize('big'), /not a size/);
    refused(() => parseByteSize('0'), /not a size/);
    refused(() => parseChunkSize('1k'), /between 64K and 2G/);
    refused(() => parseChunkSize('3G'), /between 64K and 2G/);
    assert.equal(parseChunkSize('8M'), 8 * MiB);
  });
});

/** A clock whose time moves only when told; timers fire as it passes them. */
function manualClock(start: number): Clock & { advance(ms: number): void } {
  let now = start;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 1;
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t = { at: now + ms, fn, id: nextId++ };
      timers.push(t);
      return t as unknown as TimerHandle;
    },
    clearTimeout(handle) {
      timers = timers.filter((t) => t !== (handle as unknown));
    },
    sleep: () => Promise.resolve(),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        now = due.at;
        timers = timers.filter((t) => t !== due);
        due.fn();
      }
      now = end;
    },
  };
}

describe('BandwidthThrottle', () => {
  it('with no cap, grants everything at once', async () => {
    const t = new BandwidthThrottle(systemClock, null);
    assert.equal(await t.take(10 * MiB), 10 * MiB);
  });

  it('holds the total of concurrent takers to the cap and shares it evenly', async () => {
    const clock = manualClock(0);
    const t = new BandwidthThrottle(clock, parseBandwidthLimit('100k'));
    const got = [0, 0, 0];
    let stop = false;
    const takers = got.map(async (_, i) => {
      while (!stop) got[i] = (got[i] ?? 0) + (await t.take(64 * KiB));
    });
    for (let ms = 0; ms < 10_000; ms += 10) {
      clock.advance(10);
      await new Promise((r) => setImmediate(r));
    }
    stop = true;
    t.close();
    await Promise.all(takers);
    const total = got.reduce((a, b) => a + b, 0);
    // 10 s at 100 KiB/s, plus at most the burst and one slice per taker
    assert.ok(total <= 100 * KiB * 10 + 25 * KiB + 3 * 64 * KiB, `total ${total}`);
    assert.ok(total >= 100 * KiB * 9, `total ${total}`);
    for (const g of got) assert.ok(g > total / 6, `uneven share: ${got.join(', ')}`);
  });

  it('changes rate live, and lets waiting takers go at once when set to off', async () => {
    const clock = manualClock(0);
    const t = new BandwidthThrottle(clock, parseBandwidthLimit('10k'));
    for (let i = 0; i < 4; i++) await t.take(4 * KiB); // the burst
    let granted = 0;
    const waiting = t.take(MiB).then((n) => (granted = n));
    await new Promise((r) => setImmediate(r));
    assert.equal(granted, 0);
    t.setBytesPerSecond(null);
    await waiting;
    assert.equal(granted, MiB);
  });

  it('follows the timetable as time passes', () => {
    const clock = manualClock(at(0, 7, 59));
    const t = new BandwidthThrottle(clock, parseBandwidthLimit('Mon-08:00,2M Mon-18:00,off'));
    assert.equal(t.currentRate(), null);
    clock.advance(60_000);
    assert.equal(t.currentRate(), 2 * MiB);
    clock.advance(10 * 3600_000);
    assert.equal(t.currentRate(), null);
  });

  it('an aborted take rejects at once and frees its place', async () => {
    const clock = manualClock(0);
    const t = new BandwidthThrottle(clock, parseBandwidthLimit('10k'));
    for (let i = 0; i < 4; i++) await t.take(4 * KiB); // the burst
    const stop = new AbortController();
    const pending = t.take(MiB, stop.signal);
    stop.abort();
    await assert.rejects(pending, { name: 'AbortError' });
  });
});
