// mergeImportedMetadata (main/engine/import/common/merge-metadata.ts): what an export says laid
// over what a backup read from the file, for iCloud's minute-precise GMT dates.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MediaMetadata } from '../../../../../common/vault-protocol.js';
import { mergeImportedMetadata } from '../../../../../main/engine/import/common/merge-metadata.js';

const fromFile: MediaMetadata = {
  captureTime: '2022-06-14T22:10:37.000+02:00',
  captureTimeSource: 'exif_original',
  timeZone: { offsetMinutes: 120, source: 'offset_time_original' },
  gps: { lat: 48.85, lon: 2.35 },
  camera: { make: 'Apple', model: 'iPhone 12' },
  width: 4032,
  height: 3024,
  durationSec: null,
  orientation: 1,
  mime: 'image/heic',
};
const icloud = (captureTime: string): MediaMetadata => ({
  captureTime,
  captureTimeSource: 'icloud',
  timeZone: { offsetMinutes: 0, source: 'utc' },
  gps: null,
  camera: null,
  width: null,
  height: null,
  durationSec: null,
  orientation: null,
  mime: 'image/heic',
  source: 'icloud',
  favorite: true,
  hidden: false,
});

describe('an iCloud row laid over what the file said', () => {
  it("the same minute keeps the file's time and its real zone; favourite and hidden are Apple's", () => {
    const m = mergeImportedMetadata(fromFile, icloud('2022-06-14T20:10:00.000+00:00'), 59_999);
    assert.equal(m.captureTime, fromFile.captureTime);
    assert.deepEqual(m.timeZone, fromFile.timeZone);
    assert.deepEqual(m.camera, fromFile.camera);
    assert.equal(m.source, 'icloud');
    assert.equal(m.favorite, true);
    assert.equal(m.hidden, false);
  });

  it("another instant is Apple's (a date changed in Photos), the file's facts stay", () => {
    const m = mergeImportedMetadata(fromFile, icloud('2021-01-01T10:00:00.000+00:00'), 59_999);
    assert.equal(m.captureTime, '2021-01-01T10:00:00.000+00:00');
    assert.equal(m.captureTimeSource, 'icloud');
    assert.deepEqual(m.gps, fromFile.gps);
    assert.equal(m.width, 4032);
  });

  it('at second precision (Takeout) 37 seconds apart is another instant', () => {
    const m = mergeImportedMetadata(fromFile, icloud('2022-06-14T20:10:00.000+00:00'));
    assert.equal(m.captureTime, '2022-06-14T20:10:00.000+00:00');
  });
});
