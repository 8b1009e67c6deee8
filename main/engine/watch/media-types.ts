// Which paths under a watched folder Keepsake backs up, and why not the others.
// classifyPath() is pure and fast (it runs for every name a scan or the watcher sees):
// extension lookup first, then hidden/system/temporary names, then the user's globs. A name
// whose extension is missing or unknown is 'unknown': its first bytes decide (sniff.ts), and
// what is not a photo or video is recorded as skipped, never silently left out.
// Invariant: one relPath and one set of rules always give the same answer, whether it came
// from the scan or from a watcher event, so a file never flips state by how it was noticed.
//
// Returned Classification objects for media and sidecars are shared and frozen (one per
// extension), so a scan of 100,000 files holds a handful of them, not 100,000.
import picomatch from 'picomatch';
import type { Classification, FolderRules } from './types.js';

type MediaClass = Extract<Classification, { kind: 'media' }>;
type SidecarClass = Extract<Classification, { kind: 'sidecar' }>;
type ExcludedClass = Extract<Classification, { kind: 'excluded' }>;
type UnknownClass = Extract<Classification, { kind: 'unknown' }>;

/** A name that says nothing about its content (shared, frozen). */
export const UNKNOWN_CONTENT: UnknownClass = Object.freeze({ kind: 'unknown' });

function media(mediaType: MediaClass['mediaType'], mime: string): MediaClass {
  return Object.freeze({ kind: 'media', mediaType, mime });
}

/** Lower-case extension (no dot) -> classification. */
const byExtension = new Map<string, MediaClass | SidecarClass>([
  // photos
  ['jpg', media('image', 'image/jpeg')],
  ['jpeg', media('image', 'image/jpeg')],
  ['jpe', media('image', 'image/jpeg')],
  ['jfif', media('image', 'image/jpeg')],
  ['jps', media('image', 'image/x-jps')], // stereo JPEG (corpus: exiftool-t-images)
  ['mpo', media('image', 'image/mpo')], // multi-picture (3D cameras)
  ['heic', media('image', 'image/heic')],
  ['heif', media('image', 'image/heif')],
  ['hif', media('image', 'image/heif')], // Fujifilm / Canon HEIF
  ['avif', media('image', 'image/avif')],
  ['png', media('image', 'image/png')],
  ['gif', media('image', 'image/gif')],
  ['webp', media('image', 'image/webp')],
  ['tif', media('image', 'image/tiff')],
  ['tiff', media('image', 'image/tiff')],
  ['bmp', media('image', 'image/bmp')],
  ['jxl', media('image', 'image/jxl')],
  ['jp2', media('image', 'image/jp2')], // JPEG 2000 (corpus: exiftool-t-images)
  // camera RAW
  ['dng', media('raw', 'image/x-adobe-dng')],
  ['cr2', media('raw', 'image/x-canon-cr2')],
  ['cr3', media('raw', 'image/x-canon-cr3')],
  ['crw', media('raw', 'image/x-canon-crw')],
  ['nef', media('raw', 'image/x-nikon-nef')],
  ['nrw', media('raw', 'image/x-nikon-nrw')],
  ['arw', media('raw', 'image/x-sony-arw')],
  ['srf', media('raw', 'image/x-sony-srf')],
  ['sr2', media('raw', 'image/x-sony-sr2')],
  ['orf', media('raw', 'image/x-olympus-orf')],
  ['rw2', media('raw', 'image/x-panasonic-rw2')],
  ['raf', media('raw', 'image/x-fuji-raf')],
  ['pef', media('raw', 'image/x-pentax-pef')],
  ['srw', media('raw', 'image/x-samsung-srw')],
  ['x3f', media('raw', 'image/x-sigma-x3f')],
  ['iiq', media('raw', 'image/x-phaseone-iiq')],
  ['3fr', media('raw', 'image/x-hasselblad-3fr')],
  ['fff', media('raw', 'image/x-hasselblad-fff')],
  ['mrw', media('raw', 'image/x-minolta-mrw')],
  ['rwl', media('raw', 'image/x-leica-rwl')],
  ['erf', media('raw', 'image/x-epson-erf')],
  ['kdc', media('raw', 'image/x-kodak-kdc')],
  ['dcr', media('raw', 'image/x-kodak-dcr')],
  ['mef', media('raw', 'image/x-mamiya-mef')],
  ['mos', media('raw', 'image/x-leaf-mos')],
  ['raw', media('raw', 'image/x-panasonic-raw')], // also Kyocera/Leica (corpus: KyoceraRaw.raw)
  // video
  ['mov', media('video', 'video/quicktime')],
  ['qt', media('video', 'video/quicktime')],
  ['mp4', media('video', 'video/mp4')],
  ['m4v', media('video', 'video/x-m4v')],
  ['3gp', media('video', 'video/3gpp')],
  ['3g2', media('video', 'video/3gpp2')],
  ['mts', media('video', 'video/mp2t')],
  ['m2ts', media('video', 'video/mp2t')],
  ['m2t', media('video', 'video/mp2t')],
  ['avi', media('video', 'video/x-msvideo')],
  ['mkv', media('video', 'video/x-matroska')],
  ['wmv', media('video', 'video/x-ms-wmv')],
  ['webm', media('video', 'video/webm')],
  ['mpg', media('video', 'video/mpeg')],
  ['mpeg', media('video', 'video/mpeg')],
  ['vob', media('video', 'video/dvd')],
  ['dv', media('video', 'video/x-dv')],
  ['flv', media('video', 'video/x-flv')],
  ['ogv', media('video', 'video/ogg')],
  ['insv', media('video', 'video/mp4')], // Insta360 (MP4 container)
  // sidecars that travel with their media
  ['xmp', Object.freeze({ kind: 'sidecar', mime: 'application/rdf+xml' } as SidecarClass)],
  ['aae', Object.freeze({ kind: 'sidecar', mime: 'application/xml' } as SidecarClass)],
]);

