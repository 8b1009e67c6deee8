// What a person types to limit upload bandwidth or choose a chunk size, turned into numbers.
// Owns the rclone-compatible `--bwlimit` syntax (a rate, "off", or a weekly timetable) and
// `--chunk-size`; the throttle itself is in throttle.ts.
//
// Invariant: a parsed policy always answers a rate for any instant (bytesPerSecond > 0, or
// null for "no cap"); anything that would not is refused at parse time with
// KeepsakeError('invalid_argument') and a message that shows the accepted forms.
//
// [Note: Bandwidth syntax]
// Follows rclone's --bwlimit (https://rclone.org/docs/#bwlimit-bandwidth-spec) so people and
// admins can reuse what they know:
// - a rate: a number with an optional binary suffix B, K, M, G or T (optionally followed by
//   "i", "iB" or "B", any case): "4M" = 4 MiB/s, "512k" = 512 KiB/s, "1.5M", "100000B".
//   As in rclone, a number without a suffix is in KiB/s ("512" = 512 KiB/s).
// - "off" (or "0", "none", "unlimited", "") = no cap.
// - a timetable of space-separated entries "[DAY-]HH:MM,RATE", e.g.
//   "Mon-08:00,2M Mon-18:00,off" or "08:00,512k 23:00,off". DAY is Mon..Sun (three letters,
//   any case); an entry without a day applies every day. The rate in force at any instant is
//   the one of the latest entry at or before it, going round the week (so before Monday
//   08:00 in the example, Monday 18:00's "off" of the previous week applies). Times are the
//   machine's local time, as in rclone.
// - rclone's "UP:DOWN" rate pairs are accepted; Keepsake only uploads, so DOWN is ignored.

import { KeepsakeError } from '../errors.js';

export interface BandwidthScheduleEntry {
  /** 0 = Sunday .. 6 = Saturday (Date.getDay()). */
  day: number;
  /** Minutes since local midnight, 0..1439. */
  minute: number;
  /** null = no cap */
  bytesPerSecond: number | null;
}

export type BandwidthPolicy =
  | { kind: 'fixed'; bytesPerSecond: number | null }
  | { kind: 'schedule'; entries: BandwidthScheduleEntry[]; text: string };

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};
const OFF_WORDS = new Set(['', 'off', '0', 'none', 'unlimited']);

const RATE_HELP =
  'use a rate such as "4M" (4 MiB/s), "512k", "off", or a weekly timetable such as "Mon-08:00,2M Mon-18:00,off"';

function parseSize(text: string, defaultUnit: number): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt])?(?:i?b?)?$/i.exec(text.trim());
  if (!m) return null;
  const value = Number(m[1]);
  const unit = m[2] ? (UNITS[m[2].toLowerCase()] ?? 1) : defaultUnit;
  const bytes = Math.round(value * unit);
  return Number.isFinite(bytes) ? bytes : null;
}

/** One rate (no timetable): bytes per second, or null for "off". */
function parseRate(text: string, whole: string): number | null {
  const upload = text.split(':')[0] ?? '';
  if (OFF_WORDS.has(upload.trim().toLowerCase())) return null;
  const bytes = parseSize(upload, 1024);
  if (bytes === null) {
    throw new KeepsakeError(
      'invalid_argument',
      `"${upload}" in bandwidth limit "${whole}" is not a rate: ${RATE_HELP}.`,
    );
  }
  if (bytes < 1024) {
    throw new KeepsakeError(
      'invalid_argument',
      `Bandwidth limit "${whole}" is below 1 KiB/s, which would stall uploads: ${RATE_HELP}.`,
    );
  }
  return bytes;
}

