// Turns one stored asset into its thumbnail (longest side 256 px) and preview (longest side
// 1440 px), WebP, upright, or into the reason none can be made. Pure work on a blob's bytes:
// it writes nothing and knows nothing of the index (previews.ts does).
// Invariant: a reason is returned only for a lasting condition (the format cannot be decoded
// here, the file is damaged); a passing failure (exiftool or ffmpeg could not be started)
// throws, so the asset stays pending and is tried again.
//
// [Note: How each format gets its preview]
// - JPEG, PNG, WebP, AVIF, TIFF, GIF (first frame), and whatever else the prebuilt libvips in
//   sharp reads: decoded directly, EXIF orientation applied. Detected by content, not by
//   name (a PNG named .jpeg, a JPEG named .nef are decoded as what they are).
// - HEIC/HEIF with HEVC: sharp's prebuilt libvips carries libheif with the AV1 decoder only
//   (patents keep HEVC out), so these are decoded by the system's libheif command-line
//   decoder, as videos are by the system's ffmpeg (See [Note: HEIC through the system's
//   libheif]); without one they get the reason HEIC_REASON, which names the package.
// - RAW (CR2, CR3, NEF, ARW, RAF, RW2, ORF, DNG, ...): the largest JPEG the camera embedded
//   (JpgFromRaw, PreviewImage, OtherImage, ThumbnailImage; exiftool reads them), turned by
//   the RAW's Orientation tag, since the embedded JPEG usually carries none. Without one,
//   libvips is tried on the file itself (a DNG or TIFF-based RAW often holds a small RGB
//   image); else the reason says no embedded preview and no RAW decoder.
// - Video: a poster frame through ffmpeg when the vault has an ffmpeg binary, else the reason
//   VIDEO_REASON. One ffmpeg run reads the container (a file it cannot open, or one with no
//   video stream, gets its reason here), then the frame one second in (the first, for a clip
//   under 2 s): many clips open on a fade or a black frame, so a blank frame (every colour
//   channel nearly flat) is passed over for the middle of the clip. A clip blank at both is
//   shown by its livelier frame, unless that is black: then a reason, since a black tile
//   looks like a broken one. ffmpeg applies the rotation a phone writes in the video's
//   display matrix itself (autorotate is its default), so portrait videos come out upright.
//   Every run is killed after FFMPEG_TIMEOUT_MS, and a run that hangs is a lasting reason.
//
// [Note: HEIC through the system's libheif]
// `heif-dec` (libheif >= 1.17; called `heif-convert` before, as in Debian 12's
// libheif-examples 1.15, which has libde265 built in) decodes the primary image to a temp
// JPEG (quality 92, in the OS temp dir, removed at once), and that JPEG takes the same path
// as any other. Not the npm `heic-decode`/libheif-js: that is libheif compiled to wasm under
// LGPL-3.0, which a vault shipped as one bundle would have to let people relink, and a wasm
// HEVC decoder is several times slower than the native one; the system tool keeps the codec
// (and its patents) the platform's business, exactly like ffmpeg. Measured on the corpus
// (2 cores, shared): 0.3-0.6 s per 12 MP iPhone HEIC, 0.1 s for a 1440 x 960 one.
// Orientation: HEIF stores turns as irot/imir transforms, which libheif applies while
// decoding; the EXIF Orientation it copies into the JPEG describes the stored pixels and is
// already applied, so the JPEG is taken as upright (turning it by its EXIF again would lay a
// portrait iPhone photo on its side). A file holding several images (a collection) gets its
// primary one: the decoder writes name-1, name-2, ... in heif-info's order, which marks the
// primary. libheif 1.15 rejects some newer iPhone files ("Too many auxiliary image
// references", iPhone 15 Pro); those get the decoder's reason, and a newer libheif fixes them.
//
// One decode feeds both sizes: the preview's pixels are kept raw and the thumbnail is made
// from them, so a large photo is read and shrunk once. Both are JPEG, transparency laid on
// white: WebP would be smaller, but its encoder took 200-480 ms for one 1440 px preview on
// one core where JPEG took 25 ms, and previews share the vault's cores with uploads.
import { spawn } from 'node:child_process';
import { access, constants, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { ExifTool } from 'exiftool-vendored';
import type { Metadata, Sharp } from 'sharp';
import type { PreviewSource } from './index/preview-store.js';
import { measurePreview, type SimilarityMeasure } from './similarity-measure.js';

type SharpFunction = (typeof import('sharp'))['default'];
let sharpLoaded: Promise<SharpFunction> | undefined;

/**
 * sharp, loaded with the first picture to make, not with the vault: libvips is the heaviest
 * thing the process loads (about 0.5 s of a `keepsake backup` start on a busy machine, where
 * an unchanged re-run makes no picture at all).
 */
export function loadSharp(): Promise<SharpFunction> {
  sharpLoaded ??= import('sharp').then(({ default: sharp }) => {
    // See [Note: Preview pacing] in previews.ts. A process-wide setting: the vault is sharp's
    // only user.
    sharp.concurrency(1);
    sharp.cache(false);
    return sharp;
  });
  return sharpLoaded;
}

export const THUMBNAIL_SIZE = 256;
export const PREVIEW_SIZE = 1440;
export const PREVIEW_CONTENT_TYPE = 'image/jpeg';
/** Changes when the pictures made for the same content would differ (it is in the ETag). */
export const PREVIEW_RENDER_VERSION = 1;

/** How every reason that a HEIF decoder would cure starts (See curedReasons). */
export const HEIC_REASON_PREFIX = 'HEIC/HEIF photos (HEVC) cannot be decoded on this vault';
export const HEIC_REASON = `${HEIC_REASON_PREFIX}: no HEVC decoder (heif-dec or heif-convert was not found; install libheif-examples on Debian/Ubuntu, libheif on macOS/Homebrew)`;
export const VIDEO_REASON = 'no video decoder on this vault (ffmpeg was not found)';
const NO_DECODER_REASON = 'this vault has no decoder for this file format';

export const RAW_EXTENSIONS = new Set([
  '3fr', 'ari', 'arw', 'bay', 'cr2', 'cr3', 'crw', 'dcr', 'dng', 'erf', 'fff', 'iiq', 'k25',
  'kdc', 'mef', 'mos', 'mrw', 'nef', 'nrw', 'orf', 'pef', 'raf', 'raw', 'rw2', 'rwl', 'sr2',
  'srf', 'srw', 'x3f',
]); // prettier-ignore
export const VIDEO_EXTENSIONS = new Set([
  '3g2', '3gp', 'avi', 'dv', 'flv', 'm2ts', 'm4v', 'mkv', 'mov', 'mp4', 'mpg', 'mpeg', 'mts',
  'webm', 'wmv',
]); // prettier-ignore
/** Embedded images of a RAW, best first when of equal size. */
export const EMBEDDED_TAGS = [
  'JpgFromRaw',
  'PreviewImage',
  'OtherImage',
  'ThumbnailImage',
] as const;
const MAX_INPUT_PIXELS = 200_000_000;
const FFMPEG_TIMEOUT_MS = 60_000;
const HEIF_TIMEOUT_MS = 60_000;
/** A frame whose colour channels all vary less than this (0-255 stdev) is blank. */
const BLANK_SPREAD = 6;
/** ... and one this dark (brightest channel's mean) is black. */
const BLACK_MEAN = 24;

export interface RenderedPreviews {
  thumb: Buffer;
  preview: Buffer;
  source: PreviewSource;
  /**
   * The perceptual hash and sharpness of the preview (similarity-measure.ts), for a photo
   * (not a video's poster frame); undefined when it could not be measured.
   */
  measure?: SimilarityMeasure;
  /** the decoded picture's size upright, px (a RAW's: its embedded JPEG's) */
  width?: number;
  height?: number;
}

export type RenderOutcome = { made: RenderedPreviews } | { none: string };

/** What the renderer is told of an asset besides its bytes. */
export interface RenderSubject {
  kind: 'image' | 'video' | 'other';
  mime: string | null;
  filename: string;
}

export interface PreviewRenderer {
  render(blobPath: string, subject: RenderSubject): Promise<RenderOutcome>;
  readonly ffmpegPath: string | null;
  readonly heifDecoderPath: string | null;
  close(): Promise<void>;
}

export interface PreviewRendererOptions {
  /** ffmpeg to take video frames with; null/undefined = none (See findFfmpeg) */
  ffmpegPath?: string | null;
  /** heif-dec/heif-convert for HEIC; null/undefined = none (See findHeifDecoder) */
  heifDecoderPath?: string | null;
}

/** The first of `names` found executable on `pathEnv` (a PATH), else null. */
export async function findTool(
  names: readonly string[],
  pathEnv: string = process.env.PATH ?? '',
): Promise<string | null> {
  for (const name of names) {
    for (const dir of pathEnv.split(delimiter)) {
      if (dir === '') continue;
      const candidate = join(dir, process.platform === 'win32' ? `${name}.exe` : name);
      try {
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return null;
}

/** The first `ffmpeg` on PATH that is executable, else null. */
export function findFfmpeg(pathEnv?: string): Promise<string | null> {
  return findTool(['ffmpeg'], pathEnv);
}

/**
 * libheif's command-line decoder on PATH (`heif-dec`, or `heif-convert` as it was called
 * before libheif 1.17), else null. See [Note: HEIC through the system's libheif].
 */
export function findHeifDecoder(pathEnv?: string): Promise<string | null> {
  return findTool(['heif-dec', 'heif-convert'], pathEnv);
}

/**
 * The starts of the lasting reasons this renderer would no longer give (its tool was added
 * since): a vault forgets them at start, so those assets are tried again.
 */
export function curedReasons(renderer: PreviewRenderer): string[] {
  const out: string[] = [];
  if (renderer.heifDecoderPath !== null) out.push(HEIC_REASON_PREFIX);
  if (renderer.ffmpegPath !== null) out.push(VIDEO_REASON);
  return out;
}

export type HeifDecode = { jpeg: string; cleanup: () => Promise<void> } | { none: string };

/**
 * Decodes a HEIC/HEIF's primary image, upright, to a temp JPEG (See [Note: HEIC through the
 * system's libheif]). `{none}` when the decoder refuses the file (a lasting reason); throws
 * when the decoder cannot be started (a passing one). The caller runs cleanup().
 */
export async function decodeHeif(
  decoder: string,
  input: string,
  quality = 92,
): Promise<HeifDecode> {
  const dir = await mkdtemp(join(tmpdir(), 'keepsake-heif-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const out = join(dir, 'decoded.jpg');
    const run = await runTool(decoder, ['-q', String(quality), input, out], HEIF_TIMEOUT_MS);
    const written = (await readdir(dir)).filter((f) => f.endsWith('.jpg')).sort(byNumber);
    if (written.length === 0) {
      await cleanup();
      const why = run.timedOut
        ? `${basename(decoder)} took longer than ${HEIF_TIMEOUT_MS / 1000} s`
        : heifMessage(run.err + run.out.toString('utf8'), input);
      return { none: `the HEIC/HEIF photo could not be decoded: ${why}` };
    }
    let chosen = written.includes('decoded.jpg') ? 'decoded.jpg' : written[0]!;
    if (written.length > 1 && !written.includes('decoded.jpg')) {
      chosen = written[(await primaryIndex(decoder, input)) ?? 0] ?? chosen;
    }
    return { jpeg: join(dir, chosen), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function byNumber(a: string, b: string): number {
  const n = (s: string) => Number(/-(\d+)\.jpg$/.exec(s)?.[1] ?? 0);
  return n(a) - n(b);
}

/** Which of the top-level images (0-based, heif-info's order) is the primary, if known. */
async function primaryIndex(decoder: string, input: string): Promise<number | undefined> {
  const info = join(dirname(decoder), 'heif-info');
  try {
    await access(info, constants.X_OK);
  } catch {
    return undefined;
  }
  const run = await runTool(info, [input], HEIF_TIMEOUT_MS).catch(() => undefined);
  if (run === undefined) return undefined;
  const images = run.out
    .toString('utf8')
    .split('\n')
    .filter((l) => /^image: /.test(l));
  const i = images.findIndex((l) => /\bprimary\b/.test(l));
  return i < 0 ? undefined : i;
}

/** libheif's own reason, without the file's path. */
function heifMessage(output: string, input: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^(Written to|File contains)/.test(l));
  return (lines.at(-1) ?? 'the decoder failed').split(input).join('the file').slice(0, 200);
}

export function extensionOf(filename: string): string {
  const dot = filename.lastIndexOf('.');
  return dot < 0 ? '' : filename.slice(dot + 1).toLowerCase();
}

export type Sniffed = 'jpeg' | 'png' | 'gif' | 'webp' | 'other';

export async function sniff(path: string): Promise<Sniffed> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(12);
    const { bytesRead } = await fh.read(head, 0, 12, 0);
    const b = head.subarray(0, bytesRead);
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
    if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
      return 'png';
    if (b.subarray(0, 4).toString('latin1') === 'GIF8') return 'gif';
    if (b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString() === 'WEBP')
      return 'webp';
    return 'other';
  } finally {
    await fh.close();
  }
}

/** sharp operations that turn an image stored with EXIF orientation 1-8 upright. */
export function orient(image: Sharp, orientation: number): Sharp {
  // sharp flips and flops before it rotates.
  switch (orientation) {
    case 2:
      return image.flop();
    case 3:
      return image.rotate(180);
    case 4:
      return image.flip();
    case 5:
      return image.flop().rotate(270);
    case 6:
      return image.rotate(90);
    case 7:
      return image.flop().rotate(90);
    case 8:
      return image.rotate(270);
    default:
      return image;
  }
}

/** A decoder's message without the blob's path (a reason is shown to people). */
export function cleanMessage(err: unknown, blobPath: string): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = (text.split('\n').find((l) => l.trim() !== '') ?? text).trim();
  return line.split(blobPath).join('the file').slice(0, 200);
}

/**
 * Both sizes from one decode. `orientation` undefined = the image's own EXIF orientation.
 * Throws the decoder's error.
 */
async function renderImage(
  input: string | Buffer,
  orientation?: number,
): Promise<{ thumb: Buffer; preview: Buffer; width?: number; height?: number }> {
  const sharp = await loadSharp();
  let image = sharp(input, { failOn: 'none', limitInputPixels: MAX_INPUT_PIXELS });
  const meta = await image.metadata();
  const turned = (orientation ?? meta.orientation ?? 1) >= 5;
  image = orientation === undefined ? image.rotate() : orient(image, orientation);
  const { data, info } = await image
    .resize(PREVIEW_SIZE, PREVIEW_SIZE, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
  const [preview, thumb] = await Promise.all([
    sharp(data, raw).jpeg({ quality: 80 }).toBuffer(),
    sharp(data, raw)
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 80 })
      .toBuffer(),
  ]);
  return {
    thumb,
    preview,
    ...(turned
      ? { width: meta.height, height: meta.width }
      : { width: meta.width, height: meta.height }),
  };
}

/**
 * An image file's pixel size upright, from its header; nulls when it cannot be read (a RAW
 * or a HEIC this vault cannot decode). For the backfill, which has the preview but not the
 * decoded original.
 */
export async function pictureSize(
  path: string,
): Promise<{ width: number | null; height: number | null }> {
  try {
    const meta = await (await loadSharp())(path, { failOn: 'none' }).metadata();
    const turned = (meta.orientation ?? 1) >= 5;
    return turned
      ? { width: meta.height ?? null, height: meta.width ?? null }
      : { width: meta.width ?? null, height: meta.height ?? null };
  } catch {
    return { width: null, height: null };
  }
}

/** A photo's previews with its similarity measure (See similarity-measure.ts). */
async function withMeasure(rendered: Omit<RenderedPreviews, 'measure'>): Promise<RenderedPreviews> {
  try {
    return { ...rendered, measure: await measurePreview(rendered.preview) };
  } catch {
    return rendered; // the previews stand without it; the backfill tries again
  }
}

export function binarySize(value: unknown): number {
  if (typeof value !== 'string') return 0;
  const m = /Binary data (\d+) bytes/.exec(value);
  return m ? Number(m[1]) : 0;
}

export function createPreviewRenderer(options: PreviewRendererOptions): PreviewRenderer {
  const ffmpegPath = options.ffmpegPath ?? null;
  const heifDecoderPath = options.heifDecoderPath ?? null;
  let exiftool: ExifTool | undefined;

  function tools(): ExifTool {
    exiftool ??= new ExifTool({
      maxProcs: 1,
      taskTimeoutMillis: 20_000,
      taskRetries: 0,
      maxIdleMsPerProcess: 60_000,
      geolocation: false,
    });
    return exiftool;
  }

  async function decodeDirectly(blobPath: string): Promise<RenderOutcome> {
    const sharp = await loadSharp();
    let meta: Metadata;
    try {
      meta = await sharp(blobPath, { failOn: 'none' }).metadata();
    } catch (err) {
      const text = cleanMessage(err, blobPath);
      if (/unsupported image format/i.test(text)) {
        return { none: NO_DECODER_REASON };
      }
      return { none: `the image could not be decoded: ${text}` };
    }
    if (meta.format === 'heif' && meta.compression === 'hevc') return fromHeif(blobPath);
    try {
      return { made: await withMeasure({ ...(await renderImage(blobPath)), source: 'decoded' }) };
    } catch (err) {
      return { none: `the image could not be decoded: ${cleanMessage(err, blobPath)}` };
    }
  }

  async function fromHeif(blobPath: string): Promise<RenderOutcome> {
    if (heifDecoderPath === null) return { none: HEIC_REASON };
    const decoded = await decodeHeif(heifDecoderPath, blobPath, 90);
    if ('none' in decoded) return decoded;
    try {
      // Upright already: libheif applied the file's turns (See [Note: HEIC through the
      // system's libheif]), so the EXIF orientation it copied is not applied again.
      return {
        made: await withMeasure({ ...(await renderImage(decoded.jpeg, 1)), source: 'decoded' }),
      };
    } catch (err) {
      return { none: `the image could not be decoded: ${cleanMessage(err, decoded.jpeg)}` };
    } finally {
      await decoded.cleanup();
    }
  }

  async function fromEmbedded(blobPath: string): Promise<RenderOutcome> {
    const et = tools();
    const tags = await et.readRaw<Record<string, unknown>>(blobPath, {
      readArgs: ['-n', '-Orientation', ...EMBEDDED_TAGS.map((t) => `-${t}`)],
    });
    const orientation = typeof tags.Orientation === 'number' ? tags.Orientation : 1;
    const candidates = EMBEDDED_TAGS.map((tag) => ({ tag, size: binarySize(tags[tag]) }))
      .filter((c) => c.size > 0)
      .sort((a, b) => b.size - a.size);
    for (const { tag } of candidates) {
      let bytes: Buffer;
      try {
        bytes = await et.extractBinaryTagToBuffer(tag, blobPath);
      } catch {
        continue; // listed but not extractable: try the next
      }
      try {
        return {
          made: await withMeasure({
            ...(await renderImage(bytes, orientation)),
            source: 'embedded',
          }),
        };
      } catch {
        // a stub or a damaged embedded image (test files strip them): try the next
      }
    }
    const direct = await decodeDirectly(blobPath);
    if ('made' in direct) return direct;
    return {
      none: 'this RAW file has no usable embedded preview, and this vault has no RAW decoder',
    };
  }

  async function fromVideo(blobPath: string): Promise<RenderOutcome> {
    if (ffmpegPath === null) return { none: VIDEO_REASON };
    // See [Note: How each format gets its preview]: probe, then frames until one is not blank.
    const probe = await runFfmpeg(ffmpegPath, ['-hide_banner', '-nostdin', '-i', blobPath]);
    // ffmpeg's reason is the last line of reading a container and the first of decoding.
    const failed = (r: ToolRun) => ({
      none: r.timedOut
        ? `the video could not be decoded: ffmpeg took longer than ${FFMPEG_TIMEOUT_MS / 1000} s`
        : `the video could not be decoded: ${ffmpegMessage(r.err, blobPath, r === probe)}`,
    });
    if (!/^Input #0/m.test(probe.err)) return failed(probe);
    if (!/^\s*Stream #.*: Video: (?!.*\(attached pic\))/m.test(probe.err)) {
      return { none: 'the file holds no video stream (sound only)' };
    }
    const d = /Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/.exec(probe.err);
    const duration = d ? Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]) : null;
    const times = duration !== null && duration < 2 ? [0] : [1, 0];
    if (duration !== null && duration >= 4) times.splice(1, 0, duration / 2);
    let best: { png: Buffer; spread: number; mean: number } | undefined;
    let lastRun: ToolRun | undefined;
    for (const at of times) {
      if (best !== undefined && at === 0) break; // 0 is only the fallback for a short clip
      const run = await runFfmpeg(ffmpegPath, [
        '-nostdin', '-v', 'error', '-ss', String(at), '-i', blobPath,
        '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', '-',
      ]); // prettier-ignore
      lastRun = run;
      if (run.out.length === 0) continue;
      const stats = await (await loadSharp())(run.out).stats();
      const spread = Math.max(...stats.channels.slice(0, 3).map((c) => c.stdev));
      const mean = Math.max(...stats.channels.slice(0, 3).map((c) => c.mean));
      if (best === undefined || spread > best.spread) best = { png: run.out, spread, mean };
      if (spread >= BLANK_SPREAD) break;
    }
    if (best === undefined) {
      if (lastRun !== undefined && (lastRun.timedOut || lastRun.err.trim() !== '')) {
        return failed(lastRun);
      }
      return { none: 'the video has no frame ffmpeg could decode' };
    }
    if (best.spread < BLANK_SPREAD && best.mean < BLACK_MEAN) {
      return {
        none: 'the video is black wherever it was looked at (near its start and its middle)',
      };
    }
    return { made: { ...(await renderImage(best.png)), source: 'poster' } };
  }

  return {
    ffmpegPath,
    heifDecoderPath,
    async render(blobPath, subject) {
      const ext = extensionOf(subject.filename);
      const sniffed = await sniff(blobPath);
      if (sniffed !== 'other') return decodeDirectly(blobPath);
      if (
        subject.mime?.startsWith('video/') === true ||
        (subject.kind === 'video' && !subject.mime?.startsWith('image/')) ||
        VIDEO_EXTENSIONS.has(ext)
      ) {
        return fromVideo(blobPath);
      }
      if (RAW_EXTENSIONS.has(ext)) return fromEmbedded(blobPath);
      const direct = await decodeDirectly(blobPath);
      // A sidecar, a document: say so rather than blame a missing decoder.
      if (subject.kind === 'other' && 'none' in direct && direct.none === NO_DECODER_REASON) {
        return { none: 'not a photo or video' };
      }
      return direct;
    },
    async close() {
      await exiftool?.end();
      exiftool = undefined;
    },
  };
}

export interface ToolRun {
  out: Buffer;
  err: string;
  timedOut: boolean;
}

function runFfmpeg(ffmpeg: string, args: string[]): Promise<ToolRun> {
  return runTool(ffmpeg, args, FFMPEG_TIMEOUT_MS);
}

/**
 * One run of a decoder, killed (SIGKILL) when it outlasts `timeoutMs`: a damaged file can
 * make a decoder spin. Rejects only when the tool cannot be started (a passing failure).
 */
export function runTool(tool: string, args: string[], timeoutMs: number): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 64_000) err += c.toString('utf8');
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve({ out: timedOut ? Buffer.alloc(0) : Buffer.concat(out), err, timedOut });
    });
  });
}

/**
 * ffmpeg's own reason: its last (or first) line that is not a hint, without the file's path or the
 * `[demuxer @ 0x55...]` prefix (an address that changes with every run).
 */
export function ffmpegMessage(stderr: string, blobPath: string, last: boolean): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^(At least one output file|Consider increasing)/.test(l));
  const line = (lines.at(last ? -1 : 0) ?? 'ffmpeg failed').replace(
    /^\[([^\]@]+?) @ 0x[0-9a-f]+\] /,
    '$1: ',
  );
  return line.split(blobPath).join('the file').slice(0, 200);
}
