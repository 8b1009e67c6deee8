// What the CSV files of Apple's iCloud Photos copy (privacy.apple.com, "Request a copy of your
// data") say: "Photo Details.csv" (and "Photo Details-1.csv" …, several per part) with one row
// per photo or video, and "Albums/<album name>.csv" listing an album's file names. Pure: the
// caller reads the bytes. A UTF-8 BOM and CRLF line ends are taken as Apple writes them.
// Invariant: nothing is invented. A row that cannot be read is a problem naming the file and
// its line, and the other rows still count; a date is read only in the form Apple writes,
// with the zone Apple states, never the machine's.
//
// [Note: iCloud Photo Details columns]
// | column               | as Apple writes it                        | MediaMetadata           |
// |----------------------|-------------------------------------------|-------------------------|
// | imgName              | the file's name inside its part's Photos/ | (matches the file)      |
// | fileChecksum         | Apple's own (not a SHA-256)               | not used                |
// | favorite             | yes / no                                  | favorite                |
// | hidden               | yes / no                                  | hidden                  |
// | deleted              | yes / no ("Recently Deleted")             | not metadata: skipped   |
// |                      |                                           |   unless asked for      |
// | originalCreationDate | "Tuesday June 14,2022 8:10 PM GMT"        | captureTime (the instant|
// |                      |   (to the minute; the day may be "06")    |   in GMT), source       |
// |                      |                                           |   'icloud', timeZone    |
// |                      |                                           |   offset 0 'utc': Apple |
// |                      |                                           |   states the instant in |
// |                      |                                           |   GMT, not where it was |
// | viewCount, importDate| a number; a date as above                 | not used                |
// An empty originalCreationDate is no date (never importDate, which is when the file reached
// iCloud, not when it was taken).
import { CsvError, parse } from 'csv-parse/sync';

export interface PhotoDetailsRow {
  /** the file name the row describes */
  name: string;
  /** the CSV's line the row ends on (1-based), for messages */
  line: number;
  /** unix ms of originalCreationDate; null when empty or not in Apple's form */
  createdMs: number | null;
  /** undefined when the field is missing or neither yes nor no */
  favorite?: boolean;
  hidden?: boolean;
  deleted?: boolean;
}

export interface CsvProblem {
  line: number | null;
  message: string;
}

const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

// [weekday] Month D,YYYY h:mm[:ss] AM|PM GMT — the weekday is not checked (the date is).
const APPLE_DATE =
  /^(?:[A-Za-z]+day\s+)?([A-Za-z]+)\s+(\d{1,2}),\s*(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])\s+(GMT|UTC)$/;

/** originalCreationDate as unix ms (the instant, stated in GMT), or null when not Apple's form. */
export function parseAppleDate(text: string): number | null {
  const m = APPLE_DATE.exec(text.trim());
  if (!m) return null;
  const [, monthName = '', day = '', year = '', hour = '', minute = '', second, ampm = ''] = m;
  const month = MONTHS.indexOf(monthName.toLowerCase());
  const d = Number(day);
  const y = Number(year);
  let h = Number(hour);
  const min = Number(minute);
  const s = second === undefined ? 0 : Number(second);
  if (month < 0 || h < 1 || h > 12 || min > 59 || s > 59) return null;
  if (ampm.toLowerCase() === 'pm' && h !== 12) h += 12;
  else if (ampm.toLowerCase() === 'am' && h === 12) h = 0;
  const ms = Date.UTC(y, month, d, h, min, s);
  // 31 February rolls into March in Date.UTC: refuse it instead.
  if (new Date(ms).getUTCDate() !== d || new Date(ms).getUTCMonth() !== month) return null;
  return ms;
}

function yesNo(value: string | undefined): boolean | undefined | 'bad' {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'yes') return true;
  if (v === 'no') return false;
  return v === '' ? undefined : 'bad';
}

interface CsvRecord {
  record: string[];
  info: { lines: number };
}

