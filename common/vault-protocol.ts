// The vault's wire format under /api/v1/ and /files/ (tus), as zod schemas with their
// inferred types: the one copy both sides build against. The vault validates requests with
// these schemas; the engine parses replies with them. Pure (imports only zod): the renderer
// may import it too, so no node:*, no Buffer.
// Invariant: a change here is a change of the protocol; the vault's tests and the engine's
// follow it, and old clients keep working (fields are added as optional, never renamed).
// BATCH-PROTOCOL.md (the contract of issue 8) describes the batch endpoints in prose.
import { z } from 'zod';

// ---------------------------------------------------------------------------------------
// Building blocks

/** SHA-256 as 64 lowercase hex characters: a content's identity and its blob's name. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
export const sha256Schema = z.string().regex(SHA256_HEX, 'must be 64 lowercase hex characters');

/** A MIME type such as image/jpeg. */
export const MIME_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

const utf8Length = (s: string): number => new TextEncoder().encode(s).length;
const noNul = (s: string): boolean => !s.includes('\0');

/** C0 and C1 control characters (NUL, newline, tab, escape, DEL, ...). */
function isControl(code: number): boolean {
  return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
}

/**
 * True when `text` holds a control character. The vault refuses them in names and paths: a
 * newline in a name forges lines in logs and listings, an escape sequence rewrites a terminal.
 */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (isControl(text.charCodeAt(i))) return true;
  return false;
}

/**
 * A file name or path as the vault accepts it: each control character becomes U+FFFD, and so
 * does each lone surrogate (how the engine carries a byte of a name that is not UTF-8). For
 * clients, whose files may have such names (the name sent is informational; content is
 * identified by its sha256, and a location carries a path's exact bytes in pathB64).
 */
export function withoutControlCharacters(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) as number; // a valid surrogate pair is one code point
    out += isControl(code) || (code >= 0xd800 && code <= 0xdfff) ? '\uFFFD' : ch;
  }
  return out;
}

/** A single path segment that cannot escape a folder (at most 255 UTF-8 bytes). */
export function isSafeFileName(name: string): boolean {
  return (
    name.length > 0 &&
    !hasControlCharacter(name) &&
    utf8Length(name) <= 255 &&
    name !== '.' &&
    name !== '..' &&
    !/[/\\\0]/.test(name)
  );
}

/** A relative, '/'-separated path with no '..' segment, no root and no drive letter. */
export function isSafeRelativePath(path: string): boolean {
  if (path.length === 0 || utf8Length(path) > 4096 || hasControlCharacter(path)) return false;
  if (/[\\\0]/.test(path) || path.startsWith('/') || /^[A-Za-z]:/.test(path)) return false;
  return path.split('/').every((seg) => seg !== '..' && seg !== '.' && seg !== '');
}

export const fileNameSchema = z
  .string()
  .refine(
    isSafeFileName,
    'must be a base name without "/", "\\", control characters or "..", at most 255 bytes',
  );
export const relPathSchema = z
  .string()
  .refine(
    isSafeRelativePath,
    'must be a relative "/"-separated path without ".." segments or control characters',
  );
export const mimeSchema = z.string().regex(MIME_TYPE, 'must be a MIME type such as image/jpeg');

/** The error body of every 4xx/5xx the vault answers, on /api/v1/ and /files/ alike. */
export const errorBodySchema = z.object({ error: z.string(), message: z.string() });
export type ErrorBody = z.infer<typeof errorBodySchema>;

// ---------------------------------------------------------------------------------------
// MediaMetadata: what the engine extracts with exiftool and attaches to an asset.

export const MAX_METADATA_BYTES = 64 * 1024;

const captureTimeSourceSchema = z.enum([
  'exif_original', // DateTimeOriginal (+ SubSecTimeOriginal)
  'exif_create', // CreateDate / DateTimeDigitized
  'quicktime', // QuickTime CreateDate (UTC by spec)
  'gps', // GPSDateStamp + GPSTimeStamp (UTC)
  'filename', // e.g. IMG_20190312_101112.jpg
  'mtime', // the file's modification time, last resort
  'takeout', // photoTakenTime of a Google Takeout sidecar (UTC; issue 12)
  'icloud', // originalCreationDate of iCloud's Photo Details.csv (GMT, to the minute; issue 12)
]);
const timeZoneSourceSchema = z.enum([
  'offset_time_original',
  'offset_time',
  'quicktime_tz', // a zone carried by the QuickTime date itself
  'gps', // derived from the GPS position / GPS UTC time
  'utc', // the source is UTC by definition (QuickTime, GPS)
  'assumed_local', // the machine's zone: recorded as an assumption
]);
export type CaptureTimeSource = z.infer<typeof captureTimeSourceSchema>;
export type TimeZoneSource = z.infer<typeof timeZoneSourceSchema>;

const text = (max: number) => z.string().max(max).refine(noNul, 'must not contain NUL');

