// The folder and the name a card's photo gets in the chosen folder (dated-folder.ts): the
// capture day where it was taken, patterns that never leave the folder, and the names tried
// when one is taken.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeepsakeError } from '../../../../../main/engine/errors.js';
import {
  candidateName,
  captureDateOf,
  datedFolder,
  DEFAULT_DATE_PATTERN,
  parseDatePattern,
  partialName,
} from '../../../../../main/engine/import/device/dated-folder.js';

describe('dated folders for imported photos', () => {
  it('files a photo under the day it was taken where it was taken, not in UTC', () => {
    const pattern = parseDatePattern(DEFAULT_DATE_PATTERN);
    const date = captureDateOf('2019-03-12T23:30:00+09:00');
    assert.ok(date);
    assert.equal(datedFolder(pattern, date), '2019/2019-03-12');
  });

  it('takes other patterns with literal text, and the chosen folder itself for an empty one', () => {
    const date = { year: 2007, month: 6, day: 5 };
    assert.equal(datedFolder(parseDatePattern('YYYY/MM/DD'), date), '2007/06/05');
    assert.equal(datedFolder(parseDatePattern('Camera YYYY-MM/'), date), 'Camera 2007-06');
    assert.equal(datedFolder(parseDatePattern(''), date), '');
  });

  it('refuses a pattern that would lead outside the chosen folder', () => {
    for (const bad of ['/YYYY', '../YYYY', 'YYYY/../..', 'C:/YYYY']) {
      assert.throws(
        () => parseDatePattern(bad),
        (err: unknown) => err instanceof KeepsakeError && err.code === 'invalid_argument',
        bad,
      );
    }
  });

  it('has no date for a missing capture time', () => {
    assert.equal(captureDateOf(null), null);
  });

  it('tries NAME (1).EXT, NAME (2).EXT when a name is taken, and keeps partial copies hidden', () => {
    assert.equal(candidateName('IMG_0001.JPG', 0), 'IMG_0001.JPG');
    assert.equal(candidateName('IMG_0001.JPG', 2), 'IMG_0001 (2).JPG');
    assert.equal(candidateName('README', 1), 'README (1)');
    assert.equal(partialName('IMG_0001.JPG'), '.IMG_0001.JPG.keepsake-partial');
  });
});
