// Where restored files go and what their names become: the kept-both suffix, the partial's
// name, folder labels on the vault, and the dates the restore filters take.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { folderLabels } from '../../../../main/engine/pipeline/location-pump.js';
import { partialPathOf } from '../../../../main/engine/restore/fetch-content.js';
import { suffixedName } from '../../../../main/engine/restore/restore.js';
import { parseDateOption } from '../../../../main/engine/restore/selection.js';

describe('restore placement', () => {
  it('a different file in the way keeps its name; the restored one gets a clear suffix', () => {
    const target = Buffer.from('/out/Photos/2019/IMG_0001.JPG');
    assert.equal(suffixedName(target, 0).toString(), '/out/Photos/2019/IMG_0001.JPG');
    assert.equal(suffixedName(target, 1).toString(), '/out/Photos/2019/IMG_0001 (restored).JPG');
    assert.equal(suffixedName(target, 2).toString(), '/out/Photos/2019/IMG_0001 (restored 2).JPG');
    // no extension, a dot file, a dot in a folder name
    assert.equal(
      suffixedName(Buffer.from('/o/a.b/README'), 1).toString(),
      '/o/a.b/README (restored)',
    );
    assert.equal(suffixedName(Buffer.from('/o/.hidden'), 1).toString(), '/o/.hidden (restored)');
  });

  it('names that are not UTF-8 keep their bytes when suffixed', () => {
    const latin1 = Buffer.concat([
      Buffer.from('/o/'),
      Buffer.from([0xdc, 0x72]),
      Buffer.from('laub.jpg'),
    ]);
    const out = suffixedName(latin1, 1);
    assert.ok(
      out.equals(
        Buffer.concat([
          Buffer.from('/o/'),
          Buffer.from([0xdc, 0x72]),
          Buffer.from('laub (restored).jpg'),
        ]),
      ),
    );
  });

  it('a partial lives beside its target under a short name of its own', () => {
    const long = Buffer.from(`/out/F/${'x'.repeat(250)}.jpg`);
    const sha = 'ab'.repeat(32);
    const partial = partialPathOf(long, sha).toString();
    assert.ok(partial.startsWith('/out/F/.keepsake-partial-abababababababab-'));
    assert.ok(partial.length - '/out/F/'.length < 60);
    assert.equal(partialPathOf(long, sha).toString(), partial, 'the same on every run');
    assert.notEqual(partialPathOf(Buffer.from('/out/F/other.jpg'), sha).toString(), partial);
  });

  it('watched folders are labelled by name, a second folder of one name by its id too', () => {
    const labels = folderLabels([
      {
        id: 3,
        path: '/b/Photos',
        include: [],
        exclude: [],
        addedAt: 0,
        lastScanAt: null,
        freeUp: false,
      },
      {
        id: 1,
        path: '/a/Photos',
        include: [],
        exclude: [],
        addedAt: 0,
        lastScanAt: null,
        freeUp: false,
      },
      { id: 2, path: '/', include: [], exclude: [], addedAt: 0, lastScanAt: null, freeUp: false },
    ]);
    assert.deepEqual([...labels.entries()].sort(), [
      [1, 'Photos'],
      [2, 'root'],
      [3, 'Photos (3)'],
    ]);
  });

  it('a bare date means local midnight; --until and --at take in the whole day', () => {
    assert.equal(parseDateOption('2020-02-29'), new Date(2020, 1, 29).getTime());
    assert.equal(parseDateOption('2020-12-31', true), new Date(2021, 0, 1).getTime());
    assert.equal(parseDateOption('2020-05-01T10:00:00Z'), Date.UTC(2020, 4, 1, 10));
    assert.equal(parseDateOption('2020-05-01T10:00:00+02:00'), Date.UTC(2020, 4, 1, 8));
    assert.throws(() => parseDateOption('yesterday'), { code: 'invalid_argument' });
    assert.throws(() => parseDateOption('2020-13-01'), { code: 'invalid_argument' });
  });
});
