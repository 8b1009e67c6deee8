// Test trees built from the real corpus (../shared/corpus): a chosen set of files copied into
// a temp folder, and a generator of N unique files (corpus photos with unique bytes appended)
// for the scan and backup benchmarks and the large-folder watcher test.
//
// Invariants:
// - the corpus is never written: files are copied out (copyFile), never linked;
// - every copied file's sha256 is known from MANIFEST.tsv, and every generated file's sha256
//   is computed from the bytes written, so tests compare the vault against ground truth that
//   does not come from the code under test;
// - generated files stay valid for a JPEG/PNG reader: the unique bytes go after the image data.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { corpusFile, corpusRoot } from './paths.js';

export interface ManifestRow {
  /** relative to the corpus root */
  path: string;
  bytes: number;
  sha256: string;
  /** exiftool FileType, e.g. "JPEG", "UNRECOGNIZED/corrupt (extension .jpg)" */
  format: string;
  notes: string;
}

let manifestCache: ManifestRow[] | null = null;

export function readManifest(): ManifestRow[] {
  if (manifestCache) return manifestCache;
  const text = readFileSync(join(corpusRoot, 'MANIFEST.tsv'), 'utf8');
  const rows: ManifestRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    if (line.trim() === '') continue;
    const cols = line.split('\t');
    rows.push({
      path: cols[0] ?? '',
      bytes: Number(cols[1]),
      sha256: cols[2] ?? '',
      format: cols[3] ?? '',
      notes: cols[8] ?? '',
    });
  }
  manifestCache = rows;
  return rows;
}

export function manifestRow(relPath: string): ManifestRow {
  const row = readManifest().find((r) => r.path === relPath);
  if (!row) throw new Error(`not in corpus MANIFEST.tsv: ${relPath}`);
  return row;
}

/**
 * Extensions the issue calls media ("common photo, RAW and video formats") and sidecars
 * (".xmp, .aae"). Tests only rely on the unambiguous ones below; anything else (json, txt,
 * html) is expected to be ignored.
 */
export const mediaExtensions = new Set([
  '.jpg',
  '.jpeg',
  '.heic',
  '.heif',
  '.png',
  '.gif',
  '.tif',
  '.tiff',
  '.webp',
  '.avif',
  '.dng',
  '.cr2',
  '.cr3',
  '.nef',
  '.raf',
  '.rw2',
  '.mov',
  '.mp4',
  '.3gp',
  '.avi',
  '.mkv',
]);
export const sidecarExtensions = new Set(['.xmp', '.aae']);

export function isExpectedMedia(path: string): boolean {
  return mediaExtensions.has(extname(path).toLowerCase());
}
export function isExpectedTracked(path: string): boolean {
  const ext = extname(path).toLowerCase();
  return mediaExtensions.has(ext) || sidecarExtensions.has(ext);
}

/**
 * A representative mix for end-to-end tests (~3.5 MB): camera JPEGs with real EXIF and GPS,
 * an odd Unicode name, HEIC, a Live Photo MOV, MP4, PNG, TIFF, GIF, RAW (CR2, NEF, DNG), an
 * XMP and an AAE sidecar, an exact duplicate pair (wedding.jpg in two folders), and non-media
 * files (Takeout JSON, a README) that must be ignored.
 */
