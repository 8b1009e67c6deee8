// When a photo or video was taken, and in which UTC offset: pure functions over the raw
// tags exiftool returns (keys "Group:Tag", values as with exiftool -n). No I/O, no clock:
// everything they need (the machine's zone, the file's mtime, a position-to-zone lookup)
// is passed in, so every rule below is tested with tables.
//
// [Note: Capture time and time zones]
// Photo tools most often go wrong on dates, so this is the whole policy in one place.
//
// 1. Capture time, first usable source wins (captureTimeSource records which):
//    a. 'exif_original': EXIF DateTimeOriginal (+ SubSecTimeOriginal), else XMP
//       DateTimeOriginal. A wall-clock time with no zone (unless XMP carries one).
//    b. 'exif_create': EXIF CreateDate (= DateTimeDigitized) (+ SubSecTimeDigitized), else
//       XMP CreateDate.
//    c. 'quicktime': first Apple's QuickTime CreationDate (Keys/ItemList), which carries
//       the local time WITH its offset ("2019:07:24 11:25:40+03:00", the zone source is then
//       'quicktime_tz'); else the QuickTime movie header CreateDate, which the QuickTime
//       spec defines as UTC. Many camcorders and some cameras wrongly write local time
//       there. We follow the spec (as exiftool-vendored's defaultVideosToUTC does): on those
//       cameras the instant is off by the camera's zone offset. There is no reliable way to
//       tell from the file alone; the raw tags are kept so a later "metadata health" pass
//       can correct per camera model. "0000:00:00 00:00:00" and the 1904 epoch mean unset.
//    d. 'gps': GPSDateStamp + GPSTimeStamp, UTC by the EXIF spec.
//    e. 'filename': a date and time in the file name: IMG_20190312_101112, VID_...,
//       PXL_20210101_101112345, Screenshot_20190312-101112, 20190312_101112,
//       "2019-03-12 10.11.12", "Screenshot 2019-03-12 at 10.11.12". Local wall-clock time.
//       A name with a date but no time is not used (midnight would be invented).
//    f. 'mtime': the file's modification time: always available, often the copy time.
//    Unparseable values (e.g. ":07:04 16:24:01", month 13, Feb 30) are skipped with a
//    MetadataProblem saying which tag was unreadable; the next source is tried.
//
// 2. UTC offset (timeZone.source):
//    - For a wall-clock time (a, b, e): OffsetTimeOriginal, then OffsetTime (then
//      OffsetTimeDigitized, recorded as 'offset_time'); an offset inside an XMP date
//      counts as 'offset_time_original' / 'offset_time' for DateTimeOriginal / CreateDate.
//      Then 'gps' (below). Then the machine's IANA zone at that wall-clock time (DST-aware),
//      recorded as 'assumed_local' because it is a guess: the photo may have been taken
//      while travelling.
//    - For an instant known in UTC (c from the movie header, d): the offset only says how
//      to show the local time. Offset tags, then 'gps' (position); else offset 0 with
//      source 'utc'. (The machine's zone is not assumed here: the instant is already right.)
//    - For mtime (f): the machine's zone at that instant, 'assumed_local'.
//    - 'gps' is the zone at the GPS position: the position is mapped to an IANA zone
//      (@photostructure/tz-lookup) and the offset taken at the capture instant with DST.
//      We chose the position over the usual trick (DateTimeOriginal minus the GPS UTC
//      time, rounded to 15 minutes) because the GPS time is often stale (the last fix,
//      minutes or hours old), is missing its date on some phones, and some early phones
//      wrote local time into GPSTimeStamp (the corpus' "Apple iPhone 4.jpg": taken in Rome
//      in January at 14:33:39, GPSTimeStamp 14:33:35, which would say +00:00; Rome was
//      +01:00). The clock difference is still used when there is no usable position but
//      a full GPS date and time, and only when it lands within 2 minutes of a multiple of
//      15 minutes and within -12:00..+14:00 (otherwise it is a stale fix, not a zone).
//      (0, 0) is treated as "no position" (Null Island: an unset GPS block).
//
// 3. captureTime is ISO 8601 with that offset and milliseconds when known, e.g.
//    "2019-03-12T10:11:12.345+01:00"; the instant it names is what sorting uses.
//
// 4. A photo's XMP sidecar fills in a capture time only guessed here (name, mtime), never
//    replaces a stated one: See [Note: XMP sidecar precedence] in sidecar-merge.ts.
import type { CaptureTimeSource, TimeZoneSource } from './types.js';

