// Reads a photo's or video's metadata with exiftool (exiftool-vendored: one shared ExifTool
// instance per reader, which keeps up to maxProcs `exiftool -stay_open` processes and
// queues requests to them) and turns the raw tags into MediaMetadata.
// Invariants:
// - read() never rejects for a bad file, a crashed or hung exiftool: it resolves with
//   problems (plain words) and whatever could still be said (the capture time falls back to
//   the file name and then the mtime). It rejects only when its AbortSignal fires.
// - No exiftool call runs longer than taskTimeoutMs (+1 s grace) however exiftool behaves:
//   a hung process is killed and replaced by exiftool-vendored, and our own timer answers
//   first. Reads are batched (up to 16 files per exiftool call, maxProcs calls at once);
//   when a batch fails or times out, its files are retried one by one, so one bad file
//   costs only its own metadata. A read may wait its turn behind others in the queue.
// - Files are only read, never written (no exiftool write APIs are used here).
// See [Note: Capture time and time zones] in capture-time.ts for how dates are chosen.
import { mkdtemp, open, rm, symlink } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { availableParallelism, tmpdir } from 'node:os';
import tzLookup from '@photostructure/tz-lookup';
import { ExifTool, ExifToolTask } from 'exiftool-vendored';
import type { Clock, Logger, TimerHandle } from '../ports.js';
import { displayPath, hasRawBytes, rawPathBytes } from '../raw-path.js';
import { classifyByExtension } from '../watch/media-types.js';
import { gpsPosition, resolveCaptureTime } from './capture-time.js';
import { mergeXmpSidecar } from './sidecar-merge.js';
import type {
  MediaMetadata,
  MetadataProblem,
  MetadataReader,
  MetadataReadResult,
} from './types.js';

export interface MetadataReaderOptions {
  logger: Logger;
  clock: Clock;
  /** IANA zone of the machine; default from Intl. */
  timeZone?: string;
  /** Longest a single read may take (default 20 s). */
  taskTimeoutMs?: number;
  /**
   * exiftool processes while the engine is busy (default: the cores but one, at least 1).
   * See [Note: exiftool processes].
   */
  maxProcs?: number;
  /** exiftool processes while the engine is idle (default: the cores, at least maxProcs). */
  idleMaxProcs?: number;
  /** Files per exiftool call (default 16). */
  batchSize?: number;
}

/**
 * The tags read (exiftool `-G`: keys "Group:Tag"), by name in every group, so each group's
 * copy comes out as with `-all` (EXIF's and XMP's DateTimeOriginal, QuickTime's CreateDate).
 * These are exactly what resolveCaptureTime() and buildMetadata() look at; a tag added
 * there must be added here. See [Note: Reading only the tags we use].
 */
const NUMERIC_TAGS = [
  // capture time and zone ([Note: Capture time and time zones])
  'DateTimeOriginal',
  'SubSecTimeOriginal',
  'CreateDate',
  'SubSecTimeDigitized',
  'CreationDate',
  'GPSDateTime',
  'GPSDateStamp',
  'GPSTimeStamp',
  'OffsetTimeOriginal',
  'OffsetTime',
  'OffsetTimeDigitized',
  'GPSLatitude',
  'GPSLongitude',
  'GPSAltitude',
  'GPSCoordinates',
  // the MediaMetadata record
  'ImageSize',
  'ImageWidth',
  'ImageHeight',
  'ExifImageWidth',
  'ExifImageHeight',
  'Duration',
  'Orientation',
  'Rotation',
  'Make',
  'Model',
  'LensModel',
  'FileType',
  'MIMEType',
  // an Android motion photo's XMP: where the video appended to the still begins
  'MotionPhoto',
  'MicroVideo',
  'MicroVideoOffset',
  'DirectoryItemSemantic',
  'DirectoryItemLength',
  'DirectoryItemPadding',
];
/** Read with print conversion: their numeric value is a maker's code, not a lens name. */
const PRINTED_TAGS = [
  'LensID',
  'Lens',
  'Error',
  'Warning',
  // grouping ([Note: Grouping rules] in grouping.ts): Apple's content identifier, which a
  // Live Photo's still (MakerNotes; MediaGroupUUID in older exiftool) and video (QuickTime
  // Keys) share
  'ContentIdentifier',
  'MediaGroupUUID',
  // the file an export was made from (Lightroom, darktable)
  'RawFileName',
  'DerivedFrom',
  'DerivedFromFilePath',
  'PreservedFileName',
  // what an XMP sidecar adds ([Note: XMP sidecar precedence] in sidecar-merge.ts)
  'Rating',
  'Label',
  'Subject',
  'Keywords',
];