export const standardSample: { corpus: string; dest: string }[] = [
  { corpus: 'ianare-exif-samples/jpg/gps/DSCN0010.jpg', dest: 'camera/DSCN0010.jpg' },
  {
    corpus: 'ianare-exif-samples/jpg/Canon_PowerShot_S40.jpg',
    dest: 'camera/Canon_PowerShot_S40.jpg',
  },
  { corpus: 'ianare-exif-samples/jpg/exif-org/nikon-e950.jpg', dest: 'camera/nikon-e950.jpg' },
  { corpus: 'exifr-fixtures/issue-exifr-47.jpeg', dest: 'camera/issue-exifr-47.jpeg' },
  {
    corpus: 'metadata-extractor-images/jpg/Olympus μ Digital 800.JPG',
    dest: 'camera/Olympus μ Digital 800.JPG',
  },
  { corpus: 'osxphotos/wedding.jpg', dest: 'family/wedding.jpg' },
  {
    corpus: 'takeout/osxphotos/Takeout/Google Photos/Photos from 2019/wedding.jpg',
    dest: 'family/2019/wedding.jpg',
  },
  {
    corpus: 'takeout/osxphotos/Takeout/Google Photos/Photos from 2019/wedding.jpg.json',
    dest: 'family/2019/wedding.jpg.json',
  },
  { corpus: 'osxphotos/wedding.AAE', dest: 'family/wedding.AAE' },
  { corpus: 'osxphotos/media_types/IMG_0102.HEIC', dest: 'phone/IMG_0102.HEIC' },
  { corpus: 'metadata-extractor-images/mov/with-gps.mov', dest: 'phone/with-gps.mov' },
  { corpus: 'metadata-extractor-images/mp4/with-gps.mp4', dest: 'phone/with-gps.mp4' },
  { corpus: 'exiftool-t-images/PNG.png', dest: 'misc/PNG.png' },
  { corpus: 'exiftool-t-images/GeoTiff.tif', dest: 'misc/GeoTiff.tif' },
  { corpus: 'exiftool-t-images/GIF.gif', dest: 'misc/GIF.gif' },
  { corpus: 'exiftool-t-images/CanonRaw.cr2', dest: 'raw/CanonRaw.cr2' },
  { corpus: 'exiftool-t-images/Nikon.nef', dest: 'raw/Nikon.nef' },
  { corpus: 'exiftool-t-images/DNG.dng', dest: 'raw/DNG.dng' },
  { corpus: 'exifr-fixtures/cookiezen.jpg', dest: 'raw/cookiezen.jpg' },
  { corpus: 'exifr-fixtures/cookiezen.xmp', dest: 'raw/cookiezen.xmp' },
  { corpus: 'ianare-exif-samples/jpg/exif-org/README', dest: 'misc/README' },
];

export interface TreeFile {
  /** relative to the tree root, forward slashes */
  relPath: string;
  /** absolute */
  path: string;
  size: number;
  sha256: string;
}

/** Copies corpus files into `root` (dest paths relative to it); returns what was written. */
export async function copyCorpusFiles(
  root: string,
  files: { corpus: string; dest: string }[] = standardSample,
): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  for (const f of files) {
    const row = manifestRow(f.corpus);
    const path = join(root, f.dest);
    await mkdir(dirname(path), { recursive: true });
    await copyFile(corpusFile(f.corpus), path);
    out.push({ relPath: f.dest, path, size: row.bytes, sha256: row.sha256 });
  }
  return out;
}

/** Writes bytes to `root/relPath` and returns its TreeFile. */
export async function writeTreeFile(
  root: string,
  relPath: string,
  bytes: Buffer,
  mtimeMs?: number,
): Promise<TreeFile> {
  const path = join(root, relPath);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  if (mtimeMs !== undefined) await utimes(path, mtimeMs / 1000, mtimeMs / 1000);
  return { relPath, path, size: bytes.length, sha256: sha256Of(bytes) };
}

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Corpus JPEGs exiftool reads cleanly, smallest first, up to `maxBytes` each. */
export function cleanJpegs(maxBytes: number): ManifestRow[] {
  return readManifest()
    .filter(
      (r) =>
        r.format === 'JPEG' &&
        r.bytes <= maxBytes &&
        !r.notes.includes('warning') &&
        !r.path.includes('ImageTestSuite') &&
        /\.jpe?g$/i.test(r.path),
    )
    .sort((a, b) => a.bytes - b.bytes);
}

