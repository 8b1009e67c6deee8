// The scrubber's pacing (See [Note: Scrub pacing] in server/scrub.ts), with a fake clock:
// it never averages more than its rate, and an idle spell never turns into a burst.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BytePacer, scrubRate } from '../../../server/scrub.js';

const MiB = 1024 * 1024;
const DAY = 24 * 60 * 60 * 1000;

describe('scrub pacing', () => {
  it('reads at twice the rate that covers the vault once per period, within floor and cap', () => {
    const cap = 20 * MiB;
    assert.equal(scrubRate(0, 30 * DAY, cap), MiB, 'a small vault gets the 1 MiB/s floor');
    const tenTB = 10e12;
    assert.equal(scrubRate(tenTB, 30 * DAY, cap), (2 * tenTB) / (30 * 24 * 3600));
    assert.equal(scrubRate(1e15, 30 * DAY, cap), cap, 'the cap wins over the period');
    assert.equal(scrubRate(0, 30 * DAY, 1000), 1000, 'a cap below the floor still holds');
  });

  it('a token bucket keeps the average at the rate with at most one second of credit', () => {
    let now = 0;
    const pacer = new BytePacer(MiB, () => now);
    // Reading as fast as the pacer lets: 10 MiB takes 10 s.
    let waited = 0;
    for (let i = 0; i < 10; i++) {
      const wait = pacer.take(MiB);
      waited += wait;
      now += wait;
    }
    assert.equal(Math.round(now), 10_000);
    // After a long idle spell only one second is saved up.
    now += 60_000;
    assert.equal(pacer.take(MiB), 0);
    assert.equal(Math.round(pacer.take(MiB)), 1000);
    assert.ok(waited > 0);
  });
});
