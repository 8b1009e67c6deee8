// GET /api/v1/assets/:sha256/content?format=jpeg|mp4 (issue 15 section 4): a compatible copy
// of a stored asset, made on request and streamed, never stored; the original stays the
// asset. Invariant: a conversion starts only from bytes that hashed to the asset's sha256
// (a damaged blob is marked and refused, as a plain read would; a compressed blob is
// decompressed to a temp file first, BlobStore.withPlainFile), and a response that ends
// cleanly carries the whole converted file: a converter that fails after the headers went
// out destroys the socket.
//
// [Note: How each format becomes a JPEG or an MP4]
// JPEG, at full resolution, pixels upright with Orientation 1, metadata copied from the
// original by exiftool -TagsFromFile (EXIF, XMP, IPTC, GPS, capture dates, maker notes):
// - a JPEG asked as JPEG is the original itself, byte-exact, through the verified read
//   (200, `X-Keepsake-Conversion: original`): its orientation stays the tag it was stored
//   with, as any JPEG reader expects.
// - HEIC/HEIF (HEVC): libheif's heif-dec/heif-convert (See [Note: HEIC through the
//   system's libheif] in preview-render.ts), which applies the file's irot/imir turns and
//   copies its EXIF with the Orientation it was stored with; that tag is set to 1, since the
//   pixels are upright now. Without the tool: 501 converter_missing naming the package.
// - AVIF, WebP, PNG, TIFF, GIF (first frame), HEIF with AV1 and whatever else sharp's
//   libvips reads: decoded by sharp, turned upright by EXIF, laid on white where transparent.
// - RAW and DNG: the largest embedded JPEG (JpgFromRaw, PreviewImage, ...) when it is at full
//   resolution (its longest side at least FULL_SIDE of the RAW's own image size, as exiftool
//   reads it), turned by the RAW's Orientation; else libvips' own decode of the file when
//   that is at full resolution (a DNG or TIFF-based RAW holding RGB); else 422 saying both
//   sizes, since a small preview passed off as "the photo" would lose the picture silently.
//   `X-Keepsake-Conversion` says which was used.
// MP4: H.264 video and AAC sound, through ffmpeg: an H.264 stream is copied as it is, any
// other (HEVC from an iPhone, MPEG-4, MJPEG, ...) is encoded with libx264 (veryfast, CRF 20,
// yuv420p so 10-bit HDR plays everywhere; ffmpeg applies the display rotation itself). Sound:
// AAC is copied, other sound is encoded to AAC. Container metadata (creation time, Apple's
// QuickTime keys such as the location) is kept. Streamed as a fragmented MP4 (`-movflags
// frag_keyframe+empty_moov`), so no temp file and no Content-Length; without ffmpeg: 501.
// Other combinations (JPEG of a video, MP4 of a photo, anything of a document) answer 415
// conversion_unsupported with the reason.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ExifTool } from 'exiftool-vendored';
import {
  CONVERT_FORMATS,
  type ConvertFormat,
  CONVERSION_HEADER,
  type ConversionSource,
} from '../common/vault-protocol.js';
import { BlobDamagedError } from './blob-store.js';
import { VaultHttpError } from './http-error.js';
import type { AssetRecord } from './index/vault-index.js';
import {
  binarySize,
  cleanMessage,
  decodeHeif,
  EMBEDDED_TAGS,
  extensionOf,
  ffmpegMessage,
  HEIC_REASON,
  loadSharp,
  orient,
  RAW_EXTENSIONS,
  runTool,
  sniff,
  VIDEO_EXTENSIONS,
  VIDEO_REASON,
} from './preview-render.js';
import {
  problemError,
  serveVerifiedContent,
  type VerifiedContentDeps,
} from './verified-content.js';

/** An embedded JPEG this share of the RAW's longest side or more counts as full size. */
const FULL_SIDE = 0.9;
const JPEG_QUALITY = 92;
const PROBE_TIMEOUT_MS = 60_000;
const MAX_INPUT_PIXELS = 200_000_000;