export interface WallClock {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

export interface ParsedDateTime {
  wall: WallClock;
  /** An offset carried by the value itself ("+03:00", "Z"), else null. */
  offsetMinutes: number | null;
}

export interface CaptureTimeResult {
  captureTime: string;
  captureTimeSource: CaptureTimeSource;
  timeZone: { offsetMinutes: number; source: TimeZoneSource };
  /** Plain-language notes on what could not be used. */
  problems: string[];
}

export interface CaptureTimeInput {
  /** exiftool tags, keys "Group:Tag" (exiftool -G), values as with -n. */
  tags: Record<string, unknown>;
  /** The file's base name (for dates in names). */
  fileName: string;
  /** unix ms, the fallback of last resort */
  mtimeMs: number;
  /** The machine's IANA zone, e.g. "Europe/Berlin". */
  timeZone: string;
  /** Position -> IANA zone; undefined when unknown. Injected so tests can use tables. */
  zoneAt?: (lat: number, lon: number) => string | undefined;
}

const MINUTE = 60_000;
const MAX_OFFSET = 14 * 60;
const MIN_OFFSET = -12 * 60;

function isValidWall(w: WallClock): boolean {
  if (w.year < 1800 || w.year > 2999) return false;
  if (w.month < 1 || w.month > 12 || w.day < 1) return false;
  if (w.hour > 23 || w.minute > 59 || w.second > 60 || w.millisecond > 999) return false;
  const daysInMonth = new Date(Date.UTC(w.year, w.month, 0)).getUTCDate();
  return w.day <= daysInMonth;
}

/** Milliseconds of a wall-clock time read as if it were UTC. */
export function wallAsUtcMs(w: WallClock): number {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, Math.min(w.second, 59), w.millisecond);
  return d.getTime();
}

/** "+01:00", "-0700", "+5:30", "Z" -> minutes east of UTC; null when not an offset. */
export function parseOffset(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (text === 'Z' || text === 'z') return 0;
  const m = /^([+-])(\d{1,2}):?(\d{2})$/.exec(text);
  if (!m) return null;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  const signed = m[1] === '-' ? -minutes : minutes;
  if (Number(m[3]) > 59 || signed < MIN_OFFSET || signed > MAX_OFFSET) return null;
  return signed;
}

/** SubSecTime digits -> milliseconds: "4" = 400, "45" = 450, "409" = 409, "4091" = 409. */
export function parseSubSeconds(value: unknown): number | null {
  const text =
    typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d{1,9}$/.test(text)) return null;
  return Number(text.padEnd(3, '0').slice(0, 3));
}

/**
 * Parses an EXIF/XMP/QuickTime date-time: "YYYY:MM:DD HH:MM:SS[.fff][Z|±HH:MM]" (also with
 * '-' and 'T'). Returns null for anything else, including unset values ("0000:00:00 ...")
 * and impossible dates. A date without a time is null (not a capture time).
 */
export function parseExifDateTime(value: unknown): ParsedDateTime | null {
  if (typeof value !== 'string') return null;
  const m =
    /^\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{1,2}:?\d{2})?\s*$/i.exec(
      value,
    );
  if (!m) return null;
  const wall: WallClock = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: m[6] === undefined ? 0 : Number(m[6]),
    millisecond: m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3)),
  };
  if (!isValidWall(wall)) return null;
  let offsetMinutes: number | null = null;
  if (m[8] !== undefined) {
    offsetMinutes = parseOffset(m[8].toUpperCase());
    if (offsetMinutes === null) return null;
  }
  return { wall, offsetMinutes };
}

/** The UTC offset (minutes east) of an IANA zone at an instant, DST included. */
export function zoneOffsetAt(timeZone: string, utcMs: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(utcMs));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  const wholeSeconds = Math.floor(utcMs / 1000) * 1000;
  return Math.round((asUtc - wholeSeconds) / MINUTE);
}

