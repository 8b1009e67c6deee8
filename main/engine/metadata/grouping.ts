// Which files of one watched folder are one asset to a person: a Live Photo's still and
// video, a RAW and the camera's JPEG of it, an original and its edited copy, a photo and its
// XMP/AAE sidecars. Pure: the files and what their metadata said go in, groups come out; no
// I/O, no clock. The engine sends the groups to the vault (pipeline/group-pump.ts), which
// records them (See [Note: A declaration replaces] in common/vault-protocol.ts).
// Invariant: a file is in at most one group, every group has exactly one primary and at least
// two members, and a link is made only on evidence the table below calls certain: a name
// alone never joins two media files.
//
// [Note: Grouping rules]
// | rule              | files                                   | evidence required                           | roles                    |
// |-------------------|-----------------------------------------|---------------------------------------------|--------------------------|
// | Live Photo        | a still (image) and a video, anywhere   | the same Apple content identifier (still:   | still primary,           |
// |                   |   in the watched folder                 |   MakerNotes ContentIdentifier, formerly    |   video live-video       |
// |                   |                                         |   MediaGroupUUID; video: QuickTime Keys     |                          |
// |                   |                                         |   ContentIdentifier). Several stills share  |                          |
// |                   |                                         |   it: the one with the video's directory    |                          |
// |                   |                                         |   and stem, else none                       |                          |
// | not a Live Photo  | IMG_1234.JPG + IMG_1234.MP4             | same stem but no shared identifier          | stay two assets          |
// | RAW + JPEG        | a RAW and an image, same directory,     | both capture times read from the files      | RAW primary, image       |
// |                   |   same stem (any letter case)           |   (EXIF/QuickTime/GPS, not a name or mtime) |   rendition              |
// |                   |                                         |   and at most 2 s apart                     |                          |
// | RAW + Live still  | the image of a RAW + JPEG pair is a     | as RAW + JPEG                               | still primary, RAW raw   |
// |                   |   Live Photo's still                    |                                             |                          |
// | Apple edit        | IMG_E1234.* beside IMG_1234.*, same dir | capture times from the files less than 1 s  | original primary (or its |
// | Google/Photos edit| name-edited.* / name_edited.* beside    |   apart, or the same Apple content          |   group's), copy edit    |
// |                   |   name.*, same directory                |   identifier                                |                          |
// | edit not certain  | the name rule without that evidence     | -                                           | stay two assets          |
// | export (Lightroom,| an image whose XMP names the file it was | the named file (by name, any letter case)   | original primary (or its |
// |   darktable)      |   made from (crs:RawFileName, xmpMM:    |   sits in the export's directory, a sibling |   group's), export edit  |
// |                   |   DerivedFrom or its stRef:filePath,    |   of it, or its parent (an export subfolder)|                          |
// |                   |   xmpMM:PreservedFileName)              |   and both capture times from the files are |                          |
// |                   |                                         |   less than 1 s apart; one such file only   |                          |
// |                   |                                         |   (the export's directory first), else none |                          |
// | export not certain| the named file elsewhere, at another    | -                                           | stay two assets          |
// |                   |   time, or several candidates           |                                             |                          |
// | XMP, full name    | name.ext.xmp beside name.ext            | the name (a sidecar carries no pixels)      | sidecar                  |
// | XMP, stem         | name.xmp beside name.*                  | the RAW of that stem, else the only media   | sidecar                  |
// |                   |                                         |   file of that stem; several: none          |                          |
// | AAE               | name.AAE (or IMG_O1234.AAE) beside      | the still of that stem (HEIC before JPEG    | sidecar                  |
// |                   |   name.* (IMG_1234.*)                   |   before other images)                      |                          |
// | sidecar alone     | no media file matches                   | -                                           | no group                 |
// Each file links to at most one parent (a video: Live Photo first, then edit; an image: the
// original its XMP names first (the XMP is the evidence; a camera's JPEG names no RAW), then
// RAW, then edit; a RAW: Live still, then edit), and never to one of its own descendants;
// a group is a root and everything linked to
// it, flattened: an edit of a RAW + JPEG pair's JPEG is an edit in the RAW's group. Android
// motion photos carry their video inside the JPEG: one file, nothing to group; the metadata
// reader marks them (MediaMetadata.motionPhoto, where the XMP puts the video), which makes them
// Live Photos in the Library and lets the vault serve that video. Exports are linked by the
// name their XMP records, not by XMP document ids: a camera's RAW carries no xmpMM:DocumentID
// (Lightroom keeps it in its catalogue or a sidecar), so there is nothing in the original to
// compare an id with; the name, nearby, at the same instant, is what is certain.
import type { GroupRole } from '../../../common/vault-protocol.js';

export type GroupingKind = 'image' | 'raw' | 'video' | 'sidecar';

