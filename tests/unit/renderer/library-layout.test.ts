// The Library's timeline layout: photos grouped under the day they were taken (where they
// were taken), rows of tiles, and only the rows on screen rendered at 100,000 photos.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dayOf,
  devicesOf,
  layoutTimeline,
  rowsInView,
} from '../../../renderer/src/library-layout.js';

describe('library timeline layout', () => {
  it('puts a photo on the day it was taken where it was taken', () => {
    // 23:30 in Tokyo is 14:30 UTC: still the 1st in Tokyo.
    assert.equal(dayOf({ captureTime: '2021-06-01T23:30:00+09:00', takenAt: 0 }), '2021-06-01');
    const noTime = new Date(2020, 4, 6, 12).getTime();
    assert.equal(dayOf({ captureTime: null, takenAt: noTime }), '2020-05-06');
  });

  it('gives each day a heading and its tiles in rows of the column count', () => {
    const tiles = [
      ...Array.from({ length: 5 }, () => ({ captureTime: '2021-06-02T10:00:00Z', takenAt: 2 })),
      ...Array.from({ length: 2 }, () => ({ captureTime: '2021-06-01T10:00:00Z', takenAt: 1 })),
    ];
    const { rows, height } = layoutTimeline(tiles, 3, 100, 30);
    assert.deepEqual(
      rows.map((r) => (r.kind === 'day' ? `day ${r.day} ${r.count}` : `${r.first}-${r.end}`)),
      ['day 2021-06-02 5', '0-3', '3-5', 'day 2021-06-01 2', '5-7'],
    );
    assert.equal(height, 30 + 100 + 100 + 30 + 100);
    assert.deepEqual(
      rows.map((r) => r.top),
      [0, 30, 130, 230, 260],
    );
  });

  it('renders only the rows on screen out of 100,000 photos, wherever it is scrolled', () => {
    const tiles = Array.from({ length: 100_000 }, (_, i) => ({
      captureTime: `2020-01-${String(1 + Math.floor(i / 4000)).padStart(2, '0')}T00:00:00Z`,
      takenAt: -i,
    }));
    const { rows, height } = layoutTimeline(tiles, 6, 160, 40);
    for (const scrollTop of [0, 12_345, height / 2, height - 800]) {
      const { start, end } = rowsInView(rows, scrollTop, 800, 400);
      assert.ok(end - start <= Math.ceil(1600 / 40) + 2, `${end - start} rows at ${scrollTop}`);
      const first = rows[start];
      const last = rows[end - 1];
      assert.ok(first && first.top <= Math.max(0, scrollTop - 400) + first.height);
      assert.ok(last && last.top + last.height >= Math.min(height, scrollTop + 800));
    }
    let tilesCounted = 0;
    for (const r of rows) if (r.kind === 'tiles') tilesCounted += r.end - r.first;
    assert.equal(tilesCounted, 100_000);
  });

  it('offers each device that holds a folder once, by name, for the Device filter', () => {
    const devices = devicesOf([
      { deviceId: 'd2', deviceName: 'Phone', folder: 'DCIM', assets: 5 },
      { deviceId: 'd1', deviceName: 'Laptop', folder: 'Pictures', assets: 3 },
      { deviceId: 'd2', deviceName: 'Phone', folder: 'Screenshots', assets: 2 },
    ]);
    assert.deepEqual(devices, [
      { deviceId: 'd1', deviceName: 'Laptop', assets: 3 },
      { deviceId: 'd2', deviceName: 'Phone', assets: 7 },
    ]);
    assert.equal(
      devicesOf([{ deviceId: 'd1', deviceName: 'Laptop', folder: 'P', assets: 1 }]).length,
      1,
    );
  });
});