// [Note: Reading only the tags we use]
// exiftool was about half of a first backup's CPU when it read every tag (`-all`, print
// conversion). Measured on the corpus (381 media files and sidecars, one process):
// - Naming the tags instead of `-all` gives the same MediaMetadata and problems for every
//   file and ~20% less exiftool CPU. The numbers we compute with come as numbers (`TAG#`,
//   as with -n): signed decimal GPS, seconds, orientation 1-8, pixels; dates are the same
//   either way. LensID and Lens stay printed (the name, not the maker's code).
// - `-fast2` (no maker notes; stop at a PNG's IDAT or a QuickTime file's mdat) is safe only
//   for AVIF: on the corpus it changed nothing there. It once served HEIC/HEIF too, but an
//   iPhone's HEIC carries its Live Photo identifier in Apple's maker notes, which -fast2
//   skips (issue 11: the still and its video were never grouped); reading HEIC with -fast
//   costs ~8% more exiftool CPU per HEIC (1.27 vs 1.18 s user for 130 reads, one process). Elsewhere it loses data: every MOV/MP4
//   whose moov follows mdat (iPhone and Android recordings) lost its date, GPS, size and
//   duration; a PNG with eXIf after IDAT lost its date and GPS; ~20 JPEGs and RAWs (Canon,
//   Nikon, Olympus, Pentax, Phase One) lost the lens name, which only the maker notes
//   carry, and one JPEG its camera. For JPEG it saved only ~4% anyway. A file named .heic
//   whose content is not an image (an iPhone movie renamed) is read again without -fast2.
// - Composite tags cost ~20% of what is left, but LensID, signed GPS and a video's
//   Rotation exist only as composites, so they stay.
// The raw tags kept per file (files.metadata) are now these tags only: what a later pass
// needs to correct dates per camera model, at a fraction of the old dump's size.

/** Extensions read with `-fast2` (see the Note); the content must then be an image. */
const FAST2_EXTENSIONS = new Set(['avif']);

function readArgs(fast2: boolean): string[] {
  return [
    fast2 ? '-fast2' : '-fast',
    '-G',
    ...NUMERIC_TAGS.map((tag) => `-${tag}#`),
    ...PRINTED_TAGS.map((tag) => `-${tag}`),
  ];
}

/** Largest raw-tags JSON kept for the database (bytes, roughly). */
const RAW_BUDGET = 32 * 1024;
/** Single values longer than this are dropped from the raw tags (thumbnails, dumps). */
const RAW_VALUE_MAX = 1024;
/** Volatile or local-only tags that say nothing about the picture. */
const RAW_DROP = new Set([
  'SourceFile',
  'errors',
  'warnings',
  'ExifTool:ExifToolVersion',
  'File:Directory',
  'File:FileName',
  'File:FilePermissions',
  'File:FileAccessDate',
  'File:FileInodeChangeDate',
  'File:FileModifyDate',
]);

/**
 * File types (exiftool File:FileType) a file with this extension may really contain. Only
 * for extensions where a mismatch is worth telling the user ("named .jpeg, really a PNG").
 */
const expectedTypes: Record<string, readonly string[]> = {
  jpg: ['JPEG', 'JPS', 'MPO'],
  jpeg: ['JPEG', 'JPS', 'MPO'],
  jpe: ['JPEG'],
  jfif: ['JPEG'],
  png: ['PNG', 'APNG'],
  gif: ['GIF'],
  heic: ['HEIC', 'HEIF', 'AVIF'],
  heif: ['HEIC', 'HEIF', 'AVIF'],
  avif: ['AVIF', 'HEIF'],
  webp: ['WEBP', 'Extended WEBP'],
  tif: ['TIFF', 'BigTIFF'],
  tiff: ['TIFF', 'BigTIFF'],
  bmp: ['BMP'],
  nef: ['NEF', 'NRW', 'TIFF'],
  cr2: ['CR2', 'TIFF'],
  mov: ['MOV', 'MP4', 'M4V', 'HEIC'],
  mp4: ['MP4', 'MOV', 'M4V', '3GP'],
};

