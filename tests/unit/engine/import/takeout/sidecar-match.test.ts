// Every row of [Note: Takeout sidecar names] (main/engine/import/takeout/sidecar-match.ts),
// with names from the two real exports in the corpus and made-up ones where no public export
// shows the rule (the 46/47-character cut, localised edits, motion photos).
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  matchSidecars,
  type MediaMatch,
} from '../../../../../main/engine/import/takeout/sidecar-match.js';
import { corpusFile } from '../../../../support/paths.js';

/** Every file under a corpus folder, as '/'-separated paths relative to it. */
function treeOf(relDir: string): string[] {
  const root = corpusFile(relDir);
  return readdirSync(root, { recursive: true })
    .map(String)
    .filter((p) => statSync(join(root, p)).isFile())
    .map((p) => p.split('\\').join('/'));
}

function byPath(media: readonly MediaMatch[], path: string): MediaMatch {
  const m = media.find((x) => x.path === path);
  assert.ok(m, `no media ${path}`);
  return m;
}

const OSX = 'takeout/osxphotos/Takeout';
const GOPHERS = 'takeout/immich-go-gophers/gophers';

describe('Takeout sidecar names', () => {
  it('row 1: name.ext.json describes name.ext (the osxphotos export)', () => {
    const r = matchSidecars(treeOf(OSX));
    const m = byPath(r.media, 'Google Photos/Photos from 2019/Tulips.jpg');
    assert.equal(m.sidecar, 'Google Photos/Photos from 2019/Tulips.jpg.json');
    assert.equal(m.rule, 'exact');
    const mov = byPath(r.media, 'Google Photos/Photos from 2020/Jellyfish.mov');
    assert.equal(mov.sidecar, 'Google Photos/Photos from 2020/Jellyfish.mov.json');
    assert.equal(mov.kind, 'video');
    // an iOS-edited upload carries its own JSON: it is not an "-edited" copy
    const park = byPath(r.media, 'Google Photos/Photos from 2018/St James Park_edited.jpg');
    assert.equal(park.sidecar, 'Google Photos/Photos from 2018/St James Park_edited.jpg.json');
    assert.equal(park.rule, 'exact');
  });

  it('row 1: a media name that carries a counter may have a sidecar of exactly its name', () => {
    const r = matchSidecars(['a/IMG_1(1).jpg', 'a/IMG_1(1).jpg.json']);
    assert.deepEqual(r.media[0], {
      path: 'a/IMG_1(1).jpg',
      sidecar: 'a/IMG_1(1).jpg.json',
      rule: 'exact',
      kind: 'image',
    });
  });

  it('row 2: name.ext.supplemental-metadata.json describes name.ext (the 2025 gophers export)', () => {
    const r = matchSidecars(treeOf(GOPHERS));
    assert.equal(r.media.length, 10);
    for (const m of r.media) {
      assert.equal(m.sidecar, `${m.path}.supplemental-metadata.json`);
      assert.equal(m.rule, 'supplemental');
    }
    assert.deepEqual(r.unmatchedSidecars, []);
    assert.deepEqual(
      [...r.albumMetadata],
      [['Google Photos/gophers', 'Google Photos/gophers/metadata.json']],
    );
  });

  it('row 3: the supplemental suffix cut short still names its media', () => {
    for (const cut of ['.supplemental-metad', '.supplemental-', '.suppl', '.su']) {
      const r = matchSidecars(['p/IMG_1.jpg', `p/IMG_1.jpg${cut}.json`]);
      assert.equal(r.media[0]?.sidecar, `p/IMG_1.jpg${cut}.json`, cut);
      assert.equal(r.media[0]?.rule, 'supplemental', cut);
    }
  });

  it('row 4: the (1) counter moved to the end, IMG_4179.jpeg(1).json describes IMG_4179(1).jpeg', () => {
    const r = matchSidecars(treeOf(OSX));
    const dup = byPath(r.media, 'Google Photos/Photos from 2021/IMG_4179(1).jpeg');
    assert.equal(dup.sidecar, 'Google Photos/Photos from 2021/IMG_4179.jpeg(1).json');
    assert.equal(dup.rule, 'counter');
    const original = byPath(r.media, 'Google Photos/Photos from 2021/IMG_4179.jpeg');
    assert.equal(original.sidecar, 'Google Photos/Photos from 2021/IMG_4179.jpeg.json');
    // and with the new suffix
    const s = matchSidecars([
      'p/IMG_2(2).jpg',
      'p/IMG_2.jpg',
      'p/IMG_2.jpg.supplemental-metadata(2).json',
      'p/IMG_2.jpg.supplemental-metadata.json',
    ]);
    assert.equal(
      byPath(s.media, 'p/IMG_2(2).jpg').sidecar,
      'p/IMG_2.jpg.supplemental-metadata(2).json',
    );
    assert.equal(byPath(s.media, 'p/IMG_2(2).jpg').rule, 'counter');
    assert.equal(byPath(s.media, 'p/IMG_2.jpg').sidecar, 'p/IMG_2.jpg.supplemental-metadata.json');
  });

  it('row 5: a name cut at 46 or 47 characters before .json describes the one media it begins', () => {
    const long = 'Screenshot_20230615-123456_Some Long App Name.png'; // 49 characters
    const cases = [
      `${long}.supplemental-metadata`.slice(0, 46),
      `${long}.supplemental-metadata`.slice(0, 47),
      long.slice(0, 46),
      long.slice(0, 47),
    ];
    for (const stem of cases) {
      const r = matchSidecars([`p/${long}`, `p/${stem}.json`]);
      assert.equal(r.media[0]?.sidecar, `p/${stem}.json`, stem);
      assert.equal(r.media[0]?.rule, 'truncated', stem);
    }
    const withCounter = `${long.slice(0, 46)}(1).json`;
    const c = matchSidecars([
      `p/${long.replace('.png', '(1).png')}`,
      `p/${long}`,
      `p/${withCounter}`,
    ]);
    assert.equal(c.media.find((m) => m.path.includes('(1)'))?.sidecar, `p/${withCounter}`);
  });

  it('row 5: a short name that merely begins a media name is not a cut name (never guessed)', () => {
    const r = matchSidecars(['p/IMG_1234.jpg', 'p/IMG_12.jpg.json']);
    assert.equal(r.media[0]?.sidecar, null);
    assert.deepEqual(r.unmatchedSidecars, [{ path: 'p/IMG_12.jpg.json', reason: 'no_media' }]);
  });

  it('row 6: a cut name that begins two media names is reported, not given to either', () => {
    const a = 'PXL_20230615_123456789_with_a_long_description_A.jpg';
    const b = 'PXL_20230615_123456789_with_a_long_description_B.jpg';
    const stem = a.slice(0, 46);
    const r = matchSidecars([`p/${a}`, `p/${b}`, `p/${stem}.json`]);
    assert.deepEqual(
      r.media.map((m) => m.sidecar),
      [null, null],
    );
    assert.deepEqual(r.unmatchedSidecars, [
      { path: `p/${stem}.json`, reason: 'ambiguous', candidates: [a, b] },
    ]);
  });

  it('row 7: sidecars whose media are not in the export are reported (the orphans of the osxphotos export)', () => {
    const r = matchSidecars(treeOf(OSX));
    assert.deepEqual(
      r.unmatchedSidecars.map((u) => [u.path, u.reason]),
      [
        ['Google Photos/Photos from 2018/IMG_1523.jpg.json', 'no_media'],
        ['Google Photos/Photos from 2018/IMG_1760_Seattle.jpg.json', 'no_media'],
        ['Google Photos/Photos from 2020/DSC03584.dng.json', 'no_media'],
        ['Google Photos/Photos from 2020/IMG_1693.tif.json', 'no_media'],
        ['Google Photos/Photos from 2020/IMG_1994.cr2.json', 'no_media'],
      ],
    );
    // archive-level files and album metadata are neither sidecars nor orphans
    assert.deepEqual(r.other, [
      'Google Photos/print-subscriptions.json',
      'Google Photos/shared_album_comments.json',
      'Google Photos/user-generated-memory-titles.json',
      'README.md',
      'archive_browser.html',
    ]);
    assert.deepEqual([...r.albumMetadata.keys()].sort(), [
      'Google Photos/Adelaide',
      'Google Photos/Pumpkin Farm',
    ]);
  });

  it('a sidecar in another part of the export than its photo still matches (one tree)', () => {
    // parts are merged by path inside the archive before matching
    const r = matchSidecars([
      'Takeout/Google Photos/A/x.jpg',
      'Takeout/Google Photos/A/x.jpg.json',
    ]);
    assert.equal(r.media[0]?.sidecar, 'Takeout/Google Photos/A/x.jpg.json');
  });

  it('a second JSON naming a media that already has one is reported, not swapped in', () => {
    const r = matchSidecars(['p/a.jpg', 'p/a.jpg.json', 'p/a.jpg.supplemental-metadata.json']);
    assert.equal(r.media[0]?.sidecar, 'p/a.jpg.json');
    assert.deepEqual(r.unmatchedSidecars, [
      { path: 'p/a.jpg.supplemental-metadata.json', reason: 'media_has_one' },
    ]);
  });

  it("row 8: IMG_4179-edited.jpeg shares its original's sidecar (the osxphotos export)", () => {
    const r = matchSidecars(treeOf(OSX));
    const edited = byPath(r.media, 'Google Photos/Photos from 2021/IMG_4179-edited.jpeg');
    assert.equal(edited.sidecar, 'Google Photos/Photos from 2021/IMG_4179.jpeg.json');
    assert.equal(edited.rule, 'edited');
  });

  it('row 8: localised edited copies share the original sidecar too', () => {
    for (const suffix of ['-bearbeitet', '-modifié', '-editado', '-modificato', '-編集済み']) {
      const r = matchSidecars([`p/IMG_9${suffix}.jpg`, 'p/IMG_9.jpg', 'p/IMG_9.jpg.json']);
      assert.equal(byPath(r.media, `p/IMG_9${suffix}.jpg`).sidecar, 'p/IMG_9.jpg.json', suffix);
      assert.equal(byPath(r.media, `p/IMG_9${suffix}.jpg`).rule, 'edited', suffix);
    }
    // decomposed é (as macOS writes names) is the same suffix
    const nfd = 'p/IMG_9-modifié.jpg'.normalize('NFD');
    const r = matchSidecars([nfd, 'p/IMG_9.jpg', 'p/IMG_9.jpg.json']);
    assert.equal(byPath(r.media, nfd).rule, 'edited');
  });

  it('row 9: the video of a Live Photo and the video part of a motion photo share the still', () => {
    const r = matchSidecars([
      'p/IMG_1.HEIC',
      'p/IMG_1.HEIC.json',
      'p/IMG_1.MP4',
      'p/PXL_2.MP.jpg',
      'p/PXL_2.MP.jpg.json',
      'p/PXL_2.MP',
      'p/IMG_3.JPG',
      'p/IMG_3.JPG.supplemental-metadata.json',
      'p/IMG_3.MOV',
    ]);
    assert.equal(byPath(r.media, 'p/IMG_1.MP4').sidecar, 'p/IMG_1.HEIC.json');
    assert.equal(byPath(r.media, 'p/IMG_1.MP4').rule, 'live-part');
    assert.equal(byPath(r.media, 'p/PXL_2.MP').sidecar, 'p/PXL_2.MP.jpg.json');
    assert.equal(byPath(r.media, 'p/PXL_2.MP').kind, 'video');
    assert.equal(byPath(r.media, 'p/IMG_3.MOV').sidecar, 'p/IMG_3.JPG.supplemental-metadata.json');
  });

  it('row 9: a video beside two stills of its name is not given either sidecar', () => {
    const r = matchSidecars(['p/A.jpg', 'p/A.jpg.json', 'p/A.heic', 'p/A.heic.json', 'p/A.mp4']);
    assert.equal(byPath(r.media, 'p/A.mp4').sidecar, null);
  });

  it('row 10: media without any sidecar are listed with none', () => {
    const r = matchSidecars(['p/lonely.jpg', 'p/other.png', 'p/other.png.json']);
    assert.equal(byPath(r.media, 'p/lonely.jpg').sidecar, null);
    assert.equal(byPath(r.media, 'p/lonely.jpg').rule, null);
  });

  it('the whole osxphotos export: every media present has a sidecar', () => {
    const r = matchSidecars(treeOf(OSX));
    assert.deepEqual(
      r.media.filter((m) => m.sidecar === null).map((m) => m.path),
      [],
    );
    assert.equal(r.media.length, 16);
  });
});