const IGNORED: Classification = Object.freeze({ kind: 'ignored' });

/** Names that are never a person's photo, in any folder (compared lower-case). */
const systemNames = new Set([
  'thumbs.db',
  'ehthumbs.db',
  'ehthumbs_vista.db',
  'desktop.ini',
  'icon\r', // macOS custom folder icon
]);

/**
 * Folders that belong to the system or a NAS, never to the person (compared lower-case):
 * Windows' recycle bin and restore points, Synology's thumbnail folders (full of .jpg
 * thumbnails), QNAP/Synology recycle bins, lost+found.
 */
const systemFolders = new Set([
  '$recycle.bin',
  'system volume information',
  '@eadir',
  '#recycle',
  '@recycle',
  '#snapshot',
  'lost+found',
]);

const temporarySuffixes = ['.tmp', '.temp', '.part', '.partial', '.crdownload', '.download', '~'];

/**
 * True for a folder name the scan and the watcher never enter: dot-folders (.git, .thumbnails,
 * .Trashes, .Spotlight-V100 ...) and system/NAS folders.
 */
export function isIgnoredFolderName(name: string): boolean {
  return name.startsWith('.') || systemFolders.has(name.toLowerCase());
}

/**
 * True for a file name that is hidden, system or temporary, whatever its extension:
 * dot-files (incl. macOS ._* resource forks and .DS_Store), Office lock files (~$*),
 * Thumbs.db, desktop.ini, and in-progress downloads and saves (*.tmp, *.part,
 * *.crdownload ...).
 */
export function isIgnoredFileName(name: string): boolean {
  if (name.startsWith('.') || name.startsWith('~$')) return true;
  const lower = name.toLowerCase();
  if (systemNames.has(lower)) return true;
  for (const suffix of temporarySuffixes) if (lower.endsWith(suffix)) return true;
  return false;
}

/** The media/sidecar class of a bare file name by its extension, or undefined. */
export function classifyByExtension(name: string): MediaClass | SidecarClass | undefined {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return undefined;
  return byExtension.get(name.slice(dot + 1).toLowerCase());
}

interface CompiledRules {
  include: { glob: string; test: (relPath: string) => boolean }[];
  exclude: { glob: string; test: (relPath: string) => boolean }[];
  /** What an unmatched include list says to the user (shared object). */
  notIncluded: ExcludedClass | undefined;
  /** One shared 'excluded' object per exclude glob. */
  excluded: Map<string, ExcludedClass>;
}