/** Parses a --bwlimit value. See [Note: Bandwidth syntax]. */
export function parseBandwidthLimit(text: string): BandwidthPolicy {
  const trimmed = text.trim();
  if (!trimmed.includes(',')) {
    return { kind: 'fixed', bytesPerSecond: parseRate(trimmed, text) };
  }
  const entries: BandwidthScheduleEntry[] = [];
  for (const token of trimmed.split(/\s+/)) {
    const m = /^(?:([a-z]{3})-)?(\d{1,2}):(\d{2}),(.*)$/i.exec(token);
    if (!m) {
      throw new KeepsakeError(
        'invalid_argument',
        `"${token}" in bandwidth timetable "${text}" is not of the form [DAY-]HH:MM,RATE (e.g. "Mon-08:00,2M" or "23:00,off").`,
      );
    }
    const [, dayText, hh, mm, rateText] = m;
    const hour = Number(hh);
    const min = Number(mm);
    if (hour > 23 || min > 59) {
      throw new KeepsakeError(
        'invalid_argument',
        `"${hh}:${mm}" in bandwidth timetable "${text}" is not a time of day (00:00 to 23:59).`,
      );
    }
    let days: number[];
    if (dayText === undefined) {
      days = [0, 1, 2, 3, 4, 5, 6];
    } else {
      const day = DAYS.indexOf(dayText.toLowerCase() as (typeof DAYS)[number]);
      if (day < 0) {
        throw new KeepsakeError(
          'invalid_argument',
          `"${dayText}" in bandwidth timetable "${text}" is not a day: use Mon, Tue, Wed, Thu, Fri, Sat or Sun.`,
        );
      }
      days = [day];
    }
    const bytesPerSecond = parseRate(rateText ?? '', text);
    for (const day of days) entries.push({ day, minute: hour * 60 + min, bytesPerSecond });
  }
  entries.sort((a, b) => a.day * 1440 + a.minute - (b.day * 1440 + b.minute));
  for (let i = 1; i < entries.length; i++) {
    const a = entries[i - 1];
    const b = entries[i];
    if (a && b && a.day === b.day && a.minute === b.minute) {
      throw new KeepsakeError(
        'invalid_argument',
        `Bandwidth timetable "${text}" sets ${DAYS[a.day]} ${formatMinute(a.minute)} twice.`,
      );
    }
  }
  return { kind: 'schedule', entries, text: trimmed };
}

function formatMinute(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

/** The cap in force at `atMs` (unix ms, read in local time); null = no cap. */
export function bandwidthAt(policy: BandwidthPolicy | null, atMs: number): number | null {
  if (policy === null) return null;
  if (policy.kind === 'fixed') return policy.bytesPerSecond;
  const date = new Date(atMs);
  const weekMinute = date.getDay() * 1440 + date.getHours() * 60 + date.getMinutes();
  let current = policy.entries[policy.entries.length - 1]; // wraps round the week
  for (const entry of policy.entries) {
    if (entry.day * 1440 + entry.minute <= weekMinute) current = entry;
    else break;
  }
  return current?.bytesPerSecond ?? null;
}

/** Unix ms of the next timetable change after `atMs`, or null when the policy never changes. */
export function nextBandwidthChange(policy: BandwidthPolicy | null, atMs: number): number | null {
  if (policy === null || policy.kind === 'fixed' || policy.entries.length === 0) return null;
  // Step minute boundaries is wasteful; instead find the next entry's local wall time.
  const date = new Date(atMs);
  const weekMinute = date.getDay() * 1440 + date.getHours() * 60 + date.getMinutes();
  const next =
    policy.entries.find((e) => e.day * 1440 + e.minute > weekMinute) ?? policy.entries[0];
  if (!next) return null;
  let delta = next.day * 1440 + next.minute - weekMinute;
  if (delta <= 0) delta += 7 * 1440;
  const target = new Date(atMs);
  target.setSeconds(0, 0);
  // setMinutes handles day roll-over and DST shifts in local time.
  target.setMinutes(target.getMinutes() + delta);
  return target.getTime();
}

/** Human form of a rate for logs and messages: "4 MiB/s", "off". */
export function formatRate(bytesPerSecond: number | null): string {
  if (bytesPerSecond === null) return 'off';
  if (bytesPerSecond >= 1024 ** 2) return `${+(bytesPerSecond / 1024 ** 2).toFixed(2)} MiB/s`;
  if (bytesPerSecond >= 1024) return `${+(bytesPerSecond / 1024).toFixed(2)} KiB/s`;
  return `${bytesPerSecond} B/s`;
}

export const MIN_CHUNK_SIZE = 64 * 1024;
export const MAX_CHUNK_SIZE = 2 * 1024 ** 3;

/**
 * Parses a byte size such as "8M", "1G", "512k", "8MiB" or "1048576" (binary units; a bare
 * number is bytes). Used for --chunk-size, which must lie between 64 KiB and 2 GiB.
 */
export function parseByteSize(text: string): number {
  const bytes = parseSize(text, 1);
  if (bytes === null || bytes <= 0) {
    throw new KeepsakeError(
      'invalid_argument',
      `"${text}" is not a size: use a number of bytes or a number with K, M or G (e.g. "8M", "1G").`,
    );
  }
  return bytes;
}

/** parseByteSize, then the range a tus chunk may have. */
export function parseChunkSize(text: string): number {
  const bytes = parseByteSize(text);
  if (bytes < MIN_CHUNK_SIZE || bytes > MAX_CHUNK_SIZE) {
    throw new KeepsakeError(
      'invalid_argument',
      `Chunk size "${text}" is out of range: use between 64K and 2G (the default is 8M).`,
    );
  }
  return bytes;
}
