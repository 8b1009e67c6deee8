// The vault's checks of what clients send about an upload and an asset, as VaultHttpErrors
// (status + stable code). The schemas themselves are the wire contract in
// common/vault-protocol.ts; this module only maps a failed parse to the error the vault
// answers, which common/ cannot know about.
// - Upload-Metadata (tus creation): filename required; sha256 required unless the upload
//   defers its hash to the final PATCH; mime, mtime, relpath optional.
// - PUT /api/v1/assets/:sha256/metadata: MediaMetadata.
// Nothing a client sends is ever used as a filesystem path: blobs are named by the vault's own
// hash. Names are still refused when they carry traversal, so that a listing never hands a
// restoring client a path that escapes its target folder.
import {
  isSafeFileName,
  isSafeRelativePath,
  MAX_METADATA_BYTES,
  MIME_TYPE,
  type MediaMetadata,
  mediaMetadataSchema,
  SHA256_HEX,
} from '../common/vault-protocol.js';
import { VaultHttpError } from './http-error.js';

export { MAX_METADATA_BYTES };

/** Parses a metadata PUT body; throws VaultHttpError 400/413 with a readable reason. */
export function parseMetadataBody(raw: Buffer): MediaMetadata {
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
  /** null for a deferred-hash upload: the sha256 comes with the final PATCH */
  sha256: string | null;
  filename: string;
  mime: string | null;
  mtimeMs: number | null;
  relpath: string | null;
}

/** Validates tus Upload-Metadata (already base64-decoded by @tus/server). */
export function parseUploadMetadata(
  metadata: Record<string, string | null> | undefined,
  opts: { deferredHash?: boolean } = {},
): DeclaredUpload {
  const sha256 = metadata?.sha256 ?? null;
  if (sha256 === null && opts.deferredHash === true) {
    // the hash comes with the final PATCH (Keepsake-Deferred-Hash)
  } else if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) {
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
      'Upload-Metadata must carry filename: a base name without "/", "\\", control characters (newline, tab, ...) or "..", at most 255 bytes',
    );
  }
  const mime = metadata?.mime ?? null;
  if (mime !== null && !MIME_TYPE.test(mime)) {
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