function str(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function num(value: unknown): number | undefined {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && value.trim() !== ''
        ? Number(value)
        : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function firstOf<T>(
  tags: Record<string, unknown>,
  keys: string[],
  parse: (v: unknown) => T | undefined,
): T | undefined {
  for (const key of keys) {
    const v = parse(tags[key]);
    if (v !== undefined) return v;
  }
  return undefined;
}

function dimensions(tags: Record<string, unknown>): {
  width: number | null;
  height: number | null;
} {
  const size = str(tags['Composite:ImageSize']);
  if (size) {
    const m = /^(\d+)[ x](\d+)$/.exec(size);
    if (m) return { width: Number(m[1]), height: Number(m[2]) };
  }
  const pairs: [string, string][] = [
    ['File:ImageWidth', 'File:ImageHeight'],
    ['QuickTime:ImageWidth', 'QuickTime:ImageHeight'],
    ['PNG:ImageWidth', 'PNG:ImageHeight'],
    ['EXIF:ExifImageWidth', 'EXIF:ExifImageHeight'],
    ['RIFF:ImageWidth', 'RIFF:ImageHeight'],
    ['Matroska:ImageWidth', 'Matroska:ImageHeight'],
  ];
  for (const [w, h] of pairs) {
    const width = num(tags[w]);
    const height = num(tags[h]);
    if (width !== undefined && height !== undefined && width > 0 && height > 0)
      return { width, height };
  }
  return { width: null, height: null };
}

function durationSec(tags: Record<string, unknown>): number | null {
  const preferred = firstOf(
    tags,
    [
      'Composite:Duration',
      'QuickTime:Duration',
      'Matroska:Duration',
      'RIFF:Duration',
      'ASF:Duration',
      'M2TS:Duration',
    ],
    num,
  );
  if (preferred !== undefined) return preferred > 0 ? preferred : null;
  for (const [key, value] of Object.entries(tags)) {
    if (key.endsWith(':Duration')) {
      const n = num(value);
      if (n !== undefined && n > 0) return n;
    }
  }
  return null;
}

/** EXIF orientation 1..8; a video's rotation (degrees) mapped onto the same scale. */
function orientation(tags: Record<string, unknown>): number | null {
  const exif = firstOf(
    tags,
    ['EXIF:Orientation', 'XMP:Orientation', 'MakerNotes:Orientation'],
    num,
  );
  if (exif !== undefined && Number.isInteger(exif) && exif >= 1 && exif <= 8) return exif;
  const rotation = num(tags['Composite:Rotation']);
  return rotation === undefined ? null : (rotationToOrientation.get(rotation) ?? null);
}

const rotationToOrientation = new Map([
  [0, 1],
  [90, 6],
  [180, 3],
  [270, 8],
]);

function camera(tags: Record<string, unknown>): MediaMetadata['camera'] {
  const make = firstOf(
    tags,
    ['EXIF:Make', 'QuickTime:Make', 'Keys:Make', 'UserData:Make', 'XMP:Make', 'MakerNotes:Make'],
    str,
  );
  const model = firstOf(
    tags,
    [
      'EXIF:Model',
      'QuickTime:Model',
      'Keys:Model',
      'UserData:Model',
      'XMP:Model',
      'MakerNotes:Model',
    ],
    str,
  );
  const lens = firstOf(
    tags,
    [
      'EXIF:LensModel',
      'Composite:LensID',
      'QuickTime:LensModel',
      'XMP:LensModel',
      'XMP:Lens',
      'MakerNotes:LensModel',
      'MakerNotes:Lens',
    ],
    str,
  );
  if (!make && !model && !lens) return null;
  return {
    ...(make ? { make } : {}),
    ...(model ? { model } : {}),
    ...(lens ? { lens } : {}),
  };
}

/** The raw tags for the files.metadata column: no binary, no huge values, bounded. */
export function boundRawTags(tags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let budget = RAW_BUDGET;
  for (const [key, value] of Object.entries(tags)) {
    if (RAW_DROP.has(key)) continue;
    if (
      typeof value === 'string' &&
      (value.startsWith('(Binary data') || value.length > RAW_VALUE_MAX)
    )
      continue;
    if (typeof value === 'function') continue;
    const size = key.length + JSON.stringify(value ?? null).length + 4;
    if (size > RAW_VALUE_MAX + 64) continue;
    if (size > budget) break;
    budget -= size;
    out[key] = value;
  }
  return out;
}

function messages(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

/** The metadata, given exiftool's tags (or none when exiftool failed). Pure. */
export function buildMetadata(input: {
  tags: Record<string, unknown>;
  fileName: string;
  mtimeMs: number;
  timeZone: string;
  exiftoolFailure?: string;
  zoneAt?: (lat: number, lon: number) => string | undefined;
}): MetadataReadResult {
  const { tags, fileName } = input;
  const problems: MetadataProblem[] = [];
  const byExt = classifyByExtension(fileName);
  const ext = fileName.includes('.')
    ? fileName.slice(fileName.lastIndexOf('.') + 1).toLowerCase()
    : '';
  const fileType = str(tags['File:FileType']);
  const errors = [...messages(tags['ExifTool:Error']), ...messages(tags.errors)];
  const warnings = [...messages(tags['ExifTool:Warning']), ...messages(tags.warnings)].filter(
    (w) => !w.startsWith('[minor]'),
  );

  if (input.exiftoolFailure) {
    problems.push({
      message: `The metadata could not be read (${input.exiftoolFailure}); dates come from the file name or modification time.`,
    });
  } else if (!fileType) {
    const why = errors[0] ?? 'unknown format';
    problems.push({
      message: `This file has a ${ext ? `.${ext}` : 'media'} name but its content is not a photo or video format Keepsake recognises (exiftool: ${why}). It is backed up as it is.`,
    });
  } else {
    const expected = expectedTypes[ext];
    const mime = str(tags['File:MIMEType']) ?? '';
    if (byExt?.kind === 'media' && !/^(image|video)\//.test(mime)) {
      problems.push({
        message: `This file has a .${ext} name but contains ${fileType === 'TXT' ? 'text' : `a ${fileType} file`}, not a photo or video. It is backed up as it is.`,
      });
    } else if (expected && !expected.includes(fileType)) {
      problems.push({ message: `This file is named .${ext} but contains a ${fileType} file.` });
    }
    const unique = [...new Set([...errors, ...warnings])];
    if (unique.length > 0) {
      problems.push({
        message: `The file's metadata is damaged (exiftool: ${unique.slice(0, 3).join('; ')}); what could be read was kept.`,
      });
    }
  }

  const time = resolveCaptureTime({
    tags,
    fileName,
    mtimeMs: input.mtimeMs,
    timeZone: input.timeZone,
    ...(input.zoneAt ? { zoneAt: input.zoneAt } : {}),
  });
  for (const message of time.problems) problems.push({ message });
  // A sidecar (.xmp, .aae) holds a photo's edits or ratings, not a picture: it has no date or
  // format of its own to worry anyone about. It belongs to its media file (grouping.ts).
  if (byExt?.kind === 'sidecar') problems.length = 0;

  const { width, height } = dimensions(tags);
  const metadata: MediaMetadata = {
    captureTime: time.captureTime,
    captureTimeSource: time.captureTimeSource,
    timeZone: time.timeZone,
    gps: gpsPosition(tags),
    camera: camera(tags),
    width,
    height,
    durationSec: durationSec(tags),
    orientation: orientation(tags),
    mime: str(tags['File:MIMEType']) ?? (input.exiftoolFailure ? (byExt?.mime ?? null) : null),
  };
  const motion = motionPhoto(tags);
  if (motion !== null) metadata.motionPhoto = motion;
  return {
    metadata,
    problems,
    raw: boundRawTags(tags),
    grouping: {
      appleContentId: appleContentId(tags),
      derivedFrom: derivedFrom(tags),
      capturedAtMs: readFromFile.has(time.captureTimeSource) ? instant(time.captureTime) : null,
    },
  };
}

function numbers(value: unknown): (number | undefined)[] {
  return (Array.isArray(value) ? value : [value]).map(num);
}

/**
 * An Android motion photo's video, as its XMP places it: counted back from the file's end.
 * Newer phones (GCamera MotionPhoto=1) list the file's parts in a Container directory, in file
 * order, each part's Length and the Padding after it; the video is the part whose Semantic is
 * MotionPhoto. Older ones (MicroVideo=1) give MicroVideoOffset, the video's length up to the
 * end of the file. Whether a video really begins there is checked by read() (videoIsWhereSaid)
 * and again by the vault before it serves it.
 */
function motionPhoto(tags: Record<string, unknown>): MediaMetadata['motionPhoto'] | null {
  const positive = (n: number | undefined) =>
    n !== undefined && Number.isSafeInteger(n) && n > 0 ? n : null;
  if (num(tags['XMP:MotionPhoto']) === 1) {
    const semantics = (
      Array.isArray(tags['XMP:DirectoryItemSemantic'])
        ? tags['XMP:DirectoryItemSemantic']
        : [tags['XMP:DirectoryItemSemantic']]
    ).map((v) => str(v)?.toLowerCase());
    const lengths = numbers(tags['XMP:DirectoryItemLength']);
    const paddings = numbers(tags['XMP:DirectoryItemPadding']);
    const at = semantics.indexOf('motionphoto');
    let fromEnd: number | null = null;
    // Lists are per field: a part without a Length would shift them, so all must line up.
    if (at >= 0 && lengths.length === semantics.length) {
      fromEnd = 0;
      for (let i = at; i < lengths.length; i++) {
        const length = lengths[i];
        if (length === undefined || length < 0) {
          fromEnd = null;
          break;
        }
        fromEnd += length + (paddings.length === lengths.length ? (paddings[i] ?? 0) : 0);
      }
    }
    return {
      format: 'motion-photo',
      videoFromEnd: positive(fromEnd ?? undefined),
      videoBytes: at >= 0 ? positive(lengths[at]) : null,
    };
  }
  if (num(tags['XMP:MicroVideo']) === 1) {
    const offset = positive(num(tags['XMP:MicroVideoOffset']));
    return { format: 'micro-video', videoFromEnd: offset, videoBytes: offset };
  }
  return null;
}

/**
 * The files an export names as its source, as lower-case base names (a path's folders are the
 * exporting machine's, not ours). See [Note: Grouping rules] in grouping.ts.
 */
function derivedFrom(tags: Record<string, unknown>): string[] {
  const names = new Set<string>();
  for (const key of [
    'XMP:RawFileName',
    'XMP:DerivedFrom',
    'XMP:DerivedFromFilePath',
    'XMP:PreservedFileName',
  ]) {
    const value = str(tags[key]);
    if (value === undefined || value.length > 1024) continue;
    const base = value.slice(Math.max(value.lastIndexOf('/'), value.lastIndexOf('\\')) + 1);
    if (base !== '' && base !== '.' && base !== '..') names.add(base.toLowerCase());
  }
  return [...names];
}

/**
 * Whether an MP4 (an `ftyp` box) begins where a motion photo's XMP places its video. An editor
 * that dropped the appended video but kept the XMP leaves a still that only claims one: it is
 * no motion photo (no LIVE badge for a video that cannot play). A file that cannot be read
 * now keeps its XMP's word; the vault checks again before it serves the video.
 */
async function videoIsWhereSaid(path: string, fromEnd: number | null): Promise<boolean> {
  if (fromEnd === null) return false;
  let fh;
  try {
    fh = await open(hasRawBytes(path) ? rawPathBytes(resolve(path)) : resolve(path), 'r');
  } catch {
    return true;
  }
  try {
    const size = (await fh.stat()).size;
    const start = size - fromEnd;
    if (start <= 0 || fromEnd < 12) return false;
    const head = Buffer.alloc(12);
    const { bytesRead } = await fh.read(head, 0, 12, start);
    return bytesRead === 12 && head.toString('latin1', 4, 8) === 'ftyp';
  } catch {
    return true;
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Capture times the file itself states: what grouping may compare (not a name or mtime). */
const readFromFile = new Set(['exif_original', 'exif_create', 'quicktime', 'gps']);

function instant(iso: string): number | null {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}

/** Apple's content identifier (a Live Photo's still and video share it), upper-case. */
function appleContentId(tags: Record<string, unknown>): string | null {
  const id = firstOf(
    tags,
    [
      'MakerNotes:ContentIdentifier',
      'MakerNotes:MediaGroupUUID',
      'QuickTime:ContentIdentifier',
      'Keys:ContentIdentifier',
    ],
    str,
  );
  return id === undefined || id.length > 128 ? null : id.toUpperCase();
}

function zoneAt(lat: number, lon: number): string | undefined {
  try {
    return tzLookup(lat, lon);
  } catch {
    return undefined;
  }
}

/**
 * One exiftool call for several files (`exiftool -json a.jpg b.jpg ...`). Per-call overhead
 * in exiftool's stay-open loop is about the cost of reading a JPEG's tags, so a batch of
 * 16 reads two to three times faster than 16 calls.
 */
class ReadBatchTask extends ExifToolTask<Record<string, unknown>[]> {
  constructor(paths: string[], fast2: boolean) {
    super(['-charset', 'filename=utf8', ...readArgs(fast2), '-json', ...paths], {
      ignoreMinorErrors: true,
    });
  }

  protected parse(input: string, error?: Error): Record<string, unknown>[] {
    const text = input.trim();
    if (text === '') {
      if (error) throw error;
      return [];
    }
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed)) throw new Error('exiftool did not return a list');
    return parsed.filter((t): t is Record<string, unknown> => typeof t === 'object' && t !== null);
  }
}

interface PendingRead {
  path: string;
  /** Read with -fast2 (see [Note: Reading only the tags we use]). */
  fast2: boolean;
  settle(outcome: { tags: Record<string, unknown> } | { failure: string }): void;
  /** false once the caller has gone (aborted): skip it if not started. */
  wanted: boolean;
}

/** exiftool processes when not told: one per core but one (the rest of Keepsake needs one). */
export function defaultMaxProcs(): number {
  return Math.max(1, availableParallelism() - 1);
}

// [Note: exiftool processes]
// exiftool costs ~2 ms of CPU per photo, about as much as everything else a first backup does
// per small file. While files are being hashed and uploaded, one core is left to the engine
// (maxProcs = cores - 1: one process on a 2-core machine). Once the engine has nothing to hash
// or upload, what is left of a backup is metadata, and a core left to an idle engine is
// wasted: the reader then keeps idleMaxProcs batches in flight (every core). The pipeline
// says which through setEngineBusy(). exiftool-vendored starts a process only when a batch
// waits for one and ends a process idle for a minute, so the count follows the batches.

export function createMetadataReader(options: MetadataReaderOptions): MetadataReader {
  const logger = options.logger.child({ module: 'metadata' });
  const clock = options.clock;
  const timeZone = options.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const taskTimeoutMs = options.taskTimeoutMs ?? 20_000;
  const busyMaxProcs = options.maxProcs ?? defaultMaxProcs();
  const idleMaxProcs = Math.max(busyMaxProcs, options.idleMaxProcs ?? availableParallelism());
  /** Batches in flight at most now. See [Note: exiftool processes]. */
  let maxProcs = busyMaxProcs;
  const batchSize = Math.max(1, options.batchSize ?? 16);
  const timeoutText = `exiftool did not answer within ${Math.round(taskTimeoutMs / 1000)} s`;
  let exiftool: ExifTool | undefined;
  let closed = false;
  /** Waiting reads, one queue per kind of exiftool call (a batch is all -fast2 or none). */
  const queue: PendingRead[] = [];
  const fast2Queue: PendingRead[] = [];
  /** Reads retried one by one after their batch failed (they go first). */
  const singles: PendingRead[] = [];
  let running = 0;

  function instance(): ExifTool {
    exiftool ??= new ExifTool({
      maxProcs: idleMaxProcs,
      taskTimeoutMillis: taskTimeoutMs,
      taskRetries: 0, // a file that hangs exiftool once will hang it again
      minDelayBetweenSpawnMillis: 0,
      // an idle exiftool (perl, ~30 MB) is ended after a minute; the next read starts one
      maxIdleMsPerProcess: 60_000,
      onIdleIntervalMillis: 10_000,
      geolocation: false,
    });
    return exiftool;
  }

  /**
   * Runs one exiftool call for `batch`, bounded by taskTimeoutMs (+1 s) whatever exiftool
   * does (exiftool-vendored kills a process that overruns; our timer answers first).
   */
  async function runBatch(batch: PendingRead[]): Promise<void> {
    let timer: TimerHandle | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = clock.setTimeout(() => resolve('timeout'), taskTimeoutMs + 1000);
    });
    let outcome: Record<string, unknown>[] | 'timeout' | { failure: string };
    try {
      const fast2 = batch[0]?.fast2 ?? false;
      const task = instance().enqueueTask(
        () =>
          new ReadBatchTask(
            batch.map((r) => r.path),
            fast2,
          ),
        false,
      );
      outcome = await Promise.race([
        task.catch((err: unknown) => {
          const text = err instanceof Error ? err.message : String(err);
          return {
            failure: /timeout|timed out/i.test(text)
              ? timeoutText
              : `exiftool failed: ${text.split('\n')[0]?.slice(0, 200) ?? 'unknown error'}`,
          };
        }),
        timeout,
      ]);
    } catch (err) {
      // e.g. a file name exiftool cannot be handed (a line break in it)
      outcome = {
        failure: `exiftool could not be asked: ${err instanceof Error ? err.message : String(err)}`,
      };
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
    if (Array.isArray(outcome)) {
      const bySource = new Map(
        outcome.map((t) => [typeof t.SourceFile === 'string' ? t.SourceFile : '', t]),
      );
      for (const read of batch) {
        const tags = bySource.get(read.path);
        if (tags && read.fast2 && !str(tags['File:MIMEType'])?.startsWith('image/')) {
          // named .heic but something else (a QuickTime movie?): -fast2 may have missed data
          read.fast2 = false;
          singles.push(read);
        } else if (tags) read.settle({ tags });
        else if (batch.length > 1)
          singles.push(read); // ask again alone, for its own error
        else read.settle({ failure: 'exiftool returned nothing for this file' });
      }
      return;
    }
    const failure = outcome === 'timeout' ? timeoutText : outcome.failure;
    if (closed) {
      // close() ended exiftool under this batch: its reads were settled there, not failed
      for (const read of batch) read.settle({ failure: 'the metadata reader was closed' });
      return;
    }
    if (batch.length > 1) {
      // one bad file must not cost its batch-mates their metadata: retry each alone
      logger.warn('metadata batch failed; retrying its files one by one', {
        failure,
        files: batch.length,
      });
      singles.push(...batch);
      return;
    }
    for (const read of batch) read.settle({ failure });
  }

  function pump(): void {
    while (!closed && running < maxProcs) {
      let batch: PendingRead[];
      const single = singles.shift();
      if (single) {
        batch = [single];
      } else {
        batch = [];
        const from = fast2Queue.length > queue.length ? fast2Queue : queue;
        while (batch.length < batchSize && from.length > 0) {
          const next = from.shift() as PendingRead;
          if (next.wanted) batch.push(next);
        }
      }
      if (batch.length === 0) return;
      running++;
      void runBatch(batch).finally(() => {
        running--;
        pump();
      });
    }
  }

  function readTags(
    path: string,
    signal?: AbortSignal,
  ): Promise<{ tags: Record<string, unknown> } | { failure: string }> {
    return new Promise((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const read: PendingRead = {
        path,
        fast2: FAST2_EXTENSIONS.has(extname(path).slice(1).toLowerCase()),
        wanted: true,
        settle(outcome) {
          if (!read.wanted) return;
          read.wanted = false;
          if (onAbort) signal?.removeEventListener('abort', onAbort);
          resolve(outcome);
        },
      };
      if (signal) {
        onAbort = () => {
          if (!read.wanted) return;
          read.wanted = false;
          const reason: unknown = signal.reason;
          reject(
            reason instanceof Error
              ? reason
              : new DOMException('The read was aborted', 'AbortError'),
          );
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      (read.fast2 ? fast2Queue : queue).push(read);
      // gather the reads of this tick into one batch
      queueMicrotask(pump);
    });
  }

  /**
   * exiftool is handed file names as text (UTF-8 on its command channel), so a name that is not
   * UTF-8 cannot reach it as it is: it reads the file through a symbolic link with a UTF-8
   * name in a private temporary folder (a link, not a hard link: the temporary folder may be
   * on another filesystem; nothing is ever made in the watched folder). The link's name keeps
   * the extension, which exiftool's format checks read. When no link can be made, the file is
   * backed up without its metadata and says why. See [Note: Names that are not UTF-8].
   */
  async function readTagsThroughLink(
    path: string,
    signal?: AbortSignal,
  ): Promise<{ tags: Record<string, unknown> } | { failure: string }> {
    let dir: string | undefined;
    try {
      dir = await mkdtemp(join(tmpdir(), 'keepsake-name-'));
      const link = join(dir, `file${displayPath(extname(path))}`);
      await symlink(rawPathBytes(resolve(path)), link);
      return await readTags(link, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      return {
        failure: `its name is not valid UTF-8 and no temporary link to it could be made (${code})`,
      };
    } finally {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true }).catch(() => {});
    }
  }

  return {
    // two batches per process: one running, one ready to start the moment it ends
    wantsInFlight: idleMaxProcs * batchSize * 2,

    setEngineBusy(busy: boolean): void {
      const next = busy ? busyMaxProcs : idleMaxProcs;
      if (next === maxProcs) return;
      maxProcs = next;
      pump();
    },

    async read(
      path: string,
      fallbackMtimeMs: number,
      signal?: AbortSignal,
      options?: { xmpSidecar?: string },
    ): Promise<MetadataReadResult> {
      if (signal?.aborted) {
        const reason: unknown = signal.reason;
        throw reason instanceof Error
          ? reason
          : new DOMException('The read was aborted', 'AbortError');
      }
      const fileName = basename(path);
      if (closed) {
        return buildMetadata({
          tags: {},
          fileName,
          mtimeMs: fallbackMtimeMs,
          timeZone,
          exiftoolFailure: 'the metadata reader is closed',
          zoneAt,
        });
      }
      const tagsOf = (p: string) =>
        hasRawBytes(p) ? readTagsThroughLink(p, signal) : readTags(resolve(p), signal);
      const sidecarPath = options?.xmpSidecar;
      const [outcome, sidecar] = await Promise.all([
        tagsOf(path),
        sidecarPath === undefined ? undefined : tagsOf(sidecarPath),
      ]);
      if ('failure' in outcome) {
        logger.warn('metadata read failed', { path, failure: outcome.failure });
        return buildMetadata({
          tags: {},
          fileName,
          mtimeMs: fallbackMtimeMs,
          timeZone,
          exiftoolFailure: outcome.failure,
          zoneAt,
        });
      }
      const result = buildMetadata({
        tags: outcome.tags,
        fileName,
        mtimeMs: fallbackMtimeMs,
        timeZone,
        zoneAt,
      });
      const motion = result.metadata.motionPhoto;
      if (motion !== undefined && !(await videoIsWhereSaid(path, motion.videoFromEnd))) {
        delete result.metadata.motionPhoto;
      }
      if (sidecar === undefined) return result;
      if ('failure' in sidecar) {
        result.problems.push({
          message: `Its XMP sidecar could not be read (${sidecar.failure}); the photo's own metadata is kept.`,
        });
        return result;
      }
      // See [Note: XMP sidecar precedence] in sidecar-merge.ts.
      result.metadata = mergeXmpSidecar(result.metadata, sidecar.tags, {
        mtimeMs: fallbackMtimeMs,
        timeZone,
      });
      return result;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const read of [...singles, ...queue, ...fast2Queue])
        read.settle({ failure: 'the metadata reader was closed' });
      singles.length = 0;
      queue.length = 0;
      fast2Queue.length = 0;
      const instanceToEnd = exiftool;
      exiftool = undefined;
      // not gracefully: exiftool only reads, and a batch in flight must not hold up a shutdown
      if (instanceToEnd) await instanceToEnd.end(false);
    },
  };
}