export const mediaMetadataSchema = z.strictObject({
  /** ISO 8601 with offset, e.g. 2019-03-12T10:11:12.345+01:00; null when nothing usable. */
  captureTime: z.iso.datetime({ offset: true }).nullable(),
  captureTimeSource: captureTimeSourceSchema.nullable(),
  timeZone: z
    .strictObject({
      offsetMinutes: z
        .number()
        .int()
        .min(-18 * 60)
        .max(18 * 60),
      source: timeZoneSourceSchema,
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
  /** EXIF orientation 1..8 */
  orientation: z.number().int().min(1).max(8).nullable(),
  mime: mimeSchema.nullable(),
  /** Set by the engine: the path the file had on the device it was backed up from. */
  originalPath: text(4096).min(1).optional(),
  /** Set by the engine: the host name of the device. */
  device: text(255).min(1).optional(),
  /**
   * Where the fields below and an import's capture time came from when not the file itself
   * (issue 12): 'takeout' = a Google Takeout JSON sidecar; 'icloud' = a row of the Photo
   * Details.csv in Apple's iCloud Photos copy. Absent = read from the file.
   */
  source: z.enum(['takeout', 'icloud']).optional(),
  /** The caption a person gave the item (Google Photos' description). */
  description: text(16_384).optional(),
  /** Marked as a favourite where it came from. */
  favorite: z.boolean().optional(),
  /** Archived (hidden from the main timeline) where it came from. */
  archived: z.boolean().optional(),
  /** Hidden where it came from (Apple Photos' Hidden album: out of the library's view). */
  hidden: z.boolean().optional(),
  /** Keywords, e.g. the names of the people recognised in it. */
  keywords: z.array(text(256).min(1)).max(1000).optional(),
  /** A person's star rating from an XMP sidecar: 0-5, -1 = rejected (issue 11). */
  rating: z.number().int().min(-1).max(5).optional(),
  /** A person's colour label from an XMP sidecar, by its name (e.g. "Red"). */
  label: text(256).min(1).optional(),
  /**
   * An Android motion photo (issue 11): a still whose short video is appended to the same
   * file, as its XMP says (GCamera MotionPhoto + Container directory, or the older MicroVideo
   * + MicroVideoOffset). Absent: not one. GET /api/v1/assets/:sha256/video serves that video.
   */
  motionPhoto: z
    .strictObject({
      format: z.enum(['motion-photo', 'micro-video']),
      /** where the video starts, in bytes counted back from the file's end; null: not said */
      videoFromEnd: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).nullable(),
      /** the video's length in bytes; null: not said */
      videoBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).nullable(),
    })
    .optional(),
});
export type MediaMetadata = z.infer<typeof mediaMetadataSchema>;

// ---------------------------------------------------------------------------------------
// Assets: GET /api/v1/assets, GET /api/v1/assets/:sha256, POST /api/v1/assets/check

export const assetKindSchema = z.enum(['image', 'video', 'other']);
export type AssetKind = z.infer<typeof assetKindSchema>;

// Group roles (See [Note: A declaration replaces] in the groups section below).
/**
 * A member's role. primary: the asset's original, the one a tile shows (a Live Photo's still,
 * the RAW of a RAW+JPEG pair, the unedited photo); live-video: a Live Photo's video;
 * raw: a RAW beside a primary that is not itself the RAW (e.g. an Apple ProRAW DNG beside the
 * HEIC of a Live Photo); rendition: a camera's JPEG of the RAW primary; edit: an edited copy
 * (Apple IMG_E1234, Google -edited); sidecar: an XMP or AAE file holding edits or ratings.
 */
export const groupRoleSchema = z.enum([
  'primary',
  'live-video',
  'raw',
  'rendition',
  'edit',
  'sidecar',
]);
export type GroupRole = z.infer<typeof groupRoleSchema>;

/** `group` on an asset: the vault's id of its group and its role there. */
export const assetGroupSchema = z.object({ id: z.string(), role: groupRoleSchema });
export type AssetGroup = z.infer<typeof assetGroupSchema>;

export const assetJsonSchema = z.object({
  sha256: sha256Schema,
  /** bytes */
  size: z.number().int().nonnegative(),
  mime: z.string().nullable(),
  kind: assetKindSchema,
  filename: z.string(),
  relpath: z.string().nullable(),
  /** the file's mtime on the uploading client, unix ms */
  mtimeMs: z.number().nullable(),
  /** when the vault first stored this content, unix ms */
  firstUploadedAt: z.number(),
  /** MediaMetadata as last stored, or null before any */
  metadata: z.unknown(),
  /**
   * The group this content belongs to and its role in it (issue 11); null when it stands
   * alone. Absent from vaults older than groups. See [Note: A declaration replaces].
   */
  group: assetGroupSchema.nullable().optional(),
});
export type AssetJson = z.infer<typeof assetJsonSchema>;

export const assetPageSchema = z.object({
  assets: z.array(assetJsonSchema),
  /** the cursor for ?after= of the next page; null at the end */
  next: z.string().nullable(),
});
export type AssetPage = z.infer<typeof assetPageSchema>;

export const MAX_CHECK_HASHES = 1000;
export const checkRequestSchema = z.object({
  sha256: z.array(sha256Schema).max(MAX_CHECK_HASHES),
});
export type CheckRequest = z.infer<typeof checkRequestSchema>;
/**
 * present: held and, as far as the vault knows, intact. damaged / missing: held once, but the
 * blob failed a re-hash or is gone: a client holding that content uploads it again (older
 * vaults leave both out).
 */
export const checkResponseSchema = z.object({
  present: z.array(sha256Schema),
  damaged: z.array(sha256Schema).optional(),
  missing: z.array(sha256Schema).optional(),
  /**
   * Held, but moved to the vault's trash: not present, so no client counts its copy safe
   * (See [Note: What the trash answers] in server/trash.ts). Older vaults leave it out.
   */
  trashed: z.array(sha256Schema).optional(),
});
export type CheckResponse = z.infer<typeof checkResponseSchema>;

// ---------------------------------------------------------------------------------------
// Usage: GET /api/v1/usage

const countAndBytes = z.object({ assets: z.number(), bytes: z.number() });
export const usageSchema = z.object({
  assets: z.number(),
  bytes: z.number(),
  dedupSavedBytes: z.number(),
  /**
   * bytes the vault's disk holds for its contents; `bytes` (and the quota) count the original
   * bytes, which is what a person understands (vaults since issue 15)
   */
  storedBytes: z.number().optional(),
  /** original minus stored bytes of the contents stored compressed (vaults since issue 15) */
  compressionSavedBytes: z.number().optional(),
  byType: z.object({ image: countAndBytes, video: countAndBytes, other: countAndBytes }),
  byDevice: z.array(
    z.object({
      deviceId: z.string(),
      deviceName: z.string(),
      files: z.number(),
      bytes: z.number(),
    }),
  ),
  /** null = unlimited */
  quotaBytes: z.number().nullable(),
  /** declared sizes of uploads in progress, reserved against the quota (vaults since issue 9) */
  reservedBytes: z.number().optional(),
});
export type Usage = z.infer<typeof usageSchema>;