/** The bytes of a corpus photo with a unique tag appended after the image data. */
export function uniqueVariant(source: Buffer, tag: string): Buffer {
  return Buffer.concat([source, Buffer.from(`\nkeepsake-test-unique:${tag}\n`)]);
}

export interface GenerateOptions {
  /** how many files */
  count: number;
  /** spread evenly over this many sub-folders (d0000, d0001, ...) */
  folders: number;
  /** corpus files to cycle through as the base content */
  sources: string[];
  /**
   * A prefix making these bytes unique across calls (a run id, a seed); null writes plain
   * copies of the sources (a tree of duplicates: every file's content is one of the sources').
   */
  uniqueTag: string | null;
  /** keep sha256 per file (costs memory for very large trees); default true */
  keepHashes?: boolean;
}

export interface GeneratedTree {
  files: number;
  bytes: number;
  /** relPath -> sha256, when keepHashes */
  hashes: Map<string, string>;
}

/**
 * Makes `count` unique files under `root` by copying corpus photos and appending unique bytes.
 * Writes a few folders at a time in parallel, so 100,000 small files take seconds, not minutes.
 */
export async function generateUniqueFiles(
  root: string,
  opts: GenerateOptions,
): Promise<GeneratedTree> {
  const sources = opts.sources.map((s) => ({
    name: basename(s),
    bytes: readFileSync(corpusFile(s)),
  }));
  if (sources.length === 0) throw new Error('generateUniqueFiles: no sources');
  const keep = opts.keepHashes ?? true;
  const hashes = new Map<string, string>();
  let totalBytes = 0;
  const perFolder = Math.ceil(opts.count / opts.folders);
  const writeFolder = async (folderIndex: number): Promise<void> => {
    const folder = `d${String(folderIndex).padStart(4, '0')}`;
    await mkdir(join(root, folder), { recursive: true });
    const start = folderIndex * perFolder;
    const end = Math.min(opts.count, start + perFolder);
    for (let i = start; i < end; i++) {
      const src = sources[i % sources.length]!;
      const ext = extname(src.name).toLowerCase() || '.jpg';
      const relPath = `${folder}/f${String(i).padStart(6, '0')}${ext}`;
      const bytes =
        opts.uniqueTag === null ? src.bytes : uniqueVariant(src.bytes, `${opts.uniqueTag}:${i}`);
      await writeFile(join(root, relPath), bytes);
      totalBytes += bytes.length;
      if (keep) hashes.set(relPath, sha256Of(bytes));
    }
  };
  const parallel = 8;
  let next = 0;
  const workers = Array.from({ length: parallel }, async () => {
    while (next < opts.folders) {
      const index = next++;
      await writeFolder(index);
    }
  });
  await Promise.all(workers);
  return { files: opts.count, bytes: totalBytes, hashes };
}

/** Sets every regular file under `root` to one mtime, in whole seconds (exact on every fs). */
export async function setTreeMtimes(root: string, unixSeconds: number): Promise<void> {
  if (!Number.isInteger(unixSeconds)) throw new Error('setTreeMtimes takes whole seconds');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (e.isFile()) await utimes(join(e.parentPath, e.name), unixSeconds, unixSeconds);
  }
}

/** A file's mtime to the nanosecond (what a later restoreMtime puts back exactly). */
export async function exactMtime(path: string): Promise<bigint> {
  return (await stat(path, { bigint: true })).mtimeNs;
}

/**
 * Puts a file's mtime back to the nanosecond (`touch -m -d @s.ns`): Node's utimes takes a
 * double of seconds and can be off by a few ns, which an engine rounding to ms may see.
 */
export function restoreMtime(path: string, mtimeNs: bigint): void {
  const sec = mtimeNs / 1_000_000_000n;
  const ns = (mtimeNs % 1_000_000_000n).toString().padStart(9, '0');
  execFileSync('touch', ['-m', '-d', `@${sec}.${ns}`, path]);
}