export interface GroupingFile {
  /** A stable key (the file's id in the store). */
  id: number;
  /** The path inside the watched folder, '/'-separated. */
  relPath: string;
  kind: GroupingKind;
  /**
   * The capture instant read from the file itself (EXIF, QuickTime, GPS), unix ms; null when
   * unknown or only guessed from its name or modification time.
   */
  capturedAtMs: number | null;
  /** Apple's content identifier, upper-case; null when none. */
  appleContentId: string | null;
  /**
   * The files an export's XMP says it was made from, as lower-case base names (Lightroom's
   * crs:RawFileName, xmpMM:DerivedFrom, PreservedFileName); absent or empty: none.
   */
  derivedFrom?: readonly string[];
}

export interface DecidedGroup {
  /** The primary first, then the others in a stable order. */
  members: { id: number; role: GroupRole }[];
}

/** Most apart a RAW and its JPEG may have been taken (ms). */
export const RAW_JPEG_WINDOW_MS = 2000;
/** An edit keeps its original's capture time: less than this apart (ms). */
const EDIT_WINDOW_MS = 1000;

interface Named {
  file: GroupingFile;
  dir: string;
  /** base name without its last extension, lower-case */
  stem: string;
  /** last extension, lower-case, no dot */
  ext: string;
  /** base name, lower-case */
  base: string;
}

function named(file: GroupingFile): Named {
  const slash = file.relPath.lastIndexOf('/');
  const dir = slash < 0 ? '' : file.relPath.slice(0, slash);
  const name = file.relPath.slice(slash + 1);
  const dot = name.lastIndexOf('.');
  const stem = dot <= 0 ? name : name.slice(0, dot);
  const ext = dot <= 0 ? '' : name.slice(dot + 1);
  return { file, dir, stem: stem.toLowerCase(), ext: ext.toLowerCase(), base: name.toLowerCase() };
}

/** The directory above `dir` ('' is the top of the watched folder), or null above the top. */
function parentDir(dir: string): string | null {
  if (dir === '') return null;
  const slash = dir.lastIndexOf('/');
  return slash < 0 ? '' : dir.slice(0, slash);
}

/** The stem of the original an edit's stem names, or null when it follows no edit rule. */
export function originalStemOfEdit(stem: string): string | null {
  const apple = /^(.*_)e(\d+)$/i.exec(stem);
  if (apple) return `${apple[1]}${apple[2]}`.toLowerCase();
  const google = /^(.+)[-_]edited$/i.exec(stem);
  if (google?.[1]) return google[1].toLowerCase();
  return null;
}

/** Apple's "original adjustments" sidecar IMG_O1234.AAE belongs to IMG_1234. */
function aaeStem(stem: string): string {
  const m = /^(.*_)o(\d+)$/i.exec(stem);
  return m ? `${m[1]}${m[2]}`.toLowerCase() : stem;
}

const STILL_ORDER = ['heic', 'heif', 'jpg', 'jpeg'];
function stillRank(n: Named): number {
  const i = STILL_ORDER.indexOf(n.ext);
  return i < 0 ? STILL_ORDER.length : i;
}

function sameInstant(a: GroupingFile, b: GroupingFile, windowMs: number, inclusive: boolean) {
  if (a.capturedAtMs === null || b.capturedAtMs === null) return false;
  const apart = Math.abs(a.capturedAtMs - b.capturedAtMs);
  return inclusive ? apart <= windowMs : apart < windowMs;
}

const ROLE_ORDER: readonly GroupRole[] = [
  'primary',
  'live-video',
  'raw',
  'rendition',
  'sidecar',
  'edit',
];