// ---------------------------------------------------------------------------------------
// tus uploads at /files/: Upload-Metadata (values already base64-decoded) and the
// "hash while sending" headers.

export const TUS_PATH = '/files';

/**
 * Upload-Metadata keys. sha256 is required unless the creation request carries
 * `Keepsake-Deferred-Hash: 1`; mtime is unix ms as decimal digits.
 */
export const tusUploadMetadataSchema = z.object({
  filename: fileNameSchema,
  sha256: sha256Schema.optional(),
  mime: mimeSchema.optional(),
  mtime: z
    .string()
    .regex(/^\d{1,15}$/, 'must be milliseconds since the epoch')
    .optional(),
  relpath: relPathSchema.optional(),
});
export type TusUploadMetadata = z.infer<typeof tusUploadMetadataSchema>;

/** On the creation request: the sha256 comes with the final PATCH instead of Upload-Metadata. */
export const DEFERRED_HASH_HEADER = 'Keepsake-Deferred-Hash';
/** On the final PATCH of a deferred-hash upload: the file's SHA-256, 64 lowercase hex. */
export const FINAL_SHA256_HEADER = 'Keepsake-Sha256';
/**
 * On the vault's answer to a deferred-hash creation: '1' when it holds content of exactly
 * Upload-Length bytes, so the file may be a copy (the client hashes it and asks before
 * sending). See [Note: Large files, read once] in main/engine/pipeline/hash-pump.ts.
 */
export const SIZE_HELD_HEADER = 'Keepsake-Size-Held';
/** The status the vault answers when stored bytes do not hash to the declared sha256. */
export const CHECKSUM_MISMATCH_STATUS = 460;

// ---------------------------------------------------------------------------------------
// Small files in batches: POST /api/v1/batch

export const BATCH_CONTENT_TYPE = 'application/vnd.keepsake.batch';
/** Request header: how many frames the body holds (1..MAX_BATCH_FILES). */
export const BATCH_COUNT_HEADER = 'Keepsake-Batch-Count';
export const MAX_BATCH_FILES = 1000;
/** The sum of the frames' sizes the vault accepts in one batch (413 batch_too_large beyond). */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** A frame header line, without its "\n". */
export const MAX_FRAME_HEADER_BYTES = 64 * 1024;
/** What a client should stay under (files, bytes) so a batch is answered promptly. */
export const RECOMMENDED_BATCH_FILES = 500;
export const RECOMMENDED_BATCH_BYTES = 16 * 1024 * 1024;

/**
 * One frame's header line: UTF-8 JSON, no newline inside, terminated by "\n", followed by
 * exactly `size` raw bytes. The same fields and rules as tus Upload-Metadata.
 */
export const batchFrameHeaderSchema = z.object({
  sha256: sha256Schema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  filename: fileNameSchema,
  mime: mimeSchema.optional(),
  relpath: relPathSchema.optional(),
  /** the file's mtime on the client, unix ms */
  mtimeMs: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
});
export type BatchFrameHeader = z.infer<typeof batchFrameHeaderSchema>;

/** Codes of a refused file; clients treat an unknown code as refused with its message. */
export const BATCH_REFUSAL_CODES = [
  'checksum_mismatch', // the bytes do not hash to the declared sha256 (retryable)
  'too_large', // larger than the vault's maximum file size
  'quota_exceeded', // storing it would exceed the vault's quota
  'invalid_metadata', // the frame header is not valid (filename, relpath, mime, ...)
] as const;
export type BatchRefusalCode = (typeof BATCH_REFUSAL_CODES)[number];

export const batchItemStatusSchema = z.enum(['stored', 'duplicate', 'refused']);
export type BatchItemStatus = z.infer<typeof batchItemStatusSchema>;

/**
 * One file's outcome. `stored` and `duplicate` both mean: the vault durably holds verified
 * bytes with that sha256 (duplicate = it already had them). `refused`: not stored.
 */
export const batchItemResultSchema = z.object({
  sha256: z.string(),
  status: batchItemStatusSchema,
  code: z.string().optional(),
  message: z.string().optional(),
  retryable: z.boolean().optional(),
});
export type BatchItemResult = z.infer<typeof batchItemResultSchema>;

/** Response 200: one result per frame, in frame order. */
export const batchResponseSchema = z.object({ results: z.array(batchItemResultSchema) });
export type BatchResponse = z.infer<typeof batchResponseSchema>;

// ---------------------------------------------------------------------------------------
// Metadata in batches: POST /api/v1/metadata (the single PUT .../assets/:sha256/metadata stays)

export const MAX_METADATA_BATCH_ITEMS = 500;
/** The whole request body, bytes. */
export const MAX_METADATA_BATCH_BYTES = 4 * 1024 * 1024;

export const metadataBatchItemSchema = z.object({
  sha256: sha256Schema,
  metadata: mediaMetadataSchema,
});
export const metadataBatchRequestSchema = z.object({
  items: z.array(metadataBatchItemSchema).min(1).max(MAX_METADATA_BATCH_ITEMS),
});
export type MetadataBatchRequest = z.infer<typeof metadataBatchRequestSchema>;

/**
 * The envelope the vault parses first: each item's metadata is then checked on its own, so
 * one invalid item is refused alone.
 */
export const metadataBatchEnvelopeSchema = z.object({
  items: z
    .array(z.object({ sha256: sha256Schema, metadata: z.unknown() }))
    .min(1)
    .max(MAX_METADATA_BATCH_ITEMS),
});

export const metadataItemResultSchema = z.object({
  sha256: z.string(),
  status: z.enum(['stored', 'refused', 'unknown_asset']),
  /** the first invalid field of a refused item, as a dotted path (e.g. "width", "gps.lat") */
  field: z.string().optional(),
  message: z.string().optional(),
});
export type MetadataItemResult = z.infer<typeof metadataItemResultSchema>;
export const metadataBatchResponseSchema = z.object({
  results: z.array(metadataItemResultSchema),
});
export type MetadataBatchResponse = z.infer<typeof metadataBatchResponseSchema>;

