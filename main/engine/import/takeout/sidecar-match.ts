// Which JSON sidecar of a Google Takeout export describes which photo or video, from names
// alone (pure: no I/O, no clock). The import reads the sidecars this names and nothing else.
// Invariant: a sidecar is attached to a media file only by a row of [Note: Takeout sidecar
// names]; anything else (no media, several candidates) is reported, never guessed.
//
// [Note: Takeout sidecar names]
// Google writes one JSON per item beside it, but names it by rules it never documented. The
// rows below are tried in order for each sidecar, in the sidecar's own folder (entries from
// several parts of one export are one tree: a sidecar may come from another part than its
// photo). "stem" is the sidecar name without ".json"; "(n)" is Google's duplicate counter.
// | row | sidecar name                                   | media it describes      | rule          |
// |-----|------------------------------------------------|-------------------------|---------------|
// |  1  | IMG_1.jpg.json                                 | IMG_1.jpg               | exact         |
// |  2  | IMG_1.jpg.supplemental-metadata.json (2024+)   | IMG_1.jpg               | supplemental  |
// |  3  | IMG_1.jpg.supplemental-metad.json, .suppl.json | IMG_1.jpg               | supplemental  |
// |     |   (the suffix cut short: any prefix of it)     |                         |               |
// |  4  | IMG_1.jpg(1).json (the counter moved to the    | IMG_1(1).jpg            | counter       |
// |     |   end), also IMG_1.jpg.supplemental-metadata(1).json                     |               |
// |  5  | a stem of 46 or 47 characters that begins      | the one media name it   | truncated     |
// |     |   exactly one "name.ext.supplemental-metadata" | begins                  |               |
// |     |   in the folder (Google cuts long names there) |                         |               |
// |  6  | a stem of 46/47 characters beginning several   | none: reported          | (ambiguous)   |
// |  7  | no media of that name in the folder            | none: reported          | (no_media)    |
// Then, for media still without a sidecar of their own:
// |  8  | (none of its own)                              | IMG_1-edited.jpg and    | edited        |
// |     |   the original's IMG_1.jpg.json                | localised forms         |               |
// |     |                                                |   (-bearbeitet, -modifié,|              |
// |     |                                                |   -editado, ...)        |               |
// |  9  | (none of its own) the still's sidecar          | IMG_1.mp4 / IMG_1.MOV   | live-part     |
// |     |   (IMG_1.HEIC.json, PXL_1.MP.jpg.json)         |   beside IMG_1.HEIC;    |               |
// |     |                                                |   PXL_1.MP beside       |               |
// |     |                                                |   PXL_1.MP.jpg          |               |
// | 10  | nothing                                        | reported as media       | (none)        |
// |     |                                                |   without a sidecar     |               |
// A JSON whose stem names no file (no "." in it and shorter than 46: print-subscriptions.json,
// user-generated-memory-titles.json) is an archive-level file, and an album's metadata.json
// (and its localised names) is the album's: neither is a sidecar. Every row has a test in
// tests/unit/engine/import/takeout/sidecar-match.test.ts.
import { classifyByExtension } from '../../watch/media-types.js';

export type MatchRule = 'exact' | 'supplemental' | 'counter' | 'truncated' | 'edited' | 'live-part';

export interface MediaMatch {
  /** The media file's path as given. */
  path: string;
  /** The path of the JSON describing it, or null (row 10). */
  sidecar: string | null;
  /** The row that matched them; null without a sidecar. */
  rule: MatchRule | null;
  /** image or video (RAW counts as image). */
  kind: 'image' | 'video';
}

export interface UnmatchedSidecar {
  path: string;
  reason: 'no_media' | 'ambiguous' | 'media_has_one';
  /** For 'ambiguous': the media names it could describe. */
  candidates?: string[];
}

export interface SidecarMatchResult {
  /** Every media file, in path order. */
  media: MediaMatch[];
  /** JSON that looks like a sidecar but describes no media found (rows 6, 7). */
  unmatchedSidecars: UnmatchedSidecar[];
  /** Album metadata files (metadata.json and localised names), by folder path. */
  albumMetadata: Map<string, string>;
  /** Everything else: archive-level JSON, HTML, README ... */
  other: string[];
}

const SUPPLEMENTAL = '.supplemental-metadata';
const TRUNCATED_LENGTHS = new Set([46, 47]);

/** Album metadata file names as Takeout writes them in several languages (compared lower-case). */
export const ALBUM_METADATA_NAMES = new Set([
  'metadata.json',
  'metadaten.json', // de
  'métadonnées.json', // fr
  'metadatos.json', // es
  'metadati.json', // it
  'metadados.json', // pt
  'metagegevens.json', // nl
]);

