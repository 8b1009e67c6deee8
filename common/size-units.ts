// Sizes and durations as people type them ("10G", "512k", "24h"), turned into numbers. Pure,
// so the vault (server/) and the client (main/) read the same text the same way: the vault's
// --quota / --max-size accept exactly the units of the client's --bwlimit / --chunk-size.
// Invariant: a parse either returns a finite, safe, non-negative integer or null; callers
// turn null into their own error with SIZE_HELP / DURATION_HELP.
//
// [Note: Size syntax]
// A number (decimals allowed) with an optional binary suffix B, K, M, G or T, optionally
// followed by "i", "iB" or "B", any case: "10G" = "10GiB" = "10gb" = 10 * 1024^3 bytes,
// "1.5M", "100000B". As rclone reads sizes (https://rclone.org/docs/#size-options), the
// suffixes are binary. A number without a suffix is in `defaultUnit` (bytes for sizes; the
// engine's --bwlimit reads a bare number as KiB/s, as rclone does).

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

export const SIZE_HELP =
  'a number of bytes or a number with K, M, G or T (binary: 10G = 10 GiB), e.g. "500M", "10G"';

/** Bytes for `text` (See [Note: Size syntax]), or null when it is not a size. */
export function parseSize(text: string, defaultUnit = 1): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt])?(?:i?b?)?$/i.exec(text.trim());
  if (!m) return null;
  const value = Number(m[1]);
  const unit = m[2] ? (SIZE_UNITS[m[2].toLowerCase()] ?? 1) : defaultUnit;
  const bytes = Math.round(value * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

// [Note: One unit system]
// Keepsake reads and writes sizes in binary units, everywhere: the CLI's summaries and
// progress, the UI, --help, and the README. Written out, they carry the IEC symbols (KiB,
// MiB, GiB, TiB), so a number is never read as decimal; typed in, K, M, G and T mean the same
// binary units (See [Note: Size syntax]): "--bwlimit 4M" is 4 MiB/s and is shown as 4 MiB/s.
const SIZE_SYMBOLS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * `bytes` in binary units (See [Note: One unit system]): "0 B", "512 B", "1.5 KiB",
 * "12.3 MiB", "1.23 GiB". Three significant digits at most; `formatNumber` lets a UI write
 * the number in the person's locale (default: plain JavaScript digits).
 */
export function formatSize(
  bytes: number,
  formatNumber: (value: number, fractionDigits: number) => string = (v, d) =>
    String(Number(v.toFixed(d))),
): string {
  let value = Math.max(0, bytes);
  let i = 0;
  while (value >= 1024 && i < SIZE_SYMBOLS.length - 1) {
    value /= 1024;
    i++;
  }
  const digits = i === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${formatNumber(i === 0 ? Math.round(value) : value, digits)} ${SIZE_SYMBOLS[i] ?? 'B'}`;
}

/** A rate in the same units: "4 MiB/s". */
export function formatRate(
  bytesPerSecond: number,
  formatNumber?: (value: number, fractionDigits: number) => string,
): string {
  return `${formatSize(bytesPerSecond, formatNumber)}/s`;
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

export const DURATION_HELP =
  'a number with ms, s, m (minutes), h or d, e.g. "90s", "30m", "24h", "7d"; several add up: "1h30m"';

/**
 * Milliseconds for a duration such as "24h", "90s", "1h30m" or "1.5d", or null. A unit is
 * required: a bare "24" could mean hours or seconds, and guessing wrong expires uploads.
 */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === '') return null;
  let total = 0;
  let rest = trimmed;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*/.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? Number.NaN);
    rest = rest.slice(m[0].length);
  }
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) ? ms : null;
}

/** "24h", "90s", "1500ms": the shortest exact spelling of a duration, for help and logs. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