/** The first problem of a failed parse as a field path and words a person can read. */
export function firstIssue(error: z.ZodError): { field: string; message: string } {
  const issue = error.issues[0];
  const field = issue ? issue.path.map(String).join('.') : '';
  return {
    field,
    message: issue ? `${field || '(body)'}: ${issue.message}` : 'invalid',
  };
}

// ---------------------------------------------------------------------------------------
// Where clients keep each content, and proof that the vault still holds it (issue 10):
// POST /api/v1/locations, POST /api/v1/locations/gone, GET /api/v1/locations,
// POST /api/v1/verify. A path inside a folder is raw bytes ('/'-separated; a name need not
// be UTF-8): `pathB64` carries them exactly, `path` is for display (and, alone, means its
// UTF-8 bytes). The vault also refuses a path with an empty, "." or ".." segment or NUL.

export const MAX_LOCATIONS_PER_REQUEST = 1000;
export const MAX_LOCATION_PATH_BYTES = 4096;

/** Until devices have identities of their own (issue 13), a client picks its device id. */
export const deviceIdSchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,128}$/, 'visible ASCII, 1-128 chars');
/** The watched folder's label: one name, no "/". */
export const folderLabelSchema = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => noNul(s) && !s.includes('/') && s !== '.' && s !== '..', {
    message: 'a folder label is one name: no "/", NUL, "." or ".."',
  });
/** Standard base64 (with padding). */
export const base64Schema = z
  .string()
  .max(Math.ceil(MAX_LOCATION_PATH_BYTES / 3) * 4)
  .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'standard base64');

const placeFields = {
  folder: folderLabelSchema,
  path: z.string().max(MAX_LOCATION_PATH_BYTES).optional(),
  pathB64: base64Schema.optional(),
};

export const registerLocationsRequestSchema = z.object({
  deviceId: deviceIdSchema,
  deviceName: z.string().min(1).max(255).refine(noNul, 'must not contain NUL'),
  locations: z
    .array(
      z.object({
        sha256: sha256Schema,
        ...placeFields,
        /** bytes; must equal the content's size */
        size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
        /** the file's mtime on the device, unix ms */
        mtimeMs: z.number().int().nullable().optional(),
      }),
    )
    .max(MAX_LOCATIONS_PER_REQUEST),
});
export type RegisterLocationsRequest = z.infer<typeof registerLocationsRequestSchema>;

/** Per item, in request order: recorded (how), or refused for that item only. */
export const registerLocationResultSchema = z.union([
  z.object({ ok: z.literal(true), change: z.enum(['added', 'seen', 'replaced']) }),
  z.object({
    ok: z.literal(false),
    /** not_held: upload the content first; size_mismatch: the vault's content differs in size */
    error: z.enum(['not_held', 'size_mismatch']),
    message: z.string(),
  }),
]);
export const registerLocationsResponseSchema = z.object({
  results: z.array(registerLocationResultSchema),
});
export type RegisterLocationsResponse = z.infer<typeof registerLocationsResponseSchema>;

export const goneLocationsRequestSchema = z.object({
  deviceId: deviceIdSchema,
  locations: z
    .array(z.object({ ...placeFields, sha256: sha256Schema.optional() }))
    .max(MAX_LOCATIONS_PER_REQUEST),
});
export type GoneLocationsRequest = z.infer<typeof goneLocationsRequestSchema>;
export const goneLocationsResponseSchema = z.object({
  /** per item: whether a place still held (and, with sha256, held that content) */
  results: z.array(z.object({ marked: z.boolean() })),
});
export type GoneLocationsResponse = z.infer<typeof goneLocationsResponseSchema>;

export const locationJsonSchema = z.object({
  sha256: sha256Schema,
  deviceId: z.string(),
  deviceName: z.string(),
  folder: z.string(),
  /** for display: the bytes as UTF-8, invalid sequences replaced */
  path: z.string(),
  /** the exact bytes */
  pathB64: z.string(),
  size: z.number(),
  mtimeMs: z.number().nullable(),
  /** unix ms, vault clock */
  firstSeen: z.number(),
  lastSeen: z.number(),
  /** unix ms the device reported it gone; null while it is there */
  goneAt: z.number().nullable(),
});
export type LocationJson = z.infer<typeof locationJsonSchema>;
/**
 * GET /api/v1/locations?sha256=&device=&folder=&prefix=|prefixB64=&at=&includeGone=1&after=&limit=
 * Without `at`: the places held now; with `at` (unix ms): those held at that moment.
 * `sha256`: every place of one content.
 */
export const locationPageSchema = z.object({
  locations: z.array(locationJsonSchema),
  /** the cursor for ?after= of the next page; null at the end */
  next: z.string().nullable(),
});
export type LocationPage = z.infer<typeof locationPageSchema>;

export const MAX_VERIFY_HASHES = 1000;
export const verifyRequestSchema = z.object({
  sha256: z.array(sha256Schema).max(MAX_VERIFY_HASHES),
});
export type VerifyRequest = z.infer<typeof verifyRequestSchema>;
/** ok: the stored bytes hash to the sha256 now; missing also for content never held. */
export const blobStateSchema = z.enum(['ok', 'damaged', 'missing']);
export type BlobState = z.infer<typeof blobStateSchema>;
export const verifyResponseSchema = z.object({
  /** in request order, each hash once */
  results: z.array(z.object({ sha256: sha256Schema, state: blobStateSchema })),
});
export type VerifyResponse = z.infer<typeof verifyResponseSchema>;

/**
 * GET /api/v1/assets/:sha256/health: what stands behind "safe" for one content (the receipt
 * a client shows). state is the last check's finding ('ok' when never re-read since the
 * upload that verified it); times are unix ms.
 */