/**
 * Suffixes Google adds to an edited copy, by language (compared NFC, lower-case). The copy has
 * no sidecar of its own and shares its original's.
 */
export const EDITED_SUFFIXES = [
  '-edited',
  '-bearbeitet', // de
  '-modifié', // fr
  '-editado', // es, pt
  '-modificato', // it
  '-bewerkt', // nl
  '-redigeret', // da
  '-redigert', // nb
  '-redigerad', // sv
  '-muokattu', // fi
  '-edytowane', // pl
  '-upraveno', // cs
  '-szerkesztett', // hu
  '-düzenlendi', // tr
  '-編集済み', // ja
  '-已修改', // zh
  '-편집됨', // ko
].map((s) => s.normalize('NFC'));

const VIDEO_EXTRA = new Set(['mp']); // Android motion photo's video part: PXL_1.MP

function splitPath(path: string): { folder: string; name: string } {
  const slash = path.lastIndexOf('/');
  return slash < 0
    ? { folder: '', name: path }
    : { folder: path.slice(0, slash), name: path.slice(slash + 1) };
}

function extOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase();
}

function stripExt(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? name : name.slice(0, dot);
}

/** image / video for a media name, or null when it is not one. */
export function mediaKindOf(name: string): 'image' | 'video' | null {
  if (VIDEO_EXTRA.has(extOf(name))) return 'video';
  const c = classifyByExtension(name);
  if (c?.kind !== 'media') return null;
  return c.mediaType === 'video' ? 'video' : 'image';
}

/** IMG_1.jpg + 1 -> IMG_1(1).jpg */
function withCounter(name: string, counter: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? `${name}(${counter})` : `${name.slice(0, dot)}(${counter})${name.slice(dot)}`;
}

/** IMG_1(1).jpg -> { name: IMG_1.jpg, counter: '1' } */
function withoutCounter(name: string): { name: string; counter: string | null } {
  const m = /^(.*)\((\d+)\)(\.[^.]*)?$/.exec(name);
  if (!m) return { name, counter: null };
  return { name: `${m[1] ?? ''}${m[3] ?? ''}`, counter: m[2] ?? null };
}

function isTruncatedLength(stem: string): boolean {
  return TRUNCATED_LENGTHS.has(stem.length) || TRUNCATED_LENGTHS.has([...stem].length);
}

/** Whether a JSON name could be an item's sidecar (names a file, or was cut at 46/47). */
function looksLikeSidecar(stem: string): boolean {
  return withoutCounter(stem).name.includes('.') || isTruncatedLength(stem);
}

interface Folder {
  media: Map<string, string>; // name -> path
  json: { name: string; path: string }[];
}

interface OwnMatch {
  media: string | null;
  rule: MatchRule;
  ambiguous?: string[];
}

/** Rows 1-7 for one sidecar name against the media names of its folder. */
function matchOwn(jsonName: string, media: ReadonlyMap<string, string>): OwnMatch {
  const stem0 = jsonName.replace(/\.json$/i, '');
  if (media.has(stem0)) return { media: stem0, rule: 'exact' }; // row 1
  const countered = /^(.*)\((\d+)\)$/.exec(stem0);
  const stem = countered?.[1] ?? stem0;
  const counter = countered?.[2] ?? null;
  const target = (base: string) => (counter === null ? base : withCounter(base, counter));
  const dot = stem.lastIndexOf('.');
  const tail = dot > 0 ? stem.slice(dot) : '';
  // rows 2, 3: the supplemental suffix, whole or cut short
  if (tail.length >= 2 && SUPPLEMENTAL.startsWith(tail)) {
    const base = stem.slice(0, dot);
    if (media.has(target(base))) {
      return { media: target(base), rule: counter === null ? 'supplemental' : 'counter' };
    }
  }
  if (counter !== null && media.has(target(stem))) return { media: target(stem), rule: 'counter' }; // row 4
  // rows 5, 6: the stem was cut at 46/47 characters
  if (isTruncatedLength(stem)) {
    const candidates: string[] = [];
    for (const name of media.keys()) {
      const plain = withoutCounter(name);
      if (counter !== null && plain.counter !== counter) continue;
      const full = counter === null ? name : plain.name;
      if (full !== stem && `${full}${SUPPLEMENTAL}`.startsWith(stem)) candidates.push(name);
    }
    if (candidates.length === 1) return { media: candidates[0] ?? null, rule: 'truncated' };
    if (candidates.length > 1)
      return { media: null, rule: 'truncated', ambiguous: candidates.sort() };
  }
  return { media: null, rule: 'exact' }; // row 7
}