/** The groups among one watched folder's files. See [Note: Grouping rules]. */
export function decideGroups(files: readonly GroupingFile[]): DecidedGroup[] {
  const all = files.map(named);
  const byDirStem = new Map<string, Named[]>();
  const byDirBase = new Map<string, Named>();
  for (const n of all) {
    if (n.file.kind === 'sidecar') continue;
    const key = `${n.dir}\0${n.stem}`;
    const list = byDirStem.get(key);
    if (list) list.push(n);
    else byDirStem.set(key, [n]);
    byDirBase.set(`${n.dir}\0${n.base}`, n);
  }
  const sameStem = (n: Named, stem: string) => byDirStem.get(`${n.dir}\0${stem}`) ?? [];
  /** child id -> parent id and the child's role */
  const parent = new Map<number, { id: number; role: GroupRole }>();
  /** Whether `ancestor` is `id` or above it: a link back to it would make a loop. */
  const leadsTo = (id: number, ancestor: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)?.id)
      if (at === ancestor) return true;
    return false;
  };
  const link = (child: Named, to: Named, role: GroupRole) => {
    if (!parent.has(child.file.id) && !leadsTo(to.file.id, child.file.id))
      parent.set(child.file.id, { id: to.file.id, role });
  };

  // Live Photos: by Apple's content identifier, wherever the files sit.
  const byContentId = new Map<string, { stills: Named[]; videos: Named[] }>();
  for (const n of all) {
    const id = n.file.appleContentId;
    if (id === null || (n.file.kind !== 'image' && n.file.kind !== 'video')) continue;
    let entry = byContentId.get(id);
    if (!entry) byContentId.set(id, (entry = { stills: [], videos: [] }));
    (n.file.kind === 'image' ? entry.stills : entry.videos).push(n);
  }
  const liveStills = new Set<number>();
  for (const { stills, videos } of byContentId.values()) {
    for (const video of videos) {
      const still =
        stills.length === 1
          ? stills[0]
          : stills.find((s) => s.dir === video.dir && s.stem === video.stem);
      if (still === undefined) continue;
      link(video, still, 'live-video');
      liveStills.add(still.file.id);
    }
  }

  // Exports: the file their XMP names, nearby, taken at the same instant.
  const byBase = new Map<string, Named[]>();
  for (const n of all) {
    if (n.file.kind !== 'image' && n.file.kind !== 'raw') continue;
    const list = byBase.get(n.base);
    if (list) list.push(n);
    else byBase.set(n.base, [n]);
  }
  for (const exp of all) {
    if (exp.file.kind !== 'image' || !exp.file.derivedFrom?.length) continue;
    const up = parentDir(exp.dir);
    const near = (o: Named) =>
      o.dir === exp.dir || o.dir === up || (up !== null && parentDir(o.dir) === up);
    const originals = [...new Set(exp.file.derivedFrom)]
      .flatMap((name) => byBase.get(name) ?? [])
      .filter(
        (o) =>
          o.file.id !== exp.file.id &&
          near(o) &&
          sameInstant(exp.file, o.file, EDIT_WINDOW_MS, false),
      );
    const here = originals.filter((o) => o.dir === exp.dir);
    const original =
      here.length === 1 ? here[0] : originals.length === 1 ? originals[0] : undefined;
    if (original) link(exp, original, 'edit');
  }

  // RAW + JPEG: same directory and stem, taken within 2 s of each other.
  for (const raw of all) {
    if (raw.file.kind !== 'raw') continue;
    for (const image of sameStem(raw, raw.stem)) {
      if (image.file.kind !== 'image') continue;
      if (!sameInstant(raw.file, image.file, RAW_JPEG_WINDOW_MS, true)) continue;
      if (liveStills.has(image.file.id)) link(raw, image, 'raw');
      else link(image, raw, 'rendition');
    }
  }

  // Edits: a name rule, and the same capture time or the same content identifier.
  for (const edit of all) {
    if (edit.file.kind === 'sidecar') continue;
    const stem = originalStemOfEdit(edit.stem);
    if (stem === null) continue;
    const originals = sameStem(edit, stem)
      .filter((o) => (edit.file.kind === 'video') === (o.file.kind === 'video'))
      .filter(
        (o) =>
          sameInstant(edit.file, o.file, EDIT_WINDOW_MS, false) ||
          (edit.file.appleContentId !== null && edit.file.appleContentId === o.file.appleContentId),
      )
      .sort((a, b) => Number(a.file.kind === 'raw') - Number(b.file.kind === 'raw'));
    const original = originals[0];
    if (original) link(edit, original, 'edit');
  }

  // Sidecars: by name.
  for (const side of all) {
    if (side.file.kind !== 'sidecar') continue;
    let media: Named | undefined;
    if (side.ext === 'xmp') {
      media = byDirBase.get(`${side.dir}\0${side.stem}`);
      if (!media) {
        const candidates = sameStem(side, side.stem);
        media =
          candidates.find((c) => c.file.kind === 'raw') ??
          (candidates.length === 1 ? candidates[0] : undefined);
      }
    } else if (side.ext === 'aae') {
      media = sameStem(side, aaeStem(side.stem))
        .filter((c) => c.file.kind === 'image')
        .sort((a, b) => stillRank(a) - stillRank(b))[0];
    }
    if (media) link(side, media, 'sidecar');
  }

  // Flatten: each root with everything linked to it.
  const children = new Map<number, { id: number; role: GroupRole }[]>();
  for (const [child, p] of parent) {
    const list = children.get(p.id);
    if (list) list.push({ id: child, role: p.role });
    else children.set(p.id, [{ id: child, role: p.role }]);
  }
  const pathOf = new Map(files.map((f) => [f.id, f.relPath]));
  // Plain code-unit order: stable across machines (no locale) and cheap on large folders.
  const byPath = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  const order = (a: { id: number; role: GroupRole }, b: { id: number; role: GroupRole }) =>
    ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role) ||
    byPath(pathOf.get(a.id) ?? '', pathOf.get(b.id) ?? '');
  const groups: DecidedGroup[] = [];
  for (const f of files) {
    if (parent.has(f.id) || !children.has(f.id)) continue;
    const members: DecidedGroup['members'] = [{ id: f.id, role: 'primary' }];
    const seen = new Set([f.id]);
    for (let i = 0; i < members.length; i++) {
      const at = members[i];
      if (at === undefined) break;
      for (const child of [...(children.get(at.id) ?? [])].sort(order)) {
        if (seen.has(child.id)) continue;
        seen.add(child.id);
        members.push(child);
      }
    }
    groups.push({ members });
  }
  return groups;
}