export const assetHealthSchema = z.object({
  sha256: sha256Schema,
  state: blobStateSchema,
  /** when the vault first stored this content, after verifying its SHA-256 */
  verifiedAt: z.number(),
  /** the last re-read (a verified download, verify or scrub); null = none since upload */
  checkedAt: z.number().nullable(),
  /** when the current problem was first found; null while ok */
  problemSince: z.number().nullable(),
});
export type AssetHealthJson = z.infer<typeof assetHealthSchema>;

// ---------------------------------------------------------------------------------------
// Albums (issue 12): GET /api/v1/albums, POST /api/v1/albums, GET /api/v1/albums/:id.
// An album is a named, ordered list of contents (by sha256) that an import rebuilt. POST is
// idempotent by (source, key): the same album posted again (a re-run import) is the album
// already there, with members it lacked appended, never a second album.

export const albumSourceSchema = z.enum(['takeout', 'icloud', 'folder']);
export type AlbumSource = z.infer<typeof albumSourceSchema>;
export const MAX_ALBUM_MEMBERS = 100_000;
/** The request body, bytes. */
export const MAX_ALBUM_REQUEST_BYTES = 8 * 1024 * 1024;

export const createAlbumRequestSchema = z.object({
  name: text(1024).min(1),
  description: text(16_384).optional(),
  source: albumSourceSchema,
  /**
   * The client's identity of the album within its source, e.g. the album folder's path in a
   * Takeout export: posting the same (source, key) again answers the album already there.
   */
  key: text(4096).min(1),
  /** In album order; each content once (a repeat keeps its first place). */
  members: z.array(sha256Schema).max(MAX_ALBUM_MEMBERS),
});
export type CreateAlbumRequest = z.infer<typeof createAlbumRequestSchema>;

export const albumSummarySchema = z.object({
  /** the vault's id for the album */
  id: z.string(),
  name: z.string(),
  description: z.string(),
  source: albumSourceSchema,
  key: z.string(),
  /** unix ms, vault clock */
  created: z.number(),
  memberCount: z.number(),
});
export type AlbumSummary = z.infer<typeof albumSummarySchema>;
export const albumJsonSchema = albumSummarySchema.extend({
  /** sha256 of each member, in album order */
  members: z.array(sha256Schema),
});
export type AlbumJson = z.infer<typeof albumJsonSchema>;
export const albumListSchema = z.object({ albums: z.array(albumSummarySchema) });
export type AlbumList = z.infer<typeof albumListSchema>;
/**
 * 201 when the album was made, 200 when (source, key) was already there. `added`: members
 * appended by this request; `notHeld`: members refused because the vault holds no such
 * content (upload it, then post again).
 */
export const createAlbumResponseSchema = z.object({
  album: albumJsonSchema,
  created: z.boolean(),
  added: z.number(),
  notHeld: z.array(sha256Schema),
});
export type CreateAlbumResponse = z.infer<typeof createAlbumResponseSchema>;

// ---------------------------------------------------------------------------------------
// Format conversion (issue 15 section 4): GET /api/v1/assets/:sha256/content?format=jpeg|mp4
// answers a compatible copy, made on request and streamed, never stored (the original stays
// the asset; See [Note: How each format becomes a JPEG or an MP4] in server/asset-convert.ts).
// jpeg: a full-resolution JPEG, pixels upright with Orientation 1 and the original's
// metadata; a JPEG asked as jpeg is the original's bytes (a verified read). mp4: H.264/AAC,
// a fragmented MP4 (no Content-Length). The header CONVERSION_HEADER says what was done.
// Errors: 400 invalid_format; 415 conversion_unsupported (a video as jpeg, a photo as mp4,
// a document); 422 conversion_failed (the file could not be decoded, a RAW with no
// full-resolution image); 501 converter_missing (the vault lacks heif-dec or ffmpeg; the
// message names the package); 404 as for plain content.
export const CONVERT_FORMATS = ['jpeg', 'mp4'] as const;
export type ConvertFormat = (typeof CONVERT_FORMATS)[number];
export const CONVERSION_HEADER = 'x-keepsake-conversion';
/**
 * original: the asset's own bytes; heif-dec: libheif's decoder; decoded: sharp/libvips;
 * embedded-jpeg: a RAW's full-size embedded JPEG; remuxed: H.264 copied into MP4;
 * transcoded: encoded to H.264.
 */
export type ConversionSource =
  'original' | 'heif-dec' | 'decoded' | 'embedded-jpeg' | 'remuxed' | 'transcoded';

// ---------------------------------------------------------------------------------------
// Previews (issue 11): GET /api/v1/assets/:sha256/thumbnail (longest side 256 px) and
// /preview (longest side 1440 px) answer image/jpeg, upright, with an ETag and
// `Cache-Control: private, max-age=31536000, immutable`. When there is no picture they
// answer 404 with the usual error body, and the code tells why:
//   preview_pending  not made yet (the vault makes it in the background after the upload;
//                    Retry-After says when to look again)
//   no_preview       none can be made; the message is the reason (a format this vault
//                    cannot decode, a damaged file, no video decoder)
//   not_found        the vault holds no such asset
// 404 rather than 202 for "not made yet": an <img> or a cache treats any 2xx as the picture.
export const PREVIEW_PENDING_CODE = 'preview_pending';
// GET/HEAD /api/v1/assets/:sha256/video answers the asset's video for a player (Range for
// seeking): a video's own content, or the MP4 embedded in an Android motion photo (a still
// whose MediaMetadata has `motionPhoto`), found where its XMP says and checked to begin with
// an MP4 `ftyp` box there. Anything else is a 404 no_video whose message says why (a photo,
// or a motion photo whose XMP points at no video).
export const NO_VIDEO_CODE = 'no_video';
export const NO_PREVIEW_CODE = 'no_preview';
export const previewVariantSchema = z.enum(['thumbnail', 'preview']);
export type PreviewVariant = z.infer<typeof previewVariantSchema>;

