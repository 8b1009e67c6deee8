// Every row of [Note: Grouping rules] (main/engine/metadata/grouping.ts) as a table: the files
// of a folder in, the groups a person would expect out (by path and role).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decideGroups,
  type GroupingFile,
  type GroupingKind,
  originalStemOfEdit,
} from '../../../../main/engine/metadata/grouping.js';

const LIVE_ID = '602FEBB7-6B59-4799-96E6-9C8484D873C7';
const T0 = Date.UTC(2025, 4, 26, 14, 27, 6, 603);

interface F {
  path: string;
  kind: GroupingKind;
  at?: number | null;
  cid?: string | null;
  /** the file names the file's XMP says it was made from */
  from?: string[];
}

/** Groups as "path:role" lists, primary first; each group's order as decided. */
function groupsOf(files: F[]): string[][] {
  const input: GroupingFile[] = files.map((f, i) => ({
    id: i + 1,
    relPath: f.path,
    kind: f.kind,
    capturedAtMs: f.at ?? null,
    appleContentId: f.cid ?? null,
    ...(f.from ? { derivedFrom: f.from.map((n) => n.toLowerCase()) } : {}),
  }));
  return decideGroups(input).map((g) =>
    g.members.map((m) => `${input[m.id - 1]!.relPath}:${m.role}`),
  );
}