/**
 * The offset a zone had at a wall-clock time there (two-pass lookup). In a DST gap (a time
 * that did not exist) the offset in force before the change is used: the camera clock had
 * not been moved yet. In an overlap (a time that happened twice) either may come out.
 */
export function zoneOffsetForWallClock(timeZone: string, wall: WallClock): number {
  const local = wallAsUtcMs(wall);
  const first = zoneOffsetAt(timeZone, local);
  const second = zoneOffsetAt(timeZone, local - first * MINUTE);
  if (first === second) return first;
  // gap or overlap: prefer the offset before the transition
  const before = zoneOffsetAt(timeZone, local - Math.max(first, second) * MINUTE - 3 * 3600_000);
  return before === first || before === second ? before : second;
}

function pad(n: number, width = 2): string {
  return String(Math.abs(n)).padStart(width, '0');
}

export function formatOffset(offsetMinutes: number): string {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** ISO 8601 of an instant shown in the given offset, with milliseconds. */
export function formatInOffset(utcMs: number, offsetMinutes: number): string {
  const d = new Date(utcMs + offsetMinutes * MINUTE);
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
  return `${date}T${time}${formatOffset(offsetMinutes)}`;
}

/**
 * A date and time in a file name (local wall-clock time), or null. See the list in
 * [Note: Capture time and time zones].
 */
export function dateFromFileName(fileName: string): WallClock | null {
  const pattern =
    /(?:^|[^0-9])((?:19|20)\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?:[ T_-]|\sat\s)?([01]\d|2[0-3])[-_.:h]?([0-5]\d)[-_.:m]?([0-5]\d)(?:[-_.]?(\d{3}))?(?![0-9])/;
  const m = pattern.exec(fileName);
  if (!m) return null;
  const wall: WallClock = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: Number(m[6]),
    millisecond: m[7] === undefined ? 0 : Number(m[7]),
  };
  return isValidWall(wall) ? wall : null;
}

/** A GPS position from exiftool tags (signed decimal degrees), or null. */
export function gpsPosition(
  tags: Record<string, unknown>,
): { lat: number; lon: number; alt?: number } | null {
  const num = (key: string): number | undefined => {
    const v = tags[key];
    const n =
      typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    return Number.isFinite(n) ? n : undefined;
  };
  let lat = num('Composite:GPSLatitude') ?? num('XMP:GPSLatitude');
  let lon = num('Composite:GPSLongitude') ?? num('XMP:GPSLongitude');
  let alt = num('Composite:GPSAltitude');
  if (lat === undefined || lon === undefined) {
    // QuickTime "lat lon [alt]" (also Keys/UserData)
    const coords =
      tags['QuickTime:GPSCoordinates'] ??
      tags['Keys:GPSCoordinates'] ??
      tags['UserData:GPSCoordinates'];
    if (typeof coords === 'string') {
      const parts = coords.trim().split(/\s+/).map(Number);
      if (parts.length >= 2 && parts.every(Number.isFinite)) {
        lat = parts[0];
        lon = parts[1];
        alt = alt ?? parts[2];
      }
    }
  }
  if (lat === undefined || lon === undefined) return null;
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  if (lat === 0 && lon === 0) return null; // Null Island: an unset GPS block
  return alt === undefined || !Number.isFinite(alt) ? { lat, lon } : { lat, lon, alt };
}

/** GPSDateStamp + GPSTimeStamp as UTC ms, or null. */
export function gpsUtcMs(tags: Record<string, unknown>): number | null {
  const composite = parseExifDateTime(tags['Composite:GPSDateTime']);
  if (composite) return wallAsUtcMs(composite.wall) - (composite.offsetMinutes ?? 0) * MINUTE;
  const date = tags['EXIF:GPSDateStamp'] ?? tags['XMP:GPSDateStamp'];
  const time = tags['EXIF:GPSTimeStamp'] ?? tags['XMP:GPSTimeStamp'];
  if (typeof date !== 'string' || typeof time !== 'string') return null;
  const parsed = parseExifDateTime(`${date.trim()} ${time.trim()}`);
  return parsed ? wallAsUtcMs(parsed.wall) : null;
}