/** What became of an asset's previews (GET /api/v1/assets/:sha256/previews). */
export const previewStatusSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('pending') }),
  z.object({
    state: z.literal('made'),
    /** decoded: from the file; embedded: a RAW's own JPEG; poster: a video frame */
    source: z.enum(['decoded', 'embedded', 'poster']),
    /** unix ms */
    madeAt: z.number(),
  }),
  z.object({
    state: z.literal('none'),
    /** why no preview can be made, for a person to read */
    reason: z.string(),
    /** unix ms */
    madeAt: z.number(),
  }),
]);
export type PreviewStatus = z.infer<typeof previewStatusSchema>;

// ---------------------------------------------------------------------------------------
// The library (issue 11 section 3): GET /api/v1/library is the timeline of what the vault
// holds, newest first by capture time (the file's mtime, then the upload time, when the
// metadata has none), one page at a time by an opaque cursor:
//   ?type=photo|video|raw|live  &folder=<label>  &device=<id>  &problems=1  &after=  &limit=
// `total` (how many match the filters) comes with the first page only (no `after`).
// GET /api/v1/library/folders lists the folders (per device) the vault holds places in, for
// the filter. A content that is a non-primary member of a group (a Live Photo's video, a
// sidecar) is not a tile of its own once the vault records groups: its primary stands for it.

export const libraryTypeSchema = z.enum(['photo', 'video', 'raw', 'live']);
export type LibraryType = z.infer<typeof libraryTypeSchema>;

/** Why an asset needs a look: its stored bytes failed a re-read, or its metadata is thin. */
export const libraryProblemSchema = z.enum([
  'damaged', // the stored bytes no longer hash to the sha256
  'missing', // the stored blob is gone
  'no_metadata', // no client sent metadata for it
  'no_capture_time', // metadata without a capture time: it sorts by file time
]);
export type LibraryProblem = z.infer<typeof libraryProblemSchema>;

/** What a tile shows for a group: LIVE, RAW+JPEG, edited. */
export const libraryBadgeSchema = z.enum(['live', 'raw+jpeg', 'edited']);
export type LibraryBadge = z.infer<typeof libraryBadgeSchema>;

export const libraryItemSchema = z.object({
  sha256: sha256Schema,
  kind: assetKindSchema,
  mime: z.string().nullable(),
  filename: z.string(),
  /** bytes */
  size: z.number(),
  /** the sort key: capture time, else the file's mtime, else the upload time (unix ms) */
  takenAt: z.number(),
  /** ISO 8601 with the offset it was taken at; null when the metadata has none */
  captureTime: z.string().nullable(),
  width: z.number().nullable(),
  height: z.number().nullable(),
  durationSec: z.number().nullable(),
  /** the folders (per device) where it lives now */
  folders: z.array(z.object({ deviceId: z.string(), deviceName: z.string(), folder: z.string() })),
  problems: z.array(libraryProblemSchema),
  /** the group it belongs to (vaults that record groups) */
  group: z.object({ id: z.string(), role: z.string() }).optional(),
  badge: libraryBadgeSchema.optional(),
});
export type LibraryItem = z.infer<typeof libraryItemSchema>;

export const libraryPageSchema = z.object({
  items: z.array(libraryItemSchema),
  /** the cursor for ?after= of the next page; null at the end */
  next: z.string().nullable(),
  /** how many match the filters; on the first page only */
  total: z.number().optional(),
});
export type LibraryPage = z.infer<typeof libraryPageSchema>;

export const libraryFoldersSchema = z.object({
  folders: z.array(
    z.object({
      deviceId: z.string(),
      deviceName: z.string(),
      folder: z.string(),
      /** contents held there now */
      assets: z.number(),
    }),
  ),
});
export type LibraryFolders = z.infer<typeof libraryFoldersSchema>;

// Groups (issue 11 section 1): contents that are one asset to a person, such as a Live
// Photo's still and video, a RAW and its JPEG, an original and its edit, a photo and its
// XMP/AAE sidecars. The engine decides (main/engine/metadata/grouping.ts), the vault records: every
// member stays its own content, backed up byte-exact; a group is metadata about them.
//   POST /api/v1/groups          declare groups (a batch, each item answered on its own)
//   GET  /api/v1/groups/:id      one group with its members
//   GET  /api/v1/assets/:sha256  and the asset listing carry `group: {id, role} | null`
//
// [Note: A declaration replaces]
// A content belongs to at most one group. A group is known by its primary: declaring a
// group whose primary already leads one replaces that group's members (same id), so a
// re-sent declaration changes nothing and a corrected one (an edit found later, a sidecar
// gone) simply wins. A member declared in a new group leaves the group it was in, and a
// group left with fewer than two members ends. Declaring the primary alone ends its group
// (status 'dissolved'). Every member must be content the vault holds: a declaration naming
// any other is refused whole (status 'not_held'), so the client sends it again once its
// members are uploaded.
// Several devices may hold the same photos and declare groups of them. A group is its
// declarer's (the device whose token declared it; the admin token is one declarer): only its
// declarer re-declares it, moves its members or ends it. A declaration that would change a
// group another declarer made (take that group's primary, move one of its members into
// another group, end it) is refused whole with status 'conflict', naming that device and the
// contents it holds; nothing moves. So a member is in one group at most, and never silently
// stolen. A declaration of exactly the members the group already has is no conflict
// ('unchanged'), whoever sends it: two devices that agree both hear "stored". A group whose
// declarer was revoked, or that was declared before declarers were kept, is anybody's: the
// next declaration that touches it makes it the sender's. The refused device keeps its
// decision and declares it again on a later run (its own groups change nothing meanwhile).

export const MAX_GROUP_MEMBERS = 64;
export const MAX_GROUPS_PER_REQUEST = 500;
/** The request body of POST /api/v1/groups, bytes. */
export const MAX_GROUPS_REQUEST_BYTES = 4 * 1024 * 1024;

export const groupMemberSchema = z.object({ sha256: sha256Schema, role: groupRoleSchema });
export type GroupMember = z.infer<typeof groupMemberSchema>;

