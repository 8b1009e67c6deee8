// What a Google Takeout JSON sidecar says about its photo, as the vault's MediaMetadata with
// source 'takeout'. Pure: the caller reads the bytes and hands in the position-to-zone lookup.
// Invariant: nothing is invented. A capture time comes only from photoTakenTime (an instant,
// UTC); its zone only from the position where there is one, else it is recorded as unknown
// (timeZone null), never the machine's. The media bytes are never read or rewritten here.
//
// [Note: Takeout sidecar fields]
// | sidecar field                      | MediaMetadata                                     |
// |------------------------------------|---------------------------------------------------|
// | photoTakenTime.timestamp (s, UTC)  | captureTime (in the zone at the position, else    |
// |                                    |   UTC with timeZone null), source 'takeout'       |
// | "0" / missing                      | captureTime null (creationTime is the upload, not  |
// |                                    |   the capture: not used)                          |
// | geoData (as shown in Google        | gps; geoDataExif when geoData is 0,0; 0,0 in both  |
// |   Photos, edits included)          |   = no position                                   |
// | description                        | description (when not empty)                      |
// | favorited, archived                | favorite, archived (when present)                 |
// | trashed                            | not metadata: the import skips the item           |
// | people[].name                      | keywords (trimmed, each once)                     |
import { z } from 'zod';
import type { MediaMetadata } from '../../../../common/vault-protocol.js';
import { mergeImportedMetadata } from '../common/merge-metadata.js';
import { formatInOffset, zoneOffsetAt } from '../../metadata/capture-time.js';

const timestampSchema = z.object({ timestamp: z.string().regex(/^-?\d{1,12}$/) });
const geoSchema = z.object({
  latitude: z.number(),
  longitude: z.number(),
  altitude: z.number().optional(),
});

/** The parts of a Takeout item JSON Keepsake uses; other fields are ignored. */
export const takeoutSidecarSchema = z.object({
  title: z.string().optional(),
  description: z.string().optional(),
  photoTakenTime: timestampSchema.optional(),
  geoData: geoSchema.optional(),
  geoDataExif: geoSchema.optional(),
  favorited: z.boolean().optional(),
  archived: z.boolean().optional(),
  trashed: z.boolean().optional(),
  people: z.array(z.object({ name: z.string() })).optional(),
});
export type TakeoutSidecar = z.infer<typeof takeoutSidecarSchema>;

/** An album folder's metadata.json: its title (emoji and all) and description. */
export const takeoutAlbumSchema = z.object({
  title: z.string(),
  description: z.string().optional(),
  date: timestampSchema.optional(),
});
export type TakeoutAlbum = z.infer<typeof takeoutAlbumSchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

function parseWith<T>(schema: z.ZodType<T>, text: string): Parsed<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not valid JSON' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      problem: `unexpected content at ${issue?.path.join('.') || '(top)'}: ${issue?.message ?? ''}`,
    };
  }
  return { ok: true, value: parsed.data };
}

export function parseTakeoutSidecar(text: string): Parsed<TakeoutSidecar> {
  return parseWith(takeoutSidecarSchema, text);
}

export function parseTakeoutAlbum(text: string): Parsed<TakeoutAlbum> {
  return parseWith(takeoutAlbumSchema, text);
}

function position(
  geo: TakeoutSidecar['geoData'],
): { lat: number; lon: number; alt?: number } | null {
  if (!geo) return null;
  const { latitude: lat, longitude: lon, altitude: alt } = geo;
  if (lat === 0 && lon === 0) return null; // Google writes 0,0 for "no position"
  if (!(Math.abs(lat) <= 90 && Math.abs(lon) <= 180)) return null;
  return alt !== undefined && Number.isFinite(alt) && Math.abs(alt) < 20_000
    ? { lat, lon, alt }
    : { lat, lon };
}

/** See [Note: Takeout sidecar fields]. `zoneAt` maps a position to an IANA zone. */
export function metadataFromSidecar(
  sidecar: TakeoutSidecar,
  opts: { mime: string | null; zoneAt: (lat: number, lon: number) => string | undefined },
): MediaMetadata {
  const gps = position(sidecar.geoData) ?? position(sidecar.geoDataExif);
  const seconds = sidecar.photoTakenTime ? Number(sidecar.photoTakenTime.timestamp) : 0;
  let captureTime: string | null = null;
  let timeZone: MediaMetadata['timeZone'] = null;
  if (seconds !== 0) {
    const utcMs = seconds * 1000;
    let zone: string | undefined;
    try {
      zone = gps ? opts.zoneAt(gps.lat, gps.lon) : undefined;
    } catch {
      zone = undefined;
    }
    if (zone !== undefined) {
      const offsetMinutes = zoneOffsetAt(zone, utcMs);
      captureTime = formatInOffset(utcMs, offsetMinutes);
      timeZone = { offsetMinutes, source: 'gps' };
    } else captureTime = new Date(utcMs).toISOString();
  }
  const keywords = [
    ...new Set((sidecar.people ?? []).map((p) => p.name.trim()).filter((n) => n !== '')),
  ];
  const description = sidecar.description?.trim() ?? '';
  return {
    captureTime,
    captureTimeSource: captureTime === null ? null : 'takeout',
    timeZone,
    gps,
    camera: null,
    width: null,
    height: null,
    durationSec: null,
    orientation: null,
    mime: opts.mime,
    source: 'takeout',
    ...(description !== '' ? { description } : {}),
    ...(sidecar.favorited !== undefined ? { favorite: sidecar.favorited } : {}),
    ...(sidecar.archived !== undefined ? { archived: sidecar.archived } : {}),
    ...(keywords.length > 0 ? { keywords } : {}),
  };
}

/**
 * The sidecar's metadata laid over what the vault already holds for the content (e.g. read
 * from the file by a backup). See mergeImportedMetadata: Takeout's times are to the second.
 */
export function mergeMetadata(existing: unknown, fromSidecar: MediaMetadata): MediaMetadata {
  return mergeImportedMetadata(existing, fromSidecar);
}
