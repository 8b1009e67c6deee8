// The queue's windowing arithmetic: however long the list, only the rows on screen (plus a
// small margin) are rendered, and scrolling anywhere shows the right rows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { visibleRows } from '../../../renderer/src/virtual-window.js';

describe('queue windowing', () => {
  it('renders a screenful plus overscan out of 100,000 rows, wherever it is scrolled', () => {
    const count = 100_000;
    const rowHeight = 56;
    const viewport = 700;
    for (const scrollTop of [0, 1, 56 * 500 + 13, 56 * 50_000, 56 * count - viewport]) {
      const { start, end } = visibleRows(scrollTop, viewport, rowHeight, count, 8);
      assert.ok(
        end - start <= Math.ceil(viewport / rowHeight) + 1 + 16,
        `${end - start} rows at ${scrollTop}`,
      );
      const firstOnScreen = Math.floor(scrollTop / rowHeight);
      const lastOnScreen = Math.min(count - 1, Math.floor((scrollTop + viewport - 1) / rowHeight));
      assert.ok(
        start <= firstOnScreen && end > lastOnScreen,
        `rows ${firstOnScreen}..${lastOnScreen} covered by ${start}..${end}`,
      );
      assert.ok(start >= 0 && end <= count);
    }
  });

  it('handles an empty list, a short list and a scroll past the end', () => {
    assert.deepEqual(visibleRows(0, 700, 56, 0), { start: 0, end: 0 });
    assert.deepEqual(visibleRows(0, 700, 56, 3), { start: 0, end: 3 });
    const past = visibleRows(56 * 10_000, 700, 56, 100);
    assert.ok(past.start <= past.end && past.end === 100);
  });
});