const cases: { name: string; files: F[]; groups: string[][] }[] = [
  {
    name: 'a Live Photo: still and video sharing Apple content identifier',
    files: [
      { path: 'IMG_3582.HEIC', kind: 'image', at: T0, cid: LIVE_ID },
      { path: 'IMG_3582.mov', kind: 'video', at: T0 + 400, cid: LIVE_ID },
    ],
    groups: [['IMG_3582.HEIC:primary', 'IMG_3582.mov:live-video']],
  },
  {
    name: 'a Live Photo whose halves sit in different folders and names',
    files: [
      { path: '2025/05/photo.heic', kind: 'image', cid: LIVE_ID },
      { path: 'videos/clip-17.mov', kind: 'video', cid: LIVE_ID },
    ],
    groups: [['2025/05/photo.heic:primary', 'videos/clip-17.mov:live-video']],
  },
  {
    name: 'same basename alone is not a Live Photo',
    files: [
      { path: 'IMG_1234.JPG', kind: 'image', at: T0 },
      { path: 'IMG_1234.MP4', kind: 'video', at: T0 },
    ],
    groups: [],
  },
  {
    name: 'different content identifiers are not a Live Photo',
    files: [
      { path: 'IMG_1234.HEIC', kind: 'image', cid: 'A' },
      { path: 'IMG_1234.MOV', kind: 'video', cid: 'B' },
    ],
    groups: [],
  },
  {
    name: 'several stills with the identifier: the video pairs with its own name',
    files: [
      { path: 'a/IMG_1.HEIC', kind: 'image', cid: 'X' },
      { path: 'b/IMG_1.HEIC', kind: 'image', cid: 'X' },
      { path: 'b/IMG_1.MOV', kind: 'video', cid: 'X' },
    ],
    groups: [['b/IMG_1.HEIC:primary', 'b/IMG_1.MOV:live-video']],
  },
  {
    name: 'several stills with the identifier and no name to choose by: no group',
    files: [
      { path: 'a/IMG_1.HEIC', kind: 'image', cid: 'X' },
      { path: 'b/IMG_1.HEIC', kind: 'image', cid: 'X' },
      { path: 'c/clip.MOV', kind: 'video', cid: 'X' },
    ],
    groups: [],
  },
  {
    name: 'RAW + JPEG taken within 2 s: RAW primary, JPEG rendition',
    files: [
      { path: 'DSC_0001.NEF', kind: 'raw', at: T0 },
      { path: 'DSC_0001.JPG', kind: 'image', at: T0 + 2000 },
    ],
    groups: [['DSC_0001.NEF:primary', 'DSC_0001.JPG:rendition']],
  },
  {
    name: 'RAW + JPEG whose stems differ only in letter case',
    files: [
      { path: 'dsc_0001.nef', kind: 'raw', at: T0 },
      { path: 'DSC_0001.JPG', kind: 'image', at: T0 },
    ],
    groups: [['dsc_0001.nef:primary', 'DSC_0001.JPG:rendition']],
  },
  {
    name: 'RAW + JPEG more than 2 s apart (two shots, one name) stay two',
    files: [
      { path: 'Nikon.nef', kind: 'raw', at: T0 },
      { path: 'Nikon.jpg', kind: 'image', at: T0 + 2001 },
    ],
    groups: [],
  },
  {
    name: 'RAW + JPEG without a capture time read from both stay two',
    files: [
      { path: 'P1.RW2', kind: 'raw', at: T0 },
      { path: 'P1.JPG', kind: 'image', at: null },
    ],
    groups: [],
  },
  {
    name: 'RAW + JPEG in different directories stay two',
    files: [
      { path: 'raw/P1.CR2', kind: 'raw', at: T0 },
      { path: 'jpg/P1.JPG', kind: 'image', at: T0 },
    ],
    groups: [],
  },
  {
    name: 'a RAW beside a Live Photo still: the still leads, the RAW is raw',
    files: [
      { path: 'IMG_9.HEIC', kind: 'image', at: T0, cid: 'L' },
      { path: 'IMG_9.MOV', kind: 'video', cid: 'L' },
      { path: 'IMG_9.DNG', kind: 'raw', at: T0 },
    ],
    groups: [['IMG_9.HEIC:primary', 'IMG_9.MOV:live-video', 'IMG_9.DNG:raw']],
  },
  {
    name: 'an Apple edit with the same capture time, and the AAE of the original',
    files: [
      { path: 'IMG_1853.HEIC', kind: 'image', at: T0, cid: 'DC12' },
      { path: 'IMG_E1853.heic', kind: 'image', at: T0, cid: 'DDFE' },
      { path: 'IMG_1853.AAE', kind: 'sidecar' },
    ],
    groups: [['IMG_1853.HEIC:primary', 'IMG_1853.AAE:sidecar', 'IMG_E1853.heic:edit']],
  },
  {
    name: 'an Apple edit name with another capture time stays apart',
    files: [
      { path: 'IMG_1853.HEIC', kind: 'image', at: T0 },
      { path: 'IMG_E1853.heic', kind: 'image', at: T0 + 60_000 },
    ],
    groups: [],
  },
  {
    name: 'an edit name without capture times stays apart',
    files: [
      { path: 'IMG_1853.HEIC', kind: 'image' },
      { path: 'IMG_E1853.heic', kind: 'image' },
    ],
    groups: [],
  },
  {
    name: 'an edit name with the same content identifier is linked without times',
    files: [
      { path: 'IMG_2.HEIC', kind: 'image', cid: 'S' },
      { path: 'IMG_E2.HEIC', kind: 'image', cid: 'S' },
    ],
    groups: [['IMG_2.HEIC:primary', 'IMG_E2.HEIC:edit']],
  },
  {
    name: 'Google -edited and Photos _edited copies, with a sidecar',
    files: [
      { path: 'IMG_4179.HEIC', kind: 'image', at: T0 },
      { path: 'IMG_4179-edited.jpg', kind: 'image', at: T0 + 500 },
      { path: 'wedding.jpg', kind: 'image', at: T0 + 86_400_000 },
      { path: 'wedding_edited.jpg', kind: 'image', at: T0 + 86_400_000 },
      { path: 'wedding.AAE', kind: 'sidecar' },
    ],
    groups: [
      ['IMG_4179.HEIC:primary', 'IMG_4179-edited.jpg:edit'],
      ['wedding.jpg:primary', 'wedding.AAE:sidecar', 'wedding_edited.jpg:edit'],
    ],
  },
  {
    name: 'an edit of a RAW + JPEG pair joins the RAW group',
    files: [
      { path: 'IMG_5.CR2', kind: 'raw', at: T0 },
      { path: 'IMG_5.JPG', kind: 'image', at: T0 },
      { path: 'IMG_5-edited.JPG', kind: 'image', at: T0 },
    ],
    groups: [['IMG_5.CR2:primary', 'IMG_5.JPG:rendition', 'IMG_5-edited.JPG:edit']],
  },
  {
    name: 'an edited Live Photo: the edited video goes with the edited still',
    files: [
      { path: 'IMG_7.HEIC', kind: 'image', at: T0, cid: 'O' },
      { path: 'IMG_7.MOV', kind: 'video', cid: 'O' },
      { path: 'IMG_E7.HEIC', kind: 'image', at: T0, cid: 'E' },
      { path: 'IMG_E7.MOV', kind: 'video', cid: 'E' },
    ],
    groups: [
      ['IMG_7.HEIC:primary', 'IMG_7.MOV:live-video', 'IMG_E7.HEIC:edit', 'IMG_E7.MOV:live-video'],
    ],
  },
  {
    name: 'XMP named after the whole file name (darktable, digiKam)',
    files: [
      { path: 'a/IMG_5910.jpg', kind: 'image' },
      { path: 'a/IMG_5910.jpg.xmp', kind: 'sidecar' },
    ],
    groups: [['a/IMG_5910.jpg:primary', 'a/IMG_5910.jpg.xmp:sidecar']],
  },
  {
    name: 'XMP named after the stem goes with the RAW (Lightroom)',
    files: [
      { path: 'DSC_2.ARW', kind: 'raw', at: T0 },
      { path: 'DSC_2.JPG', kind: 'image', at: T0 + 10_000 },
      { path: 'DSC_2.xmp', kind: 'sidecar' },
    ],
    groups: [['DSC_2.ARW:primary', 'DSC_2.xmp:sidecar']],
  },
  {
    name: 'XMP named after the stem of the only media file',
    files: [
      { path: 'cookiezen.jpg', kind: 'image' },
      { path: 'cookiezen.xmp', kind: 'sidecar' },
    ],
    groups: [['cookiezen.jpg:primary', 'cookiezen.xmp:sidecar']],
  },
  {
    name: 'XMP named after a stem two media files share (no RAW): not attached',
    files: [
      { path: 'x.jpg', kind: 'image' },
      { path: 'x.mp4', kind: 'video' },
      { path: 'x.xmp', kind: 'sidecar' },
    ],
    groups: [],
  },
  {
    name: "Apple's original-adjustments IMG_O1234.AAE goes with IMG_1234",
    files: [
      { path: 'IMG_3582.HEIC', kind: 'image' },
      { path: 'IMG_3582.AAE', kind: 'sidecar' },
      { path: 'IMG_O3582.AAE', kind: 'sidecar' },
    ],
    groups: [['IMG_3582.HEIC:primary', 'IMG_3582.AAE:sidecar', 'IMG_O3582.AAE:sidecar']],
  },
  {
    name: 'an AAE goes with the HEIC before a JPEG of the same stem',
    files: [
      { path: 'IMG_8.JPG', kind: 'image' },
      { path: 'IMG_8.HEIC', kind: 'image' },
      { path: 'IMG_8.AAE', kind: 'sidecar' },
    ],
    groups: [['IMG_8.HEIC:primary', 'IMG_8.AAE:sidecar']],
  },
  {
    name: 'a sidecar without its media file is in no group',
    files: [
      { path: 'IMG_4179.jpeg.xmp', kind: 'sidecar' },
      { path: 'IMG_1.AAE', kind: 'sidecar' },
      { path: 'other.jpg', kind: 'image' },
    ],
    groups: [],
  },
  {
    name: 'a Lightroom export beside its RAW, naming it (crs:RawFileName), same capture time',
    files: [
      { path: 'DSC_0100.NEF', kind: 'raw', at: T0 },
      { path: 'DSC_0100-Edit.jpg', kind: 'image', at: T0, from: ['DSC_0100.NEF'] },
    ],
    groups: [['DSC_0100.NEF:primary', 'DSC_0100-Edit.jpg:edit']],
  },
  {
    name: 'a darktable export in a sibling folder, naming its original (xmpMM:DerivedFrom)',
    files: [
      { path: 'trip/raw/P1010020.RW2', kind: 'raw', at: T0 },
      { path: 'trip/export/P1010020_01.jpg', kind: 'image', at: T0 + 500, from: ['p1010020.rw2'] },
    ],
    groups: [['trip/raw/P1010020.RW2:primary', 'trip/export/P1010020_01.jpg:edit']],
  },
  {
    name: "an export in a subfolder of its original's folder, the original a JPEG",
    files: [
      { path: 'party/IMG_0200.JPG', kind: 'image', at: T0 },
      { path: 'party/Exported/party-1.jpg', kind: 'image', at: T0, from: ['IMG_0200.JPG'] },
    ],
    groups: [['party/IMG_0200.JPG:primary', 'party/Exported/party-1.jpg:edit']],
  },
  {
    name: 'an export of a RAW+JPEG pair joins the RAW group as an edit',
    files: [
      { path: 'IMG_0300.CR2', kind: 'raw', at: T0 },
      { path: 'IMG_0300.JPG', kind: 'image', at: T0 },
      { path: 'IMG_0300-2.jpg', kind: 'image', at: T0, from: ['IMG_0300.CR2'] },
    ],
    groups: [['IMG_0300.CR2:primary', 'IMG_0300.JPG:rendition', 'IMG_0300-2.jpg:edit']],
  },
  {
    name: 'an export taken at another time than the file it names stays apart',
    files: [
      { path: 'DSC_0400.NEF', kind: 'raw', at: T0 },
      { path: 'DSC_0400-Edit.jpg', kind: 'image', at: T0 + 60_000, from: ['DSC_0400.NEF'] },
    ],
    groups: [],
  },
  {
    name: 'an export whose named file is far away (not beside, sibling or parent) stays apart',
    files: [
      { path: 'a/b/DSC_0500.NEF', kind: 'raw', at: T0 },
      { path: 'c/d/DSC_0500.jpg', kind: 'image', at: T0, from: ['DSC_0500.NEF'] },
    ],
    groups: [],
  },
  {
    name: 'an export naming a file found in two sibling folders links to neither',
    files: [
      { path: 'shoot/card1/DSC_0600.NEF', kind: 'raw', at: T0 },
      { path: 'shoot/card2/DSC_0600.NEF', kind: 'raw', at: T0 },
      { path: 'shoot/export/DSC_0600.jpg', kind: 'image', at: T0, from: ['DSC_0600.NEF'] },
    ],
    groups: [],
  },
  {
    name: 'a JPEG whose XMP names itself (Lightroom saved its settings into it) is no export',
    files: [{ path: 'IMG_0700.JPG', kind: 'image', at: T0, from: ['IMG_0700.JPG'] }],
    groups: [],
  },
  {
    name: 'a sidecar in another directory does not match',
    files: [
      { path: 'a/IMG_1.HEIC', kind: 'image' },
      { path: 'b/IMG_1.AAE', kind: 'sidecar' },
    ],
    groups: [],
  },
];

