// Sizes and durations typed on the command line (common/size-units.ts): the vault's --quota
// and --max-size read the same units as the client's --bwlimit and --chunk-size.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatDuration,
  formatRate,
  formatSize,
  parseDuration,
  parseSize,
} from '../../../common/size-units.js';

describe('sizes', () => {
  it('are written in the binary units they are typed in, with IEC symbols', () => {
    assert.equal(formatSize(0), '0 B');
    assert.equal(formatSize(1000), '1000 B');
    assert.equal(formatSize(1536), '1.5 KiB');
    assert.equal(formatSize(10 * 1024 ** 3), '10 GiB');
    assert.equal(formatSize(123.4 * 1024 ** 2), '123 MiB');
    assert.equal(formatRate(4 * 1024 ** 2), '4 MiB/s');
    // what a person types is what they read back
    for (const typed of ['4M', '512K', '10G', '1.5M']) {
      const bytes = parseSize(typed) ?? -1;
      assert.equal(parseSize(formatSize(bytes).replace(' ', '')), bytes, typed);
    }
  });

  it('read binary K, M, G and T suffixes in any spelling', () => {
    assert.equal(parseSize('10G'), 10 * 1024 ** 3);
    assert.equal(parseSize('10GiB'), 10 * 1024 ** 3);
    assert.equal(parseSize('10gb'), 10 * 1024 ** 3);
    assert.equal(parseSize('2T'), 2 * 1024 ** 4);
    assert.equal(parseSize('512k'), 512 * 1024);
    assert.equal(parseSize('1.5M'), 1.5 * 1024 ** 2);
    assert.equal(parseSize('100000B'), 100_000);
    assert.equal(parseSize(' 7 '), 7);
    assert.equal(parseSize('0'), 0);
  });

  it('a bare number is in the default unit', () => {
    assert.equal(parseSize('512', 1024), 512 * 1024);
  });

  it('refuse what is not a size', () => {
    for (const bad of ['', 'G', '-5', '10X', '10 zebras', '1e9', '0x10', '99999999999999999T']) {
      assert.equal(parseSize(bad), null, bad);
    }
  });
});

describe('durations', () => {
  it('read ms, s, m, h and d, and sums of them', () => {
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('1500ms'), 1500);
    assert.equal(parseDuration('1.5d'), 129_600_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
  });

  it('need a unit', () => {
    for (const bad of ['', '24', 'h', '-1h', '1y', '1h banana']) {
      assert.equal(parseDuration(bad), null, bad);
    }
  });

  it('print in the shortest exact unit', () => {
    assert.equal(formatDuration(86_400_000), '1d');
    assert.equal(formatDuration(3_600_000 * 25), '25h');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(1500), '1500ms');
  });
});
