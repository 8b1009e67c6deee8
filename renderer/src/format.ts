// Sizes, counts, dates and durations in the person's locale (Intl, the browser's language).
// Sizes in the binary units the CLI and the docs use (common/size-units.ts).
import { formatRate as formatSizeRate, formatSize } from '../../common/size-units';
const locale = undefined;

const numberFormatters = new Map<number, Intl.NumberFormat>();
/** A number in the person's locale with at most `digits` decimals. */
function localNumber(value: number, digits: number): string {
  let fmt = numberFormatters.get(digits);
  if (!fmt) {
    fmt = new Intl.NumberFormat(locale, { maximumFractionDigits: digits });
    numberFormatters.set(digits, fmt);
  }
  return fmt.format(value);
}

/** Binary units, as the CLI and the docs write them (See [Note: One unit system]). */
export function formatBytes(bytes: number): string {
  return formatSize(bytes, localNumber);
}

export function formatRate(bytesPerSecond: number): string {
  return formatSizeRate(bytesPerSecond, localNumber);
}

const countFmt = new Intl.NumberFormat(locale);
export function formatCount(n: number): string {
  return countFmt.format(n);
}

const percentFmt = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
export function formatPercent(part: number, whole: number): string {
  return percentFmt.format(whole > 0 ? part / whole : 1);
}

const dateTimeFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
const dateFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'medium' });
export const formatDateTime = (ms: number): string => dateTimeFmt.format(ms);
export const formatDate = (ms: number): string => dateFmt.format(ms);

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const parts: [number, Intl.NumberFormatOptions['unit']][] = [];
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) parts.push([h, 'hour'], [m, 'minute']);
  else if (m > 0) parts.push([m, 'minute'], [s % 60, 'second']);
  else parts.push([s, 'second']);
  return parts
    .filter(([n], i) => i === 0 || n > 0)
    .map(([n, unit]) =>
      new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'short' }).format(n),
    )
    .join(' ');
}

export function fileName(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i >= 0 ? path.slice(i + 1) : path;
}

const pluralRules = new Intl.PluralRules(locale);
/** "1 file", "2 files" (English words; counts formatted for the locale). */
export function countOf(n: number, one: string, other: string): string {
  return `${formatCount(n)} ${pluralRules.select(n) === 'one' ? one : other}`;
}