/**
 * [Note: How include and exclude globs match]
 * Globs are picomatch patterns matched against the path relative to the folder root (forward
 * slashes), case-insensitively (people type `*.MOV` and mean `*.mov` too) and matching
 * dot-names. A glob without a slash matches a name at any depth, like .gitignore: `*.png`
 * excludes every PNG, `Screenshots` excludes a folder named Screenshots anywhere (and so
 * everything under it). A glob with a slash is anchored at the root: `2019/raw/**`. A
 * trailing slash (`Screenshots/`) is accepted and means the same folder rule. A path is
 * tested, and so is every folder above it, so excluding a folder excludes its contents.
 * When include globs are given, a file must match one of them (itself or a folder above it)
 * to be backed up; excludes win over includes.
 */
function compileGlob(glob: string): { glob: string; test: (relPath: string) => boolean } {
  const pattern = glob.trim().replace(/\/+$/, '');
  const matcher = picomatch(pattern, {
    nocase: true,
    dot: true,
    basename: !pattern.includes('/'),
  });
  const test = (relPath: string): boolean => {
    if (matcher(relPath)) return true;
    // every folder above the file: "a/b/c.jpg" -> "a/b", "a"
    let end = relPath.lastIndexOf('/');
    while (end > 0) {
      if (matcher(relPath.slice(0, end))) return true;
      end = relPath.lastIndexOf('/', end - 1);
    }
    return false;
  };
  return { glob, test };
}

const compiledCache = new Map<string, CompiledRules>();
const compiledByObject = new WeakMap<FolderRules, CompiledRules>();

function compileRules(rules: FolderRules): CompiledRules {
  const known = compiledByObject.get(rules);
  if (known) return known;
  const key = JSON.stringify([rules.include, rules.exclude]);
  let compiled = compiledCache.get(key);
  if (!compiled) {
    const include = rules.include.filter((g) => g.trim() !== '').map(compileGlob);
    const exclude = rules.exclude.filter((g) => g.trim() !== '').map(compileGlob);
    compiled = {
      include,
      exclude,
      notIncluded:
        include.length > 0
          ? Object.freeze({
              kind: 'excluded',
              rule: `include: matches none of ${include.map((i) => i.glob).join(', ')}`,
            } as ExcludedClass)
          : undefined,
      excluded: new Map(
        exclude.map((e) => [
          e.glob,
          Object.freeze({ kind: 'excluded', rule: `exclude: ${e.glob}` } as ExcludedClass),
        ]),
      ),
    };
    if (compiledCache.size >= 64) compiledCache.clear(); // rules change rarely; bound it anyway
    compiledCache.set(key, compiled);
  }
  compiledByObject.set(rules, compiled);
  return compiled;
}

/**
 * Classifies a path relative to a folder root (forward slashes). Hidden/system/temporary
 * files are 'ignored' (never recorded); names without a known extension are 'unknown' (the
 * content decides); media, sidecars and unknown names that a user glob rules out are
 * 'excluded' with the rule, so the person can see why.
 * See [Note: How include and exclude globs match].
 */
export function classifyPath(relPath: string, rules: FolderRules): Classification {
  const slash = relPath.lastIndexOf('/');
  const name = slash >= 0 ? relPath.slice(slash + 1) : relPath;
  if (name === '' || isIgnoredFileName(name)) return IGNORED;
  const byExt = classifyByExtension(name) ?? UNKNOWN_CONTENT;
  if (slash >= 0) {
    for (const folder of relPath.slice(0, slash).split('/')) {
      if (isIgnoredFolderName(folder)) return IGNORED;
    }
  }
  return applyRules(relPath, byExt, rules);
}

/**
 * The user-rule half of classifyPath, for a caller (the scan) that has already checked the
 * name and the folders above it.
 */
export function applyRules(
  relPath: string,
  byExt: MediaClass | SidecarClass | UnknownClass,
  rules: FolderRules,
): Classification & { kind: 'media' | 'sidecar' | 'unknown' | 'excluded' } {
  if (rules.include.length === 0 && rules.exclude.length === 0) return byExt;
  const compiled = compileRules(rules);
  for (const e of compiled.exclude) {
    if (e.test(relPath)) return compiled.excluded.get(e.glob) ?? byExt;
  }
  if (compiled.notIncluded && !compiled.include.some((i) => i.test(relPath))) {
    return compiled.notIncluded;
  }
  return byExt;
}