export interface ConverterOptions {
  ffmpegPath: string | null;
  heifDecoderPath: string | null;
}

export interface AssetConverter {
  serve(
    asset: AssetRecord,
    format: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void>;
  close(): Promise<void>;
}

export interface ConverterDeps extends VerifiedContentDeps {
  /** where a compressed blob is decompressed for the tools (the vault's uploads dir) */
  tempDir: string;
}

function unsupported(message: string): VaultHttpError {
  return new VaultHttpError(415, 'conversion_unsupported', message);
}

function failed(message: string): VaultHttpError {
  return new VaultHttpError(422, 'conversion_failed', message);
}

function missing(message: string): VaultHttpError {
  return new VaultHttpError(501, 'converter_missing', message);
}

/** The asset's name with the new extension: IMG_1234.HEIC -> IMG_1234.jpg. */
export function convertedName(filename: string, format: ConvertFormat): string {
  const dot = filename.lastIndexOf('.');
  const stem = dot > 0 ? filename.slice(0, dot) : filename;
  return `${stem}.${format === 'jpeg' ? 'jpg' : 'mp4'}`;
}

type Kind = 'jpeg' | 'heif' | 'raw' | 'video' | 'image' | 'none';

export function createAssetConverter(
  deps: ConverterDeps,
  options: ConverterOptions,
): AssetConverter {
  let exiftool: ExifTool | undefined;
  const tools = () =>
    (exiftool ??= new ExifTool({
      maxProcs: 1,
      taskTimeoutMillis: 60_000,
      taskRetries: 0,
      maxIdleMsPerProcess: 60_000,
      geolocation: false,
    }));

  /**
   * Runs `use` with a path to the asset's original bytes (a temp plain copy when the blob is
   * stored compressed), after they hashed to its sha256; a bad blob is marked and refused.
   */
  async function withProvenFile<T>(
    asset: AssetRecord,
    use: (path: string) => Promise<T>,
  ): Promise<T> {
    const known = await deps.index.health.problem(asset.sha256);
    if (known !== undefined) throw problemError(known);
    let result: { value: T } | null;
    try {
      result = await deps.blobs.withPlainFile(asset.sha256, deps.tempDir, async (path) => {
        const hash = createHash('sha256');
        await pipeline(createReadStream(path), hash);
        if (hash.digest('hex') !== asset.sha256) throw new BlobDamagedError('hash mismatch');
        return use(path);
      });
    } catch (err) {
      if (!(err instanceof BlobDamagedError)) throw err;
      await deps.health.found(asset.sha256, 'damaged', 'read');
      throw problemError('damaged');
    }
    if (result === null) {
      await deps.health.found(asset.sha256, 'missing', 'read');
      throw problemError('missing');
    }
    return result.value;
  }

  async function kindOf(path: string, asset: AssetRecord): Promise<Kind> {
    const sniffed = await sniff(path);
    if (sniffed === 'jpeg') return 'jpeg';
    if (sniffed !== 'other') return 'image';
    const ext = extensionOf(asset.filename);
    if (
      asset.mime?.startsWith('video/') === true ||
      (asset.kind === 'video' && asset.mime?.startsWith('image/') !== true) ||
      VIDEO_EXTENSIONS.has(ext)
    ) {
      return 'video';
    }
    if (RAW_EXTENSIONS.has(ext)) return 'raw';
    const sharp = await loadSharp();
    try {
      const meta = await sharp(path, { failOn: 'none' }).metadata();
      return meta.format === 'heif' && meta.compression === 'hevc' ? 'heif' : 'image';
    } catch {
      return asset.kind === 'other' ? 'none' : 'image';
    }
  }

  /** Writes the JPEG at `out` upright with the original's metadata (Orientation 1). */
  async function copyMetadata(original: string, out: string): Promise<void> {
    const sharp = await loadSharp();
    const meta = await sharp(out).metadata();
    await tools().write(
      out,
      {},
      {
        writeArgs: [
          '-TagsFromFile',
          original,
          '-all:all',
          '-n',
          '-Orientation=1',
          `-ExifImageWidth=${meta.width}`,
          `-ExifImageHeight=${meta.height}`,
          '-overwrite_original',
        ],
      },
    );
  }

  async function viaSharp(
    input: string | Buffer,
    out: string,
    orientation: number | undefined,
  ): Promise<void> {
    const sharp = await loadSharp();
    let image = sharp(input, { failOn: 'none', limitInputPixels: MAX_INPUT_PIXELS });
    image = orientation === undefined ? image.rotate() : orient(image, orientation);
    await image
      .flatten({ background: '#ffffff' })
      .keepIccProfile()
      .jpeg({ quality: JPEG_QUALITY })
      .toFile(out);
  }

  /** RAW/DNG: see [Note: How each format becomes a JPEG or an MP4]. */
  async function rawToJpeg(path: string, out: string): Promise<ConversionSource> {
    const et = tools();
    const tags = await et.readRaw<Record<string, unknown>>(path, {
      readArgs: ['-n', '-Orientation', '-ImageSize', ...EMBEDDED_TAGS.map((t) => `-${t}`)],
    });
    const orientation = typeof tags.Orientation === 'number' ? tags.Orientation : 1;
    const size = typeof tags.ImageSize === 'string' ? tags.ImageSize.split(/[ x]/) : [];
    const fullSide = Math.max(Number(size[0]) || 0, Number(size[1]) || 0);
    const sharp = await loadSharp();
    let bestSide = 0;
    const candidates = EMBEDDED_TAGS.map((tag) => ({ tag, size: binarySize(tags[tag]) }))
      .filter((c) => c.size > 0)
      .sort((a, b) => b.size - a.size);
    for (const { tag } of candidates) {
      let bytes: Buffer;
      try {
        bytes = await et.extractBinaryTagToBuffer(tag, path);
        const m = await sharp(bytes).metadata();
        const side = Math.max(m.width ?? 0, m.height ?? 0);
        bestSide = Math.max(bestSide, side);
        if (fullSide === 0 || side < fullSide * FULL_SIDE) continue;
        await viaSharp(bytes, out, orientation);
        return 'embedded-jpeg';
      } catch {
        // a stub or a damaged embedded image (test files strip them): try the next
      }
    }
    try {
      const m = await sharp(path, { failOn: 'none' }).metadata();
      const side = Math.max(m.width ?? 0, m.height ?? 0);
      if (fullSide > 0 && side >= fullSide * FULL_SIDE) {
        await viaSharp(path, out, undefined);
        return 'decoded';
      }
    } catch {
      // libvips cannot read it either
    }
    throw failed(
      fullSide > 0
        ? `this RAW file's ${bestSide > 0 ? `largest embedded image is ${bestSide} px on its longest side, of ${fullSide} px` : `embedded images cannot be read (the photo is ${fullSide} px)`}, and this vault has no RAW decoder: no full-resolution JPEG can be made`
        : 'this RAW file has no full-resolution embedded image, and this vault has no RAW decoder',
    );
  }

  async function toJpeg(
    asset: AssetRecord,
    path: string,
    kind: Kind,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'keepsake-convert-'));
    try {
      const out = join(dir, 'converted.jpg');
      let source: ConversionSource;
      if (kind === 'heif') {
        if (options.heifDecoderPath === null) throw missing(HEIC_REASON);
        const decoded = await decodeHeif(options.heifDecoderPath, path, JPEG_QUALITY);
        if ('none' in decoded) throw failed(decoded.none);
        try {
          // Upright already: only its tags change, no second encode.
          await rename(decoded.jpeg, out);
        } finally {
          await decoded.cleanup();
        }
        source = 'heif-dec';
      } else if (kind === 'raw') {
        source = await rawToJpeg(path, out);
      } else {
        try {
          await viaSharp(path, out, undefined);
        } catch (err) {
          const text = cleanMessage(err, path);
          throw /unsupported image format/i.test(text)
            ? unsupported('this vault has no decoder for this file format')
            : failed(`the image could not be decoded: ${text}`);
        }
        source = 'decoded';
      }
      await copyMetadata(path, out);
      const size = (await stat(out)).size;
      res.writeHead(200, {
        'Content-Type': 'image/jpeg',
        'Content-Length': size,
        'Cache-Control': 'private, no-store',
        'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(convertedName(asset.filename, 'jpeg'))}`,
        [CONVERSION_HEADER]: source,
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      try {
        await pipeline(createReadStream(out), res);
      } catch {
        res.destroy();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async function toMp4(
    asset: AssetRecord,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const ffmpeg = options.ffmpegPath;
    if (ffmpeg === null) throw missing(`${VIDEO_REASON}: install ffmpeg on the vault`);
    const probe = await runTool(ffmpeg, ['-hide_banner', '-nostdin', '-i', path], PROBE_TIMEOUT_MS);
    if (!/^Input #0/m.test(probe.err)) {
      throw failed(`the video could not be read: ${ffmpegMessage(probe.err, path, true)}`);
    }
    const video = /^\s*Stream #\d+:\d+[^:]*: Video: (\w+)(?!.*\(attached pic\))/m.exec(probe.err);
    if (!video) throw unsupported('the file holds no video stream');
    const audio = /^\s*Stream #\d+:\d+[^:]*: Audio: (\w+)/m.exec(probe.err);
    const copyVideo = video[1] === 'h264';
    const copyAudio = audio?.[1] === 'aac';
    const source: ConversionSource = copyVideo ? 'remuxed' : 'transcoded';
    const args = [
      '-nostdin', '-v', 'error', '-i', path,
      '-map', '0:v:0', '-map', '0:a:0?',
      ...(copyVideo
        ? ['-c:v', 'copy']
        : ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p']),
      ...(audio === null ? [] : copyAudio ? ['-c:a', 'copy'] : ['-c:a', 'aac', '-b:a', '192k']),
      '-map_metadata', '0',
      '-movflags', 'frag_keyframe+empty_moov+default_base_moof+use_metadata_tags',
      '-f', 'mp4', 'pipe:1',
    ]; // prettier-ignore
    res.writeHead(200, {
      'Content-Type': 'video/mp4',
      'Cache-Control': 'private, no-store',
      'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(convertedName(asset.filename, 'mp4'))}`,
      [CONVERSION_HEADER]: source,
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 16_000) err += c.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => {
      child.on('close', (code) => resolve(code));
      child.on('error', () => resolve(-1));
    });
    const gone = () => child.kill('SIGKILL');
    res.on('close', gone);
    try {
      await pipeline(child.stdout, res, { end: false });
    } catch {
      child.kill('SIGKILL');
    }
    const code = await exited;
    res.off('close', gone);
    if (code !== 0 || res.destroyed) {
      // A failed conversion never ends cleanly: the client sees a broken response.
      res.destroy(new Error(ffmpegMessage(err, path, true)));
      return;
    }
    res.end();
  }

  return {
    async serve(asset, format, req, res) {
      if (!(CONVERT_FORMATS as readonly string[]).includes(format)) {
        throw new VaultHttpError(
          400,
          'invalid_format',
          `format must be one of: ${CONVERT_FORMATS.join(', ')}`,
        );
      }
      const original = await withProvenFile(asset, async (path) => {
        const kind = await kindOf(path, asset);
        if (format === 'jpeg') {
          if (kind === 'video') {
            throw unsupported('a video cannot be converted to JPEG (ask for format=mp4)');
          }
          if (kind === 'none') throw unsupported('not a photo: nothing to convert to JPEG');
          if (kind === 'jpeg') return true;
          await toJpeg(asset, path, kind, req, res);
          return false;
        }
        if (kind !== 'video') {
          throw unsupported('only a video can be converted to MP4 (ask for format=jpeg)');
        }
        await toMp4(asset, path, req, res);
        return false;
      });
      if (original) {
        res.setHeader(CONVERSION_HEADER, 'original' satisfies ConversionSource);
        await serveVerifiedContent(deps, asset, req, res);
      }
    },
    async close() {
      await exiftool?.end();
      exiftool = undefined;
    },
  };
}
