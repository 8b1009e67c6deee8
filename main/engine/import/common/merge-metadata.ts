// How an export's metadata (a Takeout sidecar, a row of iCloud's Photo Details.csv) is laid
// over what the vault already holds for the same content, e.g. what a backup read from the
// file itself. Pure.
// Invariant: the file's own facts (camera, size, duration, orientation, its GPS) are never
// replaced; a capture time of the same instant that already knows its zone keeps it.
import { type MediaMetadata, mediaMetadataSchema } from '../../../../common/vault-protocol.js';

/**
 * The export's fields over `existing`. The capture time is the export's, except that an
 * existing time of the same instant (within `sameWithinMs`: the export's precision, e.g. a
 * minute for iCloud's dates) keeps its own when the export knows no local zone (none, or only
 * that the instant is UTC). Caption, favourite, archived, hidden and keywords are the export's.
 */
export function mergeImportedMetadata(
  existing: unknown,
  imported: MediaMetadata,
  sameWithinMs = 0,
): MediaMetadata {
  const parsed = mediaMetadataSchema.safeParse(existing);
  if (!parsed.success) return imported;
  const old = parsed.data;
  const oldMs = old.captureTime === null ? NaN : Date.parse(old.captureTime);
  const newMs = imported.captureTime === null ? NaN : Date.parse(imported.captureTime);
  const sameInstant = oldMs >= newMs && oldMs - newMs <= sameWithinMs;
  const zoneUnknown = imported.timeZone === null || imported.timeZone.source === 'utc';
  const keepOldTime = imported.captureTime === null || (sameInstant && zoneUnknown);
  return {
    ...old,
    ...(keepOldTime
      ? {}
      : {
          captureTime: imported.captureTime,
          captureTimeSource: imported.captureTimeSource,
          timeZone: imported.timeZone,
        }),
    gps: old.gps ?? imported.gps,
    mime: old.mime ?? imported.mime,
    ...(imported.source !== undefined ? { source: imported.source } : {}),
    ...(imported.description !== undefined ? { description: imported.description } : {}),
    ...(imported.favorite !== undefined ? { favorite: imported.favorite } : {}),
    ...(imported.archived !== undefined ? { archived: imported.archived } : {}),
    ...(imported.hidden !== undefined ? { hidden: imported.hidden } : {}),
    ...(imported.keywords !== undefined ? { keywords: imported.keywords } : {}),
    ...(old.originalPath === undefined && imported.originalPath !== undefined
      ? { originalPath: imported.originalPath }
      : {}),
  };
}