/** One group as declared: exactly one primary, each content once, in display order. */
export const groupDeclarationSchema = z.object({
  members: z
    .array(groupMemberSchema)
    .min(1)
    .max(MAX_GROUP_MEMBERS)
    .refine(
      (ms) => ms.filter((m) => m.role === 'primary').length === 1,
      'a group has exactly one member with role "primary"',
    )
    .refine(
      (ms) => new Set(ms.map((m) => m.sha256)).size === ms.length,
      'a content is a member of a group at most once',
    ),
});
export type GroupDeclaration = z.infer<typeof groupDeclarationSchema>;

export const declareGroupsRequestSchema = z.object({
  groups: z.array(groupDeclarationSchema).min(1).max(MAX_GROUPS_PER_REQUEST),
});
export type DeclareGroupsRequest = z.infer<typeof declareGroupsRequestSchema>;

/** What the vault parses first: each declaration is then checked on its own. */
export const declareGroupsEnvelopeSchema = z.object({
  groups: z.array(z.unknown()).min(1).max(MAX_GROUPS_PER_REQUEST),
});

/**
 * Per declaration, in request order. stored: the group now has exactly these members
 * (`change` says whether anything moved); dissolved: the primary was declared alone and its
 * group ended (or it had none); not_held: refused because the vault holds no content with
 * these sha256 (upload them, then declare again); conflict: refused because it would change
 * a group another device declared; refused: the declaration is invalid.
 */
export const groupResultSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('stored'),
    id: z.string(),
    change: z.enum(['created', 'replaced', 'unchanged']),
  }),
  z.object({ status: z.literal('dissolved') }),
  z.object({ status: z.literal('not_held'), notHeld: z.array(sha256Schema) }),
  /** refused: `members` are in a group another device declared (See [Note: A declaration replaces]) */
  z.object({
    status: z.literal('conflict'),
    /** that device's name */
    heldBy: z.string(),
    members: z.array(sha256Schema),
    message: z.string(),
  }),
  z.object({ status: z.literal('refused'), field: z.string(), message: z.string() }),
]);
export type GroupResult = z.infer<typeof groupResultSchema>;
export const declareGroupsResponseSchema = z.object({ results: z.array(groupResultSchema) });
export type DeclareGroupsResponse = z.infer<typeof declareGroupsResponseSchema>;

/** GET /api/v1/groups/:id: the members in declared order (the primary among them). */
export const groupJsonSchema = z.object({
  id: z.string(),
  members: z.array(groupMemberSchema),
  /** unix ms (vault clock) of the declaration that last changed it */
  declaredAt: z.number(),
});
export type GroupJson = z.infer<typeof groupJsonSchema>;
// Devices (issue 13): each device has its own token; the admin token administers them.
//   POST /api/v1/devices {name}                  (admin) -> DeviceCreated (token shown once)
//   GET  /api/v1/devices                         (admin) -> {devices: DeviceJson[]}
//   POST /api/v1/devices/:name/revoke            (admin) -> DeviceJson
//   POST /api/v1/devices/:name/rename {name}     (admin) -> DeviceJson
//   POST /api/v1/enrolments {ttlMs}              (admin) -> EnrolmentCreated (code shown once)
//   POST /api/v1/enrol {code, name}              (no token) -> DeviceCreated
//   POST /api/v1/heartbeat Heartbeat             (a device token) -> 204
// A revoked device's token is answered 401 with error DEVICE_REVOKED_CODE.

/** Where a client exchanges an enrolment code (relative to the vault URL; needs no token). */
export const ENROLL_PATH = 'api/v1/enrol';
export const DEVICE_REVOKED_CODE = 'device_revoked';
export const ENROLMENT_USED_CODE = 'enrolment_used';
export const ENROLMENT_EXPIRED_CODE = 'enrolment_expired';
export const ENROLMENT_UNKNOWN_CODE = 'enrolment_unknown';

/** What an administrator calls a device: 1-100 characters, no control characters, no '/'. */
export const deviceNameSchema = z
  .string()
  .min(1)
  .max(100)
  .refine((s) => !hasControlCharacter(s) && !s.includes('/') && s.trim() === s, {
    message: 'a device name is 1-100 characters without control characters, "/" or edge spaces',
  });

export const createDeviceRequestSchema = z.object({ name: deviceNameSchema });
export const renameDeviceRequestSchema = z.object({ name: deviceNameSchema });
export const createEnrolmentRequestSchema = z.object({
  /** how long the code may be used, ms (at most a year) */
  ttlMs: z
    .number()
    .int()
    .positive()
    .max(366 * 24 * 3600 * 1000),
});
export const enrolRequestSchema = z.object({
  code: z.string().min(1).max(100),
  name: deviceNameSchema,
});

export const deviceCreatedSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** the device's bearer token: shown this once, only its SHA-256 is kept */
  token: z.string(),
});
export type DeviceCreated = z.infer<typeof deviceCreatedSchema>;

export const enrolmentCreatedSchema = z.object({
  code: z.string(),
  /** unix ms */
  expiresAt: z.number(),
});
export type EnrolmentCreated = z.infer<typeof enrolmentCreatedSchema>;

/**
 * What a client reports after each reconcile and each completed backup pass (section 2 of
 * issue 13). Small: counts, not file lists; names nothing but the device's own version/OS.
 */
