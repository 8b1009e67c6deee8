import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRange } from '../../../server/api.js';

describe('content Range parsing (RFC 9110 14.1.2)', () => {
  it('reads one byte range: closed, open-ended, suffix, clamped to the size', () => {
    assert.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=900-', 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange('bytes=-10', 1000), { start: 990, end: 999 });
    assert.deepEqual(parseRange('bytes=-5000', 1000), { start: 0, end: 999 });
    assert.deepEqual(parseRange('bytes=990-5000', 1000), { start: 990, end: 999 });
  });

  it('answers unsatisfiable for ranges beyond the end or empty content', () => {
    assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=5-4', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
  });

  it('ignores what it does not understand (the whole body is sent)', () => {
    assert.equal(parseRange(undefined, 10), null);
    assert.equal(parseRange('bytes=0-1,5-6', 10), null);
    assert.equal(parseRange('items=0-1', 10), null);
    assert.equal(parseRange('bytes=-', 10), null);
  });
});