/** The original an edited copy was made from (row 8), or null. */
function originalOfEdited(name: string): string | null {
  const ext = name.lastIndexOf('.');
  if (ext <= 0) return null;
  const base = name.slice(0, ext).normalize('NFC');
  const lower = base.toLowerCase();
  for (const suffix of EDITED_SUFFIXES) {
    if (lower.endsWith(suffix) && base.length > suffix.length) {
      return `${base.slice(0, base.length - suffix.length)}${name.slice(ext)}`;
    }
  }
  return null;
}

/** IMG_1.HEIC, IMG_1.mp4, PXL_1.MP.jpg, PXL_1.MP -> IMG_1 / PXL_1 (row 9). */
function liveKey(name: string): string {
  return stripExt(name).replace(/\.mp$/i, '');
}

/** Applies [Note: Takeout sidecar names] to every path of an export (all its parts). */
export function matchSidecars(paths: readonly string[]): SidecarMatchResult {
  const folders = new Map<string, Folder>();
  const albumMetadata = new Map<string, string>();
  const other: string[] = [];
  const kinds = new Map<string, 'image' | 'video'>();
  for (const path of paths) {
    const { folder, name } = splitPath(path);
    let f = folders.get(folder);
    if (!f) {
      f = { media: new Map(), json: [] };
      folders.set(folder, f);
    }
    if (/\.json$/i.test(name)) {
      if (ALBUM_METADATA_NAMES.has(name.normalize('NFC').toLowerCase())) {
        albumMetadata.set(folder, path);
      } else if (looksLikeSidecar(name.replace(/\.json$/i, ''))) f.json.push({ name, path });
      else other.push(path);
      continue;
    }
    const kind = mediaKindOf(name);
    if (kind === null) {
      other.push(path);
      continue;
    }
    f.media.set(name, path);
    kinds.set(path, kind);
  }

  const sidecarOf = new Map<string, { sidecar: string; rule: MatchRule }>(); // media path ->
  const unmatchedSidecars: UnmatchedSidecar[] = [];
  for (const f of folders.values()) {
    // Exact names first, so a cut or countered name never takes a media its own JSON names.
    const ordered = [...f.json].sort(
      (a, b) => Number(!f.media.has(stripExt(a.name))) - Number(!f.media.has(stripExt(b.name))),
    );
    for (const json of ordered) {
      const own = matchOwn(json.name, f.media);
      const mediaPath = own.media === null ? undefined : f.media.get(own.media);
      if (own.ambiguous) {
        unmatchedSidecars.push({ path: json.path, reason: 'ambiguous', candidates: own.ambiguous });
      } else if (mediaPath === undefined) {
        unmatchedSidecars.push({ path: json.path, reason: 'no_media' });
      } else if (sidecarOf.has(mediaPath)) {
        unmatchedSidecars.push({ path: json.path, reason: 'media_has_one' });
      } else sidecarOf.set(mediaPath, { sidecar: json.path, rule: own.rule });
    }
    // rows 8, 9: copies and parts that share another file's sidecar
    const shared = new Map<string, { sidecar: string; rule: MatchRule }>();
    for (const [name, path] of f.media) {
      if (sidecarOf.has(path)) continue;
      const original = originalOfEdited(name);
      const originalPath = original === null ? undefined : f.media.get(original);
      const own = originalPath === undefined ? undefined : sidecarOf.get(originalPath);
      if (own) {
        shared.set(path, { sidecar: own.sidecar, rule: 'edited' });
        continue;
      }
      if (kinds.get(path) !== 'video') continue;
      const key = liveKey(name);
      const stills = [...f.media].filter(
        ([n, p]) =>
          n !== name && kinds.get(p) === 'image' && liveKey(n) === key && sidecarOf.has(p),
      );
      const still = stills.length === 1 ? stills[0] : undefined;
      const stillSidecar = still === undefined ? undefined : sidecarOf.get(still[1]);
      if (stillSidecar) shared.set(path, { sidecar: stillSidecar.sidecar, rule: 'live-part' });
    }
    for (const [path, m] of shared) sidecarOf.set(path, m);
  }

  const media: MediaMatch[] = [...kinds]
    .map(([path, kind]) => {
      const m = sidecarOf.get(path);
      return { path, sidecar: m?.sidecar ?? null, rule: m?.rule ?? null, kind };
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  unmatchedSidecars.sort((a, b) => (a.path < b.path ? -1 : 1));
  other.sort();
  return { media, unmatchedSidecars, albumMetadata, other };
}
