// Recognising photos and videos by content, for files whose name says nothing (no extension,
// or one the list in media-types.ts does not know: an iPhone photo saved without ".jpg", a
// .jxr, .pgf or .hej2). Reads the first bytes only, never the whole file.
//
// Invariants: a file is media only on a positive signature (a magic number, or an ISO-BMFF
// brand that is not audio-only); anything else, an empty file included, is 'skipped' with a
// reason the person can read. A file that cannot be read is never 'skipped' (nobody knows what
// it is): it is 'unreadable', a failed file with the reason, looked at again by every scan. Classification objects are
// shared and frozen, as in media-types.ts.
//
// [Note: What sniffing costs]
// One open + one read of SNIFF_BYTES + one close per file, and only for files of kind
// 'unknown' that are new or changed (the engine reuses what the database knows for a file
// whose identity did not move), so an unchanged folder costs nothing, and folders of
// ordinary photos (all with known extensions) never sniff at all.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { fsPath } from '../raw-path.js';
import type { Classification } from './types.js';

type MediaClass = Extract<Classification, { kind: 'media' }>;
type SkippedClass = Extract<Classification, { kind: 'skipped' }>;
type UnreadableClass = Extract<Classification, { kind: 'unreadable' }>;

/** Enough for every signature below, an ISO-BMFF ftyp box with its brands, and two TS packets. */
export const SNIFF_BYTES = 512;

export const NOT_MEDIA_REASON = 'not a photo or video';

export const NOT_MEDIA: SkippedClass = Object.freeze({ kind: 'skipped', reason: NOT_MEDIA_REASON });

const cache = new Map<string, MediaClass>();
function media(mediaType: MediaClass['mediaType'], mime: string): MediaClass {
  const key = `${mediaType}:${mime}`;
  let c = cache.get(key);
  if (c === undefined) {
    c = Object.freeze({ kind: 'media', mediaType, mime });
    cache.set(key, c);
  }
  return c;
}

