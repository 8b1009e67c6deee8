// Where an imported file goes inside the chosen folder: a pattern of the capture date
// (default `YYYY/YYYY-MM-DD/`), and the name it gets there. Pure: no file system access.
// Invariant: a pattern never leads outside the chosen folder (no absolute path, no `..`).
import { KeepsakeError } from '../../errors.js';

export const DEFAULT_DATE_PATTERN = 'YYYY/YYYY-MM-DD/';

/** A parsed pattern: the folder segments, each a list of literal text and date fields. */
export interface DatePattern {
  readonly source: string;
  readonly segments: readonly (readonly PatternPart[])[];
}

type PatternPart = { text: string } | { field: 'YYYY' | 'MM' | 'DD' };

/** The wall-clock date of a capture, in the zone it was taken in (or the machine's). */
export interface CaptureDate {
  year: number;
  month: number;
  day: number;
}

export function parseDatePattern(source: string): DatePattern {
  const bad = (why: string) =>
    new KeepsakeError('invalid_argument', `--pattern "${source}": ${why}`);
  if (source.startsWith('/') || /^[A-Za-z]:/.test(source)) throw bad('must be relative');
  const segments = source
    .split(/[/\\]/)
    .filter((s) => s !== '')
    .map((segment) => {
      if (segment === '.' || segment === '..') throw bad('must not contain . or ..');
      if (/[\0<>:"|?*]/.test(segment)) throw bad(`"${segment}" holds a character names cannot`);
      const parts: PatternPart[] = [];
      for (const piece of segment.split(/(YYYY|MM|DD)/)) {
        if (piece === '') continue;
        if (piece === 'YYYY' || piece === 'MM' || piece === 'DD') parts.push({ field: piece });
        else parts.push({ text: piece });
      }
      return parts;
    });
  return { source, segments };
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** The folder (relative, '/'-separated, no trailing slash; '' = the chosen folder itself). */
export function datedFolder(pattern: DatePattern, date: CaptureDate): string {
  return pattern.segments
    .map((parts) =>
      parts
        .map((p) =>
          'text' in p
            ? p.text
            : p.field === 'YYYY'
              ? pad(date.year, 4)
              : p.field === 'MM'
                ? pad(date.month, 2)
                : pad(date.day, 2),
        )
        .join(''),
    )
    .join('/');
}

/**
 * The capture date of an ISO 8601 capture time with its offset
 * (`2019-03-12T23:30:00+01:00` is the 12th, where it was taken), else null.
 */
export function captureDateOf(captureTime: string | null): CaptureDate | null {
  const m = captureTime === null ? null : /^(\d{4})-(\d{2})-(\d{2})T/.exec(captureTime);
  if (!m) return null;
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
}

/** The local date of a unix-ms instant on this machine (the file-time fallback). */
export function localDateOf(ms: number): CaptureDate {
  const d = new Date(ms);
  return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate() };
}

/**
 * The n-th name to try for `name` when earlier ones are taken by other content:
 * IMG_0001.JPG, IMG_0001 (1).JPG, IMG_0001 (2).JPG ...
 */
export function candidateName(name: string, n: number): string {
  if (n === 0) return name;
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? `${name} (${n})` : `${name.slice(0, dot)} (${n})${name.slice(dot)}`;
}

/** The temporary name a copy has until it is verified (a dot-file: never backed up). */
export function partialName(name: string): string {
  return `.${name}.keepsake-partial`;
}