/**
 * The "clock difference" offset: local wall-clock time minus GPS UTC time, accepted only
 * when it is within 2 minutes of a multiple of 15 minutes and a real offset.
 */
export function offsetFromGpsClock(wall: WallClock, gpsUtc: number): number | null {
  const diffMinutes = (wallAsUtcMs(wall) - gpsUtc) / MINUTE;
  const rounded = Math.round(diffMinutes / 15) * 15;
  if (Math.abs(diffMinutes - rounded) > 2) return null;
  if (rounded < MIN_OFFSET || rounded > MAX_OFFSET) return null;
  return rounded;
}

type Candidate =
  | {
      kind: 'wall';
      source: CaptureTimeSource;
      wall: WallClock;
      embedded: { offset: number; source: TimeZoneSource } | null;
    }
  | {
      kind: 'instant';
      source: CaptureTimeSource;
      utcMs: number;
      embedded: { offset: number; source: TimeZoneSource } | null;
    };

/** The photo's own wall-clock dates, in the order the policy trusts them. */
const wallClockTags: readonly {
  key: string;
  /** how the problem message names the tag */
  label: string;
  subSecKey: string | null;
  source: CaptureTimeSource;
  /** what an offset embedded in the value counts as */
  offsetSource: TimeZoneSource;
}[] = [
  {
    key: 'EXIF:DateTimeOriginal',
    label: 'DateTimeOriginal',
    subSecKey: 'EXIF:SubSecTimeOriginal',
    source: 'exif_original',
    offsetSource: 'offset_time_original',
  },
  {
    key: 'XMP:DateTimeOriginal',
    label: 'XMP DateTimeOriginal',
    subSecKey: null,
    source: 'exif_original',
    offsetSource: 'offset_time_original',
  },
  {
    key: 'EXIF:CreateDate',
    label: 'CreateDate (DateTimeDigitized)',
    subSecKey: 'EXIF:SubSecTimeDigitized',
    source: 'exif_create',
    offsetSource: 'offset_time',
  },
  {
    key: 'XMP:CreateDate',
    label: 'XMP CreateDate',
    subSecKey: null,
    source: 'exif_create',
    offsetSource: 'offset_time',
  },
];