describe('grouping: the rules of [Note: Grouping rules]', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(groupsOf(c.files), c.groups);
    });
  }

  it('every file is in one group at most, and every group has one primary and two members', () => {
    // each case in its own directory, with its own identifiers (Live Photos span directories)
    const files = cases.flatMap((c, i) =>
      c.files.map((f) => ({ ...f, path: `${i}/${f.path}`, cid: f.cid ? `${i}-${f.cid}` : null })),
    );
    const groups = groupsOf(files);
    const seen = new Set<string>();
    for (const g of groups) {
      assert.ok(g.length >= 2);
      assert.equal(g.filter((m) => m.endsWith(':primary')).length, 1);
      assert.ok(g[0]!.endsWith(':primary'));
      for (const m of g) {
        const path = m.slice(0, m.lastIndexOf(':'));
        assert.ok(!seen.has(path), `${path} is in two groups`);
        seen.add(path);
      }
    }
    // the folders do not meet: the union's groups are each case's groups
    assert.equal(
      groups.length,
      cases.reduce((n, c) => n + c.groups.length, 0),
    );
  });

  it('reads edit names: Apple IMG_E, Google -edited, Photos _edited', () => {
    assert.equal(originalStemOfEdit('IMG_E1853'), 'img_1853');
    assert.equal(originalStemOfEdit('IMG_4179-edited'), 'img_4179');
    assert.equal(originalStemOfEdit('St James Park_edited'), 'st james park');
    assert.equal(originalStemOfEdit('IMG_1853'), null);
    assert.equal(originalStemOfEdit('-edited'), null);
  });
});