export const heartbeatSchema = z.object({
  /** the client's version, e.g. 0.9.0 */
  version: z.string().max(100),
  /** e.g. linux 6.8.0 x64 */
  os: z.string().max(200),
  /** files per state (discovered, hashing, queued, uploading, backed_up, ...) */
  counts: z.record(z.string().max(40), z.number().int().nonnegative()),
  bytesPending: z.number().nonnegative(),
  /** age in ms of the oldest file not yet safe; null when every file is safe */
  oldestUnsafeAgeMs: z.number().nonnegative().nullable(),
  /** the latest error a person should see, null when none */
  lastError: z.string().max(1000).nullable(),
  paused: z.boolean(),
  /** why paused (user, schedule, battery, sign_in_needed, vault_full, ...), null when running */
  pausedReason: z.string().max(200).nullable(),
  /** what the client just finished: a reconcile pass, or a backup pass that left nothing pending */
  pass: z.enum(['reconcile', 'backup']),
  /** unix ms (client clock) the pass ended */
  at: z.number(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** healthy; behind: its oldest unsafe file is older than the threshold; silent: no heartbeat
 *  for the silence threshold; failing: it reports an error or a blocking pause. */
export const deviceVerdictSchema = z.enum(['healthy', 'behind', 'silent', 'failing']);
export type DeviceVerdict = z.infer<typeof deviceVerdictSchema>;

export const deviceJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** unix ms */
  createdAt: z.number(),
  revokedAt: z.number().nullable(),
  lastSeenAt: z.number().nullable(),
  /** unix ms of the latest heartbeat after a completed backup pass */
  lastBackupAt: z.number().nullable(),
  lastHeartbeatAt: z.number().nullable(),
  version: z.string().nullable(),
  /** places it registered with its own token that are still there, and their bytes */
  filesSafe: z.number(),
  bytesSafe: z.number(),
  heartbeat: heartbeatSchema.nullable(),
  verdict: deviceVerdictSchema,
  /** why the verdict, for a person to read */
  verdictReason: z.string(),
});
export type DeviceJson = z.infer<typeof deviceJsonSchema>;

/**
 * GET /fleet/api/devices (the fleet page's session cookie, See server/fleet-page.ts): the
 * devices of GET /api/v1/devices and the vault's clock they were judged by, so the ages the
 * page shows agree with the verdicts.
 */
export const fleetSnapshotSchema = z.object({
  /** unix ms, the vault's clock */
  now: z.number(),
  devices: z.array(deviceJsonSchema),
});
export type FleetSnapshot = z.infer<typeof fleetSnapshotSchema>;
// ---------------------------------------------------------------------------------------
// Similar photos: GET /api/v1/similar?after=&limit= (issue 15 section 1). Groups of photos
// that look alike: bursts (one camera, seconds apart) and near-copies (resized, re-encoded,
// lightly edited). See [Note: Similar-photo thresholds] in server/similar-policy.ts.

export const similarKindSchema = z.enum(['burst', 'near-copy']);
export type SimilarKind = z.infer<typeof similarKindSchema>;

export const similarMemberSchema = z.object({
  sha256: sha256Schema,
  /** px, upright; null when the vault could not read it */
  width: z.number().nullable(),
  height: z.number().nullable(),
  /** bytes moving it to the vault's trash takes out of the library (its whole asset's) */
  bytes: z.number(),
  /** capture time from its metadata, ISO 8601; null when unknown */
  capturedAt: z.string().nullable(),
  /** its file name as first uploaded (for a person to tell the members apart) */
  filename: z.string().optional(),
});
export type SimilarMember = z.infer<typeof similarMemberSchema>;

export const similarGroupSchema = z.object({
  /** stable while the group's first photo stays in it */
  id: z.string(),
  kind: similarKindSchema,
  members: z.array(similarMemberSchema).min(2),
  suggestedKeep: sha256Schema,
  /** bytes of every member but the suggested one */
  reclaimableBytes: z.number(),
});
export type SimilarGroup = z.infer<typeof similarGroupSchema>;

export const similarPageSchema = z.object({
  groups: z.array(similarGroupSchema),
  /** the cursor for ?after= of the next page; null at the end */
  next: z.string().nullable(),
  /** over every group (not just this page): how many, and the bytes all suggestions reclaim */
  totalGroups: z.number(),
  totalReclaimableBytes: z.number(),
});
export type SimilarPage = z.infer<typeof similarPageSchema>;

// ---------------------------------------------------------------------------------------
// The vault's trash (issue 15 section 1): GET/POST /api/v1/trash, POST /api/v1/trash/restore,
// POST /api/v1/trash/empty (admin token). See [Note: What the trash answers] in server/trash.ts.

export const trashRequestSchema = z.object({
  sha256: z.array(sha256Schema).min(1).max(MAX_CHECK_HASHES),
});
export type TrashRequest = z.infer<typeof trashRequestSchema>;

/** POST /api/v1/trash: what is in the trash now (a group's primary brings its members). */
export const trashMoveResponseSchema = z.object({
  moved: z.array(sha256Schema),
  /** contents the vault does not hold */
  unknown: z.array(sha256Schema),
});
export type TrashMoveResponse = z.infer<typeof trashMoveResponseSchema>;

export const trashRestoreResponseSchema = z.object({ restored: z.array(sha256Schema) });
export type TrashRestoreResponse = z.infer<typeof trashRestoreResponseSchema>;

export const trashItemSchema = z.object({
  sha256: sha256Schema,
  filename: z.string(),
  /** bytes */
  size: z.number(),
  /** unix ms (vault clock) it was moved to the trash */
  trashedAt: z.number(),
  /** unix ms from which an empty may remove it, if no device holds it then */
  removableAfter: z.number(),
  /** places devices hold it at now: while any, it is never removed */
  livePlaces: z.number(),
});
export type TrashItem = z.infer<typeof trashItemSchema>;

export const trashListingSchema = z.object({
  items: z.array(trashItemSchema),
  retentionDays: z.number(),
  /** the sum of the items' sizes */
  bytes: z.number(),
});
export type TrashListing = z.infer<typeof trashListingSchema>;

/** Why an empty kept a content: its retention is not over, a device holds it, or it changed. */
export const trashKeptReasonSchema = z.enum(['retention', 'held_by_device', 'changed']);

export const trashEmptyResultSchema = z.object({
  removed: z.array(z.object({ sha256: sha256Schema, filename: z.string(), size: z.number() })),
  kept: z.array(
    z.object({
      sha256: sha256Schema,
      filename: z.string(),
      reason: trashKeptReasonSchema,
      /** for a person to read */
      message: z.string(),
    }),
  ),
  removedBytes: z.number(),
});
export type TrashEmptyResult = z.infer<typeof trashEmptyResultSchema>;
