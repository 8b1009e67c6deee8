// What a photo's XMP sidecar adds to its metadata (issue 11 section 1): pure, over the tags
// exiftool read from the sidecar (keys "Group:Tag", numbers as with -n). No I/O.
// Invariant: the file's own record of itself is never replaced by its sidecar: the sidecar
// fills what the file lacks, and adds what only the sidecar can hold (a person's rating,
// colour label and keywords).
//
// [Note: XMP sidecar precedence]
// Next to [Note: Capture time and time zones] in capture-time.ts, which decides the file's
// own capture time; this decides what its sidecar (name.ext.xmp, else name.xmp beside it) may
// change. Sidecars are written by editing tools (Lightroom, darktable, digiKam, Capture One),
// often for a RAW that cannot hold XMP itself.
// | field        | file's own                        | sidecar                          | result                      |
// |--------------|-----------------------------------|----------------------------------|-----------------------------|
// | capture time | EXIF/QuickTime/GPS (stated)       | any                              | the file's own              |
// |              | only a name or mtime (guessed)    | XMP DateTimeOriginal, else       | the sidecar's, with its     |
// |              |                                   |   CreateDate (with its offset)   |   offset (else as policy)   |
// | GPS          | a position                        | any                              | the file's own              |
// |              | none                              | XMP GPSLatitude/GPSLongitude     | the sidecar's               |
// | rating       | (not read)                        | XMP Rating 0-5, -1 = rejected    | the sidecar's               |
// | label        | (not read)                        | XMP Label (a colour's name)      | the sidecar's               |
// | keywords     | from an import (Takeout, iCloud)  | dc:subject, IPTC Keywords        | both, each once, file first |
// A date a person corrected in an editing tool (Lightroom's "Edit Capture Time" writes it to
// the sidecar of a RAW) does not replace a date the camera stated: two disagreeing dates are
// for the metadata-health work ahead to show, not for a backup to choose silently.
import { gpsPosition, resolveCaptureTime } from './capture-time.js';
import type { MediaMetadata } from './types.js';

/** Capture-time sources that the file itself states (not guessed from its name or mtime). */
const STATED = new Set(['exif_original', 'exif_create', 'quicktime', 'gps', 'takeout', 'icloud']);

function strings(value: unknown): string[] {
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  return list
    .map((v) => (typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : ''))
    .filter((v) => v !== '' && !v.includes('\0') && v.length <= 256);
}

/** The metadata with what the sidecar adds. See [Note: XMP sidecar precedence]. */
export function mergeXmpSidecar(
  metadata: MediaMetadata,
  sidecar: Record<string, unknown>,
  context: { mtimeMs: number; timeZone: string },
): MediaMetadata {
  const out: MediaMetadata = { ...metadata };

  if (metadata.captureTimeSource === null || !STATED.has(metadata.captureTimeSource)) {
    const time = resolveCaptureTime({
      tags: {
        ...(sidecar['XMP:DateTimeOriginal'] !== undefined
          ? { 'XMP:DateTimeOriginal': sidecar['XMP:DateTimeOriginal'] }
          : {}),
        ...(sidecar['XMP:CreateDate'] !== undefined
          ? { 'XMP:CreateDate': sidecar['XMP:CreateDate'] }
          : {}),
      },
      fileName: '',
      mtimeMs: context.mtimeMs,
      timeZone: context.timeZone,
    });
    if (time.captureTimeSource === 'exif_original' || time.captureTimeSource === 'exif_create') {
      out.captureTime = time.captureTime;
      out.captureTimeSource = time.captureTimeSource;
      out.timeZone = time.timeZone;
    }
  }

  if (metadata.gps === null) {
    const position = gpsPosition({
      'XMP:GPSLatitude': sidecar['XMP:GPSLatitude'],
      'XMP:GPSLongitude': sidecar['XMP:GPSLongitude'],
      'XMP:GPSAltitude': sidecar['XMP:GPSAltitude'],
    });
    if (position) out.gps = position;
  }

  const rating = Number(sidecar['XMP:Rating']);
  if (sidecar['XMP:Rating'] !== undefined && Number.isInteger(rating)) {
    if (rating >= -1 && rating <= 5) out.rating = rating;
  }
  const [label] = strings(sidecar['XMP:Label']);
  if (label !== undefined) out.label = label;

  const keywords = [
    ...(metadata.keywords ?? []),
    ...strings(sidecar['XMP:Subject']),
    ...strings(sidecar['IPTC:Keywords']),
  ];
  const unique = [...new Set(keywords)].slice(0, 1000);
  if (unique.length > 0) out.keywords = unique;
  return out;
}