function ascii(b: Buffer, at: number, text: string): boolean {
  if (b.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

function bytes(b: Buffer, at: number, expected: readonly number[]): boolean {
  if (b.length < at + expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (b[at + i] !== expected[i]) return false;
  return true;
}

const heifBrands = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'mif2']);
const heifSequenceBrands = new Set(['msf1', 'hevs']);
const avifBrands = new Set(['avif', 'avis']);
/** HEIF with JPEG 2000 (.hej2) and JPEG in HEIF. */
const otherImageBrands = new Set(['j2ki', 'j2is', 'jpeg', 'jpgs']);
const audioBrands = new Set(['M4A ', 'M4B ', 'M4P ', 'F4A ', 'F4B ']);

/** ISO base media file (MP4, MOV, HEIF, AVIF, CR3, 3GP): decided by its brands. */
function isoBmff(b: Buffer): MediaClass | null {
  if (!ascii(b, 4, 'ftyp') || b.length < 12) return null;
  const boxSize = b.readUInt32BE(0);
  const end = Math.min(b.length, boxSize >= 16 ? boxSize : 16);
  const brands = [b.toString('latin1', 8, 12)];
  for (let at = 16; at + 4 <= end; at += 4) brands.push(b.toString('latin1', at, at + 4));
  const major = brands[0] ?? '';
  if (major === 'crx ') return media('raw', 'image/x-canon-cr3');
  if (avifBrands.has(major)) return media('image', 'image/avif');
  if (heifBrands.has(major))
    return media('image', major.startsWith('hei') ? 'image/heic' : 'image/heif');
  if (heifSequenceBrands.has(major)) return media('image', 'image/heif-sequence');
  if (otherImageBrands.has(major)) return media('image', 'image/heif');
  if (major === 'qt  ') return media('video', 'video/quicktime');
  if (major.startsWith('3g2')) return media('video', 'video/3gpp2');
  if (major.startsWith('3gp')) return media('video', 'video/3gpp');
  if (audioBrands.has(major)) return null;
  // a major brand we do not know: the compatible brands may still say "image"
  if (brands.some((x) => avifBrands.has(x))) return media('image', 'image/avif');
  if (brands.some((x) => heifBrands.has(x) || otherImageBrands.has(x))) {
    return media('image', 'image/heif');
  }
  return media('video', 'video/mp4');
}

/** Old QuickTime files start with an atom other than ftyp. */
const quickTimeAtoms = ['moov', 'mdat', 'wide', 'pnot', 'skip', 'free'];

/** The media class of a file's first bytes, or NOT_MEDIA. Pure: exported for tests. */
export function classifyContent(b: Buffer): MediaClass | SkippedClass {
  if (b.length < 4) return NOT_MEDIA;
  // JPEG (also MPO, JPS): SOI followed by a marker
  if (bytes(b, 0, [0xff, 0xd8, 0xff])) return media('image', 'image/jpeg');
  if (bytes(b, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    return media('image', 'image/png');
  }
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a')) return media('image', 'image/gif');
  // TIFF-based raw formats that announce themselves, then plain TIFF (also DNG, NEF, CR2...)
  if (ascii(b, 0, 'II') && ascii(b, 8, 'CR') && b[10] === 2)
    return media('raw', 'image/x-canon-cr2');
  if (ascii(b, 0, 'IIRO') || ascii(b, 0, 'IIRS') || ascii(b, 0, 'MMOR')) {
    return media('raw', 'image/x-olympus-orf');
  }
  if (bytes(b, 0, [0x49, 0x49, 0x55, 0x00])) return media('raw', 'image/x-panasonic-rw2');
  if (bytes(b, 0, [0x49, 0x49, 0x2a, 0x00]) || bytes(b, 0, [0x4d, 0x4d, 0x00, 0x2a])) {
    return media('image', 'image/tiff');
  }
  if (bytes(b, 0, [0x49, 0x49, 0x2b, 0x00]) || bytes(b, 0, [0x4d, 0x4d, 0x00, 0x2b])) {
    return media('image', 'image/tiff'); // BigTIFF
  }
  // JPEG XR / HD Photo (.jxr, .wdp, .hdp)
  if (bytes(b, 0, [0x49, 0x49, 0xbc])) return media('image', 'image/jxr');
  if (ascii(b, 0, 'II') && ascii(b, 6, 'HEAPCCDR')) return media('raw', 'image/x-canon-crw');
  if (ascii(b, 0, 'FUJIFILMCCD-RAW')) return media('raw', 'image/x-fuji-raf');
  if (bytes(b, 0, [0x00, 0x4d, 0x52, 0x4d])) return media('raw', 'image/x-minolta-mrw');
  if (ascii(b, 0, 'FOVb')) return media('raw', 'image/x-sigma-x3f');
  // Progressive Graphics File (.pgf)
  if (ascii(b, 0, 'PGF')) return media('image', 'image/x-pgf');
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return media('image', 'image/webp');
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'AVI ')) return media('video', 'video/x-msvideo');
  if (ascii(b, 0, 'BM') && b.length >= 14 && b.readUInt32LE(6) === 0) {
    return media('image', 'image/bmp');
  }
  // JPEG 2000: the signature box, or a bare codestream
  if (bytes(b, 0, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a])) {
    return media('image', 'image/jp2');
  }
  if (bytes(b, 0, [0xff, 0x4f, 0xff, 0x51])) return media('image', 'image/jp2');
  // JPEG XL: the container, or a bare codestream
  if (bytes(b, 0, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a])) {
    return media('image', 'image/jxl');
  }
  if (bytes(b, 0, [0xff, 0x0a])) return media('image', 'image/jxl');
  if (ascii(b, 0, '8BPS')) return media('image', 'image/vnd.adobe.photoshop');
  if (bytes(b, 0, [0x42, 0x50, 0x47, 0xfb])) return media('image', 'image/bpg');
  if (ascii(b, 0, 'FLIF')) return media('image', 'image/flif');
  const iso = isoBmff(b);
  if (iso !== null) return iso;
  if (ascii(b, 4, 'ftyp')) return NOT_MEDIA; // audio-only MP4 (M4A...)
  if (quickTimeAtoms.some((atom) => ascii(b, 4, atom))) return media('video', 'video/quicktime');
  if (bytes(b, 0, [0x1a, 0x45, 0xdf, 0xa3])) {
    return media('video', b.includes('webm') ? 'video/webm' : 'video/x-matroska');
  }
  if (bytes(b, 0, [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11])) {
    return media('video', 'video/x-ms-wmv');
  }
  if (ascii(b, 0, 'FLV') && b[3] === 1) return media('video', 'video/x-flv');
  if (bytes(b, 0, [0x00, 0x00, 0x01, 0xba])) return media('video', 'video/mpeg');
  // MPEG transport stream: a sync byte every 188 bytes (M2TS: 192, after a 4-byte time code)
  if (b[0] === 0x47 && b[188] === 0x47 && b[376] === 0x47) return media('video', 'video/mp2t');
  if (b[4] === 0x47 && b[196] === 0x47 && b[388] === 0x47) return media('video', 'video/mp2t');
  return NOT_MEDIA;
}

/** Why a file could not be read, in the words `keepsake files` and the Queue show. */
function unreadable(err: unknown): UnreadableClass {
  const errno = (err as NodeJS.ErrnoException).code ?? String(err);
  switch (errno) {
    case 'EACCES':
    case 'EPERM':
      return {
        kind: 'unreadable',
        code: 'permission_denied',
        message: 'could not read: permission denied',
      };
    case 'ENOENT':
      return { kind: 'unreadable', code: 'file_not_found', message: 'could not read: it is gone' };
    case 'EIO':
      return {
        kind: 'unreadable',
        code: 'read_error',
        message: 'could not read: input/output error',
      };
    default:
      return {
        kind: 'unreadable',
        code: 'read_error',
        message: `could not read: ${errno}`,
      };
  }
}

/**
 * Reads the first bytes of `path` and says whether it is a photo or a video. Never throws: a
 * file that cannot be read is 'unreadable' with the reason (a failed file the person sees and
 * can fix, never skipped as "not a photo"). Opened non-blocking: a file swapped for a FIFO
 * since the scan cannot hang the engine.
 */
export async function sniffFile(
  path: string | Buffer,
): Promise<MediaClass | SkippedClass | UnreadableClass> {
  let handle;
  try {
    handle = await open(
      typeof path === 'string' ? fsPath(path) : path,
      constants.O_RDONLY | constants.O_NONBLOCK,
    );
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(buf, 0, SNIFF_BYTES, 0);
    return classifyContent(buf.subarray(0, bytesRead));
  } catch (err) {
    return unreadable(err);
  } finally {
    await handle?.close().catch(() => {});
  }
}