/** Every record with its line; a broken one (an unclosed quote) is a problem, the rest read on. */
function records(text: string, problems: CsvProblem[]): CsvRecord[] {
  try {
    return parse(text, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
      skip_records_with_error: true,
      on_skip: (err: CsvError | undefined) => {
        if (err) problems.push({ line: lineOf(err), message: err.message });
      },
    }) as unknown as CsvRecord[];
  } catch (err) {
    // What skip_records_with_error cannot get past (e.g. a quote still open at the end).
    if (err instanceof CsvError) {
      problems.push({ line: lineOf(err), message: err.message });
      return [];
    }
    throw err;
  }
}

function lineOf(err: CsvError): number | null {
  const lines = (err as CsvError & { lines?: unknown }).lines;
  return typeof lines === 'number' ? lines : null;
}

/** The rows of one Photo Details CSV. See [Note: iCloud Photo Details columns]. */
export function parsePhotoDetails(text: string): {
  rows: PhotoDetailsRow[];
  problems: CsvProblem[];
} {
  const problems: CsvProblem[] = [];
  const all = records(text, problems);
  const header = all[0];
  if (!header) {
    if (problems.length === 0) problems.push({ line: null, message: 'empty: no header' });
    return { rows: [], problems };
  }
  const columns = header.record.map((c) => c.trim().toLowerCase());
  const at = (name: string) => columns.indexOf(name.toLowerCase());
  const nameAt = at('imgName');
  if (nameAt < 0) {
    problems.push({
      line: header.info.lines,
      message: `no imgName column in the header (${header.record.join(',')})`,
    });
    return { rows: [], problems };
  }
  const cols = {
    favorite: at('favorite'),
    hidden: at('hidden'),
    deleted: at('deleted'),
    created: at('originalCreationDate'),
  };
  const rows: PhotoDetailsRow[] = [];
  for (const { record, info } of all.slice(1)) {
    const line = info.lines;
    if (record.length !== columns.length) {
      problems.push({
        line,
        message: `${record.length} fields where the header has ${columns.length}`,
      });
      continue;
    }
    const name = (record[nameAt] ?? '').trim();
    if (name === '') {
      problems.push({ line, message: 'no imgName' });
      continue;
    }
    const row: PhotoDetailsRow = { name, line, createdMs: null };
    const createdText = cols.created < 0 ? '' : (record[cols.created] ?? '').trim();
    if (createdText !== '') {
      row.createdMs = parseAppleDate(createdText);
      if (row.createdMs === null) {
        problems.push({
          line,
          message: `originalCreationDate "${createdText}" is not a date in Apple's form (e.g. "Tuesday June 14,2022 8:10 PM GMT")`,
        });
      }
    }
    for (const flag of ['favorite', 'hidden', 'deleted'] as const) {
      const i = cols[flag];
      const v = yesNo(i < 0 ? undefined : record[i]);
      if (v === 'bad') {
        problems.push({ line, message: `${flag} is "${record[i] ?? ''}", not yes or no` });
      } else if (v !== undefined) row[flag] = v;
    }
    rows.push(row);
  }
  return { rows, problems };
}

/** Header words Apple has written above an album's (or a memory's) list of names. */
const LIST_HEADERS = new Set(['images', 'imgname', 'imagename']);

/** The file names an album CSV lists, in album order, each with its line. */
export function parseAlbumList(text: string): {
  names: { name: string; line: number }[];
  problems: CsvProblem[];
} {
  const problems: CsvProblem[] = [];
  const all = records(text, problems);
  const names: { name: string; line: number }[] = [];
  all.forEach(({ record, info }, i) => {
    const cells = record.map((c) => c.trim());
    if (i === 0 && cells.length === 1 && LIST_HEADERS.has((cells[0] ?? '').toLowerCase())) return;
    const filled = cells.filter((c) => c !== '');
    if (filled.length === 0) return;
    if (filled.length > 1) {
      problems.push({
        line: info.lines,
        message: `${filled.length} names on one line where Apple writes one`,
      });
      return;
    }
    names.push({ name: filled[0] as string, line: info.lines });
  });
  return { names, problems };
}
