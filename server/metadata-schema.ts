// What the vault accepts from clients about an upload and an asset.
// - Upload-Metadata (tus creation): filename and sha256 required; mime, mtime, relpath optional.
// - PUT /api/v1/assets/:sha256/metadata: the MediaMetadata wire format the engine extracts with
//   exiftool (its TypeScript shape lives with the engine in main/engine/metadata/types.ts; the
//   vault stands alone, so it keeps its own schema and the two are checked against each
//   other in tests/unit/server/metadata-schema.test.ts).
// Nothing a client sends is ever used as a filesystem path: blobs are named by the vault's own
// hash. Names are still refused when they carry traversal, so that a listing never hands a
// restoring client a path that escapes its target folder.
import { z } from 'zod';
import { SHA256_HEX } from './blob-store.js';
import { VaultHttpError } from './http-error.js';

export const MAX_METADATA_BYTES = 64 * 1024;

const noNul = (s: string) => !s.includes('\0');

const captureTimeSource = z.enum([
  'exif_original',
  'exif_create',
  'quicktime',
  'gps',
  'filename',
  'mtime',
]);
const timeZoneSource = z.enum([
  'offset_time_original',
  'offset_time',
  'quicktime_tz',
  'gps',
  'utc',
  'assumed_local',
]);
const text = (max: number) => z.string().max(max).refine(noNul, 'must not contain NUL');
const MIME = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

export const mediaMetadataSchema = z.strictObject({
  captureTime: z.iso.datetime({ offset: true }).nullable(),
  captureTimeSource: captureTimeSource.nullable(),
  timeZone: z
    .strictObject({
      offsetMinutes: z
        .number()
        .int()
        .min(-18 * 60)
        .max(18 * 60),
      source: timeZoneSource,
    })
    .nullable(),
  gps: z
    .strictObject({
      lat: z.number().min(-90).max(90),
      lon: z.number().min(-180).max(180),
      alt: z.number().min(-20_000).max(1_000_000).optional(),
    })
    .nullable(),
  camera: z
    .strictObject({
      make: text(256).optional(),
      model: text(256).optional(),
      lens: text(256).optional(),
    })
    .nullable(),
  width: z.number().int().positive().max(1_000_000).nullable(),
  height: z.number().int().positive().max(1_000_000).nullable(),
  durationSec: z.number().nonnegative().max(1e7).nullable(),
  orientation: z.number().int().min(1).max(8).nullable(),
  mime: z.string().regex(MIME, 'must be a MIME type such as image/jpeg').nullable(),
  originalPath: text(4096).min(1).optional(),
  device: text(255).min(1).optional(),
});

export type VaultMediaMetadata = z.infer<typeof mediaMetadataSchema>;

/** Parses a metadata PUT body; throws VaultHttpError 400/413 with a readable reason. */
export function parseMetadataBody(raw: Buffer): VaultMediaMetadata {
  if (raw.length > MAX_METADATA_BYTES) {
    throw new VaultHttpError(
      413,
      'payload_too_large',
      `metadata is limited to ${MAX_METADATA_BYTES} bytes`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new VaultHttpError(400, 'invalid_json', 'the request body is not valid JSON');
  }
  const result = mediaMetadataSchema.safeParse(json);
  if (!result.success) {
    const first = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
      .join('; ');
    throw new VaultHttpError(400, 'invalid_metadata', `metadata rejected: ${first}`);
  }
  return result.data;
}

export interface DeclaredUpload {
  sha256: string;
  filename: string;
  mime: string | null;
  mtimeMs: number | null;
  relpath: string | null;
}

/** A single path segment that cannot escape a folder. */
export function isSafeFileName(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= 255 &&
    name !== '.' &&
    name !== '..' &&
    !/[/\\\0]/.test(name)
  );
}

/** A relative, '/'-separated path with no '..' segment, no root and no drive letter. */
export function isSafeRelativePath(path: string): boolean {
  if (path.length === 0 || Buffer.byteLength(path) > 4096) return false;
  if (/[\\\0]/.test(path) || path.startsWith('/') || /^[A-Za-z]:/.test(path)) return false;
  return path.split('/').every((seg) => seg !== '..' && seg !== '.' && seg !== '');
}

/** Validates tus Upload-Metadata (already base64-decoded by @tus/server). */
export function parseUploadMetadata(
  metadata: Record<string, string | null> | undefined,
): DeclaredUpload {
  const sha256 = metadata?.sha256;
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) {
    throw new VaultHttpError(
      400,
      'invalid_sha256',
      'Upload-Metadata must carry sha256: the SHA-256 of the file as 64 lowercase hex characters',
    );
  }
  const filename = metadata?.filename;
  if (typeof filename !== 'string' || !isSafeFileName(filename)) {
    throw new VaultHttpError(
      400,
      typeof filename === 'string' ? 'invalid_path' : 'invalid_metadata',
      'Upload-Metadata must carry filename: a base name without "/", "\\", NUL or "..", at most 255 bytes',
    );
  }
  const mime = metadata?.mime ?? null;
  if (mime !== null && !MIME.test(mime)) {
    throw new VaultHttpError(
      400,
      'invalid_metadata',
      'Upload-Metadata mime must be a MIME type such as image/jpeg',
    );
  }
  const mtime = metadata?.mtime ?? null;
  if (mtime !== null && !/^\d{1,15}$/.test(mtime)) {
    throw new VaultHttpError(
      400,
      'invalid_metadata',
      'Upload-Metadata mtime must be milliseconds since the epoch',
    );
  }
  const relpath = metadata?.relpath ?? null;
  if (relpath !== null && !isSafeRelativePath(relpath)) {
    throw new VaultHttpError(
      400,
      'invalid_path',
      'Upload-Metadata relpath must be a relative "/"-separated path without ".." segments',
    );
  }
  return { sha256, filename, mime, mtimeMs: mtime === null ? null : Number(mtime), relpath };
}

const IMAGE_EXT = new Set(
  'jpg jpeg jpe png gif webp avif heic heif tif tiff bmp dng cr2 cr3 crw nef nrw arw sr2 raf orf rw2 pef srw x3f raw jxl psd'.split(
    ' ',
  ),
);
const VIDEO_EXT = new Set(
  'mp4 m4v mov qt avi mkv webm 3gp 3g2 mts m2ts ts wmv asf mpg mpeg flv'.split(' '),
);

/** image | video | other, from the declared MIME type, else the file extension. */
export function kindOf(mime: string | null, filename: string): 'image' | 'video' | 'other' {
  if (mime?.startsWith('image/')) return 'image';
  if (mime?.startsWith('video/')) return 'video';
  const ext = filename.includes('.')
    ? filename.slice(filename.lastIndexOf('.') + 1).toLowerCase()
    : '';
  if (IMAGE_EXT.has(ext)) return 'image';
  if (VIDEO_EXT.has(ext)) return 'video';
  return 'other';
}