/** Applies the policy of [Note: Capture time and time zones]. */
export function resolveCaptureTime(input: CaptureTimeInput): CaptureTimeResult {
  const { tags } = input;
  const problems: string[] = [];
  const position = gpsPosition(tags);
  const gpsUtc = gpsUtcMs(tags);

  const readDate = (key: string, label: string): ParsedDateTime | null => {
    const raw = tags[key];
    if (raw === undefined || raw === null || raw === '') return null;
    const parsed = parseExifDateTime(raw);
    if (!parsed && !isUnsetDate(raw) && !isDateOnly(raw)) {
      problems.push(
        `The ${label} date in the file is unreadable (${JSON.stringify(raw).slice(0, 60)}); it was not used.`,
      );
    }
    return parsed;
  };

  const withSubSec = (parsed: ParsedDateTime, subSecKey: string): ParsedDateTime => {
    const ms = parseSubSeconds(tags[subSecKey]);
    if (ms === null || parsed.wall.millisecond !== 0) return parsed;
    return { ...parsed, wall: { ...parsed.wall, millisecond: ms } };
  };

  const candidate = ((): Candidate | null => {
    for (const tag of wallClockTags) {
      const parsed = readDate(tag.key, tag.label);
      if (!parsed) continue;
      const p = tag.subSecKey ? withSubSec(parsed, tag.subSecKey) : parsed;
      return {
        kind: 'wall',
        source: tag.source,
        wall: p.wall,
        embedded: embeddedOffset(p, tag.offsetSource),
      };
    }
    for (const key of [
      'QuickTime:CreationDate',
      'Keys:CreationDate',
      'ItemList:CreationDate',
      'UserData:CreationDate',
    ]) {
      const apple = readDate(key, 'QuickTime CreationDate');
      if (apple && apple.offsetMinutes !== null) {
        return {
          kind: 'wall',
          source: 'quicktime',
          wall: apple.wall,
          embedded: { offset: apple.offsetMinutes, source: 'quicktime_tz' },
        };
      }
    }
    const movie = readDate('QuickTime:CreateDate', 'QuickTime CreateDate');
    if (movie && movie.wall.year > 1904) {
      const utcMs = wallAsUtcMs(movie.wall) - (movie.offsetMinutes ?? 0) * MINUTE;
      return { kind: 'instant', source: 'quicktime', utcMs, embedded: null };
    }
    if (gpsUtc !== null) return { kind: 'instant', source: 'gps', utcMs: gpsUtc, embedded: null };
    const fromName = dateFromFileName(input.fileName);
    if (fromName) return { kind: 'wall', source: 'filename', wall: fromName, embedded: null };
    return null;
  })();

  const offsetTags = (): { offset: number; source: TimeZoneSource } | null => {
    const original = parseOffset(tags['EXIF:OffsetTimeOriginal']);
    if (original !== null) return { offset: original, source: 'offset_time_original' };
    const plain = parseOffset(tags['EXIF:OffsetTime']);
    if (plain !== null) return { offset: plain, source: 'offset_time' };
    const digitized = parseOffset(tags['EXIF:OffsetTimeDigitized']);
    if (digitized !== null) return { offset: digitized, source: 'offset_time' };
    return null;
  };

  const zoneAtPosition = (): string | undefined => {
    if (!position || !input.zoneAt) return undefined;
    try {
      return input.zoneAt(position.lat, position.lon);
    } catch {
      return undefined;
    }
  };

  if (!candidate) {
    const offset = zoneOffsetAt(input.timeZone, input.mtimeMs);
    problems.push(
      "No capture date was found in the file or its name; the file's modification time is used, which may be when it was copied rather than taken.",
    );
    return {
      captureTime: formatInOffset(input.mtimeMs, offset),
      captureTimeSource: 'mtime',
      timeZone: { offsetMinutes: offset, source: 'assumed_local' },
      problems,
    };
  }

  if (candidate.kind === 'instant') {
    let zone = offsetTags();
    if (!zone) {
      const iana = zoneAtPosition();
      if (iana) zone = { offset: zoneOffsetAt(iana, candidate.utcMs), source: 'gps' };
    }
    zone ??= { offset: 0, source: 'utc' };
    return {
      captureTime: formatInOffset(candidate.utcMs, zone.offset),
      captureTimeSource: candidate.source,
      timeZone: { offsetMinutes: zone.offset, source: zone.source },
      problems,
    };
  }

  // a wall-clock time: find its offset
  let zone = candidate.embedded ?? offsetTags();
  if (!zone) {
    const iana = zoneAtPosition();
    if (iana) zone = { offset: zoneOffsetForWallClock(iana, candidate.wall), source: 'gps' };
  }
  if (!zone && gpsUtc !== null && !position) {
    const fromClock = offsetFromGpsClock(candidate.wall, gpsUtc);
    if (fromClock !== null) zone = { offset: fromClock, source: 'gps' };
  }
  zone ??= {
    offset: zoneOffsetForWallClock(input.timeZone, candidate.wall),
    source: 'assumed_local',
  };
  const utcMs = wallAsUtcMs(candidate.wall) - zone.offset * MINUTE;
  return {
    captureTime: formatInOffset(utcMs, zone.offset),
    captureTimeSource: candidate.source,
    timeZone: { offsetMinutes: zone.offset, source: zone.source },
    problems,
  };
}

function embeddedOffset(
  parsed: ParsedDateTime,
  source: TimeZoneSource,
): { offset: number; source: TimeZoneSource } | null {
  return parsed.offsetMinutes === null ? null : { offset: parsed.offsetMinutes, source };
}

/** XMP and IPTC allow a date without a time: valid, just not a capture time. */
function isDateOnly(raw: unknown): boolean {
  return typeof raw === 'string' && /^\s*\d{4}(?:[:-]\d{2}(?:[:-]\d{2})?)?\s*$/.test(raw);
}

/** Values cameras write when the date was never set: not worth a problem message. */
function isUnsetDate(raw: unknown): boolean {
  if (typeof raw !== 'string') return false;
  const t = raw.trim();
  return t === '' || /^0000[:-]00[:-]00/.test(t) || /^[\s:.-]*$/.test(t.replace(/0/g, ''));
}
