// `keepsake import icloud`: brings Apple's iCloud Photos copy (privacy.apple.com, "Request a
// copy of your data": "iCloud Photos Part 1 of N" folders or zips) to the vault with the dates,
// favourites, hidden marks and albums that live only in its CSV files (photo-details.ts).
// Owns the reading of the export: which file is a photo, which Photo Details row describes it,
// which album lists it, what was deleted; the vault side is import/common/vault-steps.ts.
// Invariant: the export is only read; a row is matched to a file by name only where that is
// certain (see [Note: iCloud rows and files]), never guessed; every file ends in the report:
// imported, already on the vault, skipped as deleted, not a photo, or a problem with its reason;
// a re-run sends nothing and makes no second album.
//
// [Note: iCloud rows and files]
// Apple lays a part out as "<part>/Photos/<files>" with "Photo Details.csv", "Photo
// Details-1.csv" … beside them, "<part>/Recently Deleted/<files>", "<part>/Albums/<name>.csv"
// (usually in part 1 only) and "<part>/Memories/<name>.csv" (some copies put the CSVs at the
// part's top). File names are not unique across parts (two different IMG_0100.MOV can exist),
// so a file takes the row of its name from the closest place that has rows of that name: its
// own folder, else its part (a file in Recently Deleted, a CSV at the part's top), else the
// whole copy; and only when exactly one row not taken yet and exactly one file still without
// a row share the name there (row-match.ts). A name listed twice there, or shared by several
// files, is reported and gets no row. Albums list names only: a name in an album is the content of the
// files of that name when they are one content (copies in two parts are); when they are
// different contents the name is reported, never picked.
//
// [Note: iCloud edits]
// The copy holds Apple's edited versions beside the originals as IMG_E1234.ext next to
// IMG_1234.ext. Each is backed up as its own content, and the pair is linked on the vault by
// the engine's own grouping rules (decideGroups, [Note: Grouping rules] in
// metadata/grouping.ts: an edit's name rule and the same capture time), fed with each file's
// originalCreationDate, Apple's record of the capture, which an edit shares with its original.
// Without a date for both, or with different ones, the edit is reported as not linked, with
// why. Apple's content identifiers are not read here (the files are not opened beyond their
// hash), so a Live Photo's still and video are not joined by the import; the backup's own
// grouping does that for files it watches. A group the original already leads keeps its
// members.
import {
  type GroupMember,
  type GroupRole,
  type MediaMetadata,
  withoutControlCharacters,
} from '../../../../common/vault-protocol.js';
import { isAbortError } from '../../errors.js';
import { formatInOffset } from '../../metadata/capture-time.js';
import { decideGroups, originalStemOfEdit } from '../../metadata/grouping.js';
import type { Logger } from '../../ports.js';
import type { Uploader } from '../../vault/types.js';
import type { VaultClient } from '../../vault/vault-client.js';
import { classifyByExtension } from '../../watch/media-types.js';
import type { ExportEntry, ExportSource } from '../common/export-source.js';
import { mergeImportedMetadata } from '../common/merge-metadata.js';
import {
  baseName,
  createAlbums,
  errorMessage,
  folderOf,
  hashEntries,
  type ImportAlbumReport,
  type ImportTally,
  readText,
  registerPlaces,
  sendMissing,
  storeMetadata,
} from '../common/vault-steps.js';
import {
  type CsvProblem,
  parseAlbumList,
  parsePhotoDetails,
  type PhotoDetailsRow,
} from './photo-details.js';
import { type DetailsTable, matchRows } from './row-match.js';

/** A Photo Details CSV of a large library is a few MB; this bounds what is held in memory. */
const MAX_CSV_BYTES = 256 * 1024 * 1024;
/** Apple's dates are to the minute. */
const APPLE_DATE_PRECISION_MS = 60_000;

/** The folder label imported files are registered under (see ICloudImportDeps.device). */
export const ICLOUD_FOLDER_LABEL = 'iCloud Photos';

export interface ICloudImportDeps {
  /** null: a dry run without a vault (everything counts as to be sent). */
  vault: VaultClient | null;
  /** null in a dry run. */
  uploader: Uploader | null;
  /** A private folder for zip entries on their way out (vault-steps.ts). */
  stagingDir: string;
  logger: Logger;
  /**
   * This computer as the vault knows it: every imported file's place is registered under it
   * (folder ICLOUD_FOLDER_LABEL, its path in the export). null: places are not registered.
   */
  device: { id: string; name: string } | null;
}

export interface ICloudImportOptions {
  dryRun: boolean;
  includeDeleted: boolean;
  signal: AbortSignal;
}

export interface ICloudReport extends ImportTally {
  dryRun: boolean;
  parts: string[];
  /** distinct contents (copies of one photo in two parts count once) */
  photos: number;
  videos: number;
  /** photo and video files found and brought in, copies included */
  files: number;
  alreadyOnVault: number;
  /** files with their Photo Details row */
  matchedRows: number;
  /** contents marked favourite / hidden in iCloud */
  favorites: number;
  hidden: number;
  albums: ImportAlbumReport[];
  /** files no row describes for certain: no date, favourite or hidden mark from Apple */
  mediaWithoutRow: { path: string; reason: string }[];
  /** rows (of Photo Details or of an album) naming no file of the export for certain */
  unmatchedRows: { path: string; line: number; name: string; reason: string }[];
  /** files Apple marks deleted (or in Recently Deleted): not imported without --include-deleted */
  skippedDeleted: string[];
  /** groups (an original and its edit, a RAW and its JPEG …) recorded on the vault */
  groupsDeclared: number;
  /** IMG_E edits beside their originals. See [Note: iCloud edits]. */
  edits: { edit: string; original: string | null; linked: boolean; reason?: string }[];
  /** files of the export that are not photos or videos, or that Keepsake does not read */
  notImported: { path: string; reason: string }[];
}

interface Item {
  entry: ExportEntry;
  kind: 'image' | 'raw' | 'video';
  row: PhotoDetailsRow | null;
  sha256: string | null;
}

type Role =
  | { role: 'media'; kind: 'image' | 'raw' | 'video'; inDeletedFolder: boolean }
  | { role: 'details' }
  | { role: 'album' }
  | { role: 'other'; reason: string };

const DETAILS_NAME = /^Photo Details(-\d+)?\.csv$/i;

function roleOf(path: string): Role {
  const name = baseName(path);
  const folders = path.split('/').slice(0, -1);
  const under = (folder: string) => folders.some((f) => f.toLowerCase() === folder.toLowerCase());
  if (name.startsWith('._') || under('__MACOSX')) {
    return { role: 'other', reason: "macOS's resource data for another file" };
  }
  if (name.startsWith('.')) return { role: 'other', reason: 'a hidden system file' };
  if (DETAILS_NAME.test(name)) return { role: 'details' };
  if (/\.csv$/i.test(name)) {
    if (folders.at(-1)?.toLowerCase() === 'albums') return { role: 'album' };
    if (under('Memories')) return { role: 'other', reason: 'a Memory Apple made: not an album' };
    return { role: 'other', reason: 'a CSV Keepsake does not read' };
  }
  if (/^iCloud Shared Albums.*\.zip$/i.test(name)) {
    return {
      role: 'other',
      reason:
        'shared albums come as a zip inside the export: unpack it and import or back up its folder',
    };
  }
  const c = classifyByExtension(name);
  if (c?.kind === 'media') {
    return {
      role: 'media',
      kind: c.mediaType,
      inDeletedFolder: under('Recently Deleted'),
    };
  }
  return { role: 'other', reason: 'not a photo or video' };
}

function csvProblem(path: string, p: CsvProblem): { path: string; message: string } {
  return { path, message: p.line === null ? p.message : `line ${p.line}: ${p.message}` };
}

/** The vault's metadata from one row. See [Note: iCloud Photo Details columns]. */
function metadataFromRow(row: PhotoDetailsRow, path: string): MediaMetadata {
  const mime = classifyByExtension(baseName(path));
  const dated = row.createdMs !== null;
  return {
    captureTime: dated ? formatInOffset(row.createdMs as number, 0) : null,
    captureTimeSource: dated ? 'icloud' : null,
    timeZone: dated ? { offsetMinutes: 0, source: 'utc' } : null,
    gps: null,
    camera: null,
    width: null,
    height: null,
    durationSec: null,
    orientation: null,
    mime: mime?.kind === 'media' ? mime.mime : null,
    source: 'icloud',
    ...(row.favorite !== undefined ? { favorite: row.favorite } : {}),
    ...(row.hidden !== undefined ? { hidden: row.hidden } : {}),
    originalPath: withoutControlCharacters(path).slice(0, 4096),
  };
}

/** Imports the iCloud Photos copy made of `sources` (its parts). See the module header. */
export async function importICloud(
  sources: readonly ExportSource[],
  deps: ICloudImportDeps,
  opts: ICloudImportOptions,
): Promise<ICloudReport> {
  const { signal } = opts;
  const report: ICloudReport = {
    dryRun: opts.dryRun,
    parts: sources.map((s) => s.part),
    photos: 0,
    videos: 0,
    files: 0,
    uploaded: 0,
    uploadedBytes: 0,
    alreadyOnVault: 0,
    metadataStored: 0,
    placesRegistered: 0,
    matchedRows: 0,
    favorites: 0,
    hidden: 0,
    albums: [],
    mediaWithoutRow: [],
    unmatchedRows: [],
    skippedDeleted: [],
    groupsDeclared: 0,
    edits: [],
    notImported: [],
    problems: [],
  };
  // One tree from every part: the first part that holds a path wins.
  const byPath = new Map<string, ExportEntry>();
  for (const source of sources) {
    for (const r of source.refused) report.problems.push(r);
    for (const e of source.entries) if (!byPath.has(e.path)) byPath.set(e.path, e);
  }
  const media: {
    entry: ExportEntry;
    kind: 'image' | 'raw' | 'video';
    inDeletedFolder: boolean;
  }[] = [];
  const detailsFiles: ExportEntry[] = [];
  const albumFiles: ExportEntry[] = [];
  for (const entry of byPath.values()) {
    const r = roleOf(entry.path);
    if (r.role === 'media') media.push({ entry, ...r });
    else if (r.role === 'details') detailsFiles.push(entry);
    else if (r.role === 'album') albumFiles.push(entry);
    else report.notImported.push({ path: entry.path, reason: r.reason });
  }

  // Every Photo Details row, and each file's row where certain. See [Note: iCloud rows and files].
  const tables: DetailsTable[] = [];
  for (const csv of detailsFiles.sort((a, b) => (a.path < b.path ? -1 : 1))) {
    try {
      const parsed = parsePhotoDetails(await readText(csv, MAX_CSV_BYTES));
      for (const p of parsed.problems) report.problems.push(csvProblem(csv.path, p));
      tables.push({ csv: csv.path, rows: parsed.rows });
    } catch (err) {
      report.problems.push({ path: csv.path, message: `unreadable: ${errorMessage(err)}` });
    }
  }
  const rows = matchRows(
    media.map((m) => m.entry.path),
    tables,
  );
  report.unmatchedRows.push(...rows.unmatched);
  const items: Item[] = [];
  for (const m of media.sort((a, b) => (a.entry.path < b.entry.path ? -1 : 1))) {
    const { path } = m.entry;
    const row = rows.rowOf.get(path) ?? null;
    if (!opts.includeDeleted && (row?.deleted === true || m.inDeletedFolder)) {
      report.skippedDeleted.push(path);
      continue;
    }
    report.files++;
    if (row) report.matchedRows++;
    else report.mediaWithoutRow.push({ path, reason: rows.why.get(path) ?? '' });
    items.push({ entry: m.entry, kind: m.kind, row, sha256: null });
  }

  // Hash every file (streamed, in place), and group copies of one content.
  const hashes = await hashEntries(
    items.map((i) => i.entry),
    report,
    signal,
  );
  const contents = new Map<string, { kind: 'image' | 'raw' | 'video'; items: Item[] }>();
  for (const item of items) {
    item.sha256 = hashes.get(item.entry) ?? null;
    if (item.sha256 === null) continue;
    const c = contents.get(item.sha256) ?? { kind: item.kind, items: [] };
    c.items.push(item);
    contents.set(item.sha256, c);
  }
  const metadataOf = new Map<string, { metadata: MediaMetadata; path: string }>();
  for (const [sha256, c] of contents) {
    if (c.kind === 'video') report.videos++;
    else report.photos++;
    const described = c.items.find((i) => i.row !== null);
    if (described?.row) {
      metadataOf.set(sha256, {
        metadata: metadataFromRow(described.row, described.entry.path),
        path: described.entry.path,
      });
      if (described.row.favorite === true) report.favorites++;
      if (described.row.hidden === true) report.hidden++;
    }
  }

  // What the vault lacks, and sending it.
  const all = [...contents.keys()];
  const held = deps.vault ? await deps.vault.check(all, signal) : new Set<string>();
  const missing = all.filter((s) => !held.has(s));
  report.alreadyOnVault = all.length - missing.length;
  const sentNow = new Set<string>();
  const firstEntry = (sha256: string) => (contents.get(sha256)?.items[0] as Item).entry;
  if (opts.dryRun || !deps.uploader) {
    report.uploaded = missing.length;
    report.uploadedBytes = missing.reduce((n, s) => n + firstEntry(s).size, 0);
  } else {
    const sent = await sendMissing(
      missing.map((sha256) => ({ sha256, entry: firstEntry(sha256) })),
      sources,
      deps.uploader,
      deps.stagingDir,
      report,
      signal,
    );
    for (const s of sent) {
      held.add(s);
      sentNow.add(s);
    }
  }

  if (!opts.dryRun && deps.vault) {
    await storeMetadata(
      deps.vault,
      [...metadataOf].flatMap(([sha256, m]) =>
        held.has(sha256) ? [{ sha256, ...m, sentNow: sentNow.has(sha256) }] : [],
      ),
      (existing, imported) =>
        mergeImportedMetadata(existing, imported, APPLE_DATE_PRECISION_MS - 1),
      report,
      signal,
    );
    if (deps.device) {
      await registerPlaces(
        deps.vault,
        deps.device,
        ICLOUD_FOLDER_LABEL,
        items.flatMap((i) =>
          i.sha256 !== null && held.has(i.sha256) ? [{ sha256: i.sha256, entry: i.entry }] : [],
        ),
        report,
        signal,
      );
    }
  }

  await linkGroups(items, held, deps, opts, report);
  report.albums = await createAlbums(
    opts.dryRun ? null : deps.vault,
    'icloud',
    await readAlbums(albumFiles, items, held, opts, report),
    report,
    signal,
  );
  report.problems.sort((a, b) => (a.path < b.path ? -1 : 1));
  return report;
}

/**
 * One album per Albums/<name>.csv (the same name in two parts is one album), its members in
 * the CSV's order. See [Note: iCloud rows and files] for how a name becomes a content.
 */
async function readAlbums(
  albumFiles: readonly ExportEntry[],
  items: readonly Item[],
  held: ReadonlySet<string>,
  opts: ICloudImportOptions,
  report: ICloudReport,
): Promise<{ name: string; key: string; members: string[]; path: string }[]> {
  const byName = new Map<string, Item[]>();
  for (const item of items) {
    const name = baseName(item.entry.path);
    byName.set(name, [...(byName.get(name) ?? []), item]);
  }
  const skipped = new Set(report.skippedDeleted.map(baseName));
  const albums = new Map<string, { name: string; key: string; members: string[]; path: string }>();
  for (const csv of [...albumFiles].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const title = baseName(csv.path).replace(/\.csv$/i, '');
    let parsed: ReturnType<typeof parseAlbumList>;
    try {
      parsed = parseAlbumList(await readText(csv, MAX_CSV_BYTES));
    } catch (err) {
      report.problems.push({ path: csv.path, message: `unreadable: ${errorMessage(err)}` });
      continue;
    }
    for (const p of parsed.problems) report.problems.push(csvProblem(csv.path, p));
    const album = albums.get(title) ?? { name: title, key: title, members: [], path: csv.path };
    albums.set(title, album);
    for (const { name, line } of parsed.names) {
      const files = byName.get(name) ?? [];
      const shas = [...new Set(files.flatMap((f) => (f.sha256 === null ? [] : [f.sha256])))];
      if (shas.length === 1) {
        const sha256 = shas[0] as string;
        if ((opts.dryRun || held.has(sha256)) && !album.members.includes(sha256)) {
          album.members.push(sha256);
        }
        continue;
      }
      if (files.length === 0 && skipped.has(name)) continue; // deleted: skipped and listed
      if (files.length > 0 && shas.length === 0) continue; // unreadable: already a problem
      report.unmatchedRows.push({
        path: csv.path,
        line,
        name,
        reason:
          shas.length === 0
            ? 'no photo or video of that name in the export'
            : `${shas.length} different files have that name: ${files.map((f) => f.entry.path).join(', ')}`,
      });
    }
  }
  return [...albums.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Reports each edit (IMG_E1234 …) and links what is certain. See [Note: iCloud edits]. */
async function linkGroups(
  items: readonly Item[],
  held: ReadonlySet<string>,
  deps: ICloudImportDeps,
  opts: ICloudImportOptions,
  report: ICloudReport,
): Promise<void> {
  const hashed = items.filter((i): i is Item & { sha256: string } => i.sha256 !== null);
  const groups = decideGroups(
    hashed.map((item, id) => ({
      id,
      relPath: item.entry.path,
      kind: item.kind,
      // Apple's record of the capture, the same for an edit and its original (to the minute).
      capturedAtMs: item.row?.createdMs ?? null,
      appleContentId: null,
    })),
  );
  const roleOf = new Map<number, { group: number; role: GroupRole }>();
  groups.forEach((g, k) => {
    for (const m of g.members) roleOf.set(m.id, { group: k, role: m.role });
  });
  const primaryOf = (k: number) => hashed[groups[k]?.members[0]?.id ?? -1];
  hashed.forEach((item, id) => {
    const name = baseName(item.entry.path);
    const dot = name.lastIndexOf('.');
    const originalStem = originalStemOfEdit(dot <= 0 ? name : name.slice(0, dot));
    if (originalStem === null || item.kind === 'raw') return;
    const r = roleOf.get(id);
    if (r?.role === 'edit') {
      report.edits.push({
        edit: item.entry.path,
        original: primaryOf(r.group)?.entry.path ?? null,
        linked: true,
      });
      return;
    }
    const beside = hashed.find(
      (o) =>
        folderOf(o.entry.path) === folderOf(item.entry.path) &&
        baseName(o.entry.path).toLowerCase().startsWith(`${originalStem}.`),
    );
    report.edits.push({
      edit: item.entry.path,
      original: beside?.entry.path ?? null,
      linked: false,
      reason: beside
        ? 'not the same originalCreationDate as the original (or no date): not certain'
        : 'no original of that name beside it',
    });
  });
  const { vault } = deps;
  if (opts.dryRun || !vault) return;
  for (const [k, g] of groups.entries()) {
    // One content once (copies of a photo in two parts are one content), primary first.
    const members: GroupMember[] = [];
    for (const m of g.members) {
      const sha256 = hashed[m.id]?.sha256;
      if (sha256 !== undefined && !members.some((x) => x.sha256 === sha256)) {
        members.push({ sha256, role: m.role });
      }
    }
    const edits = report.edits.filter((e) =>
      g.members.some((m) => hashed[m.id]?.entry.path === e.edit),
    );
    const notLinked = (reason: string) => {
      for (const e of edits) Object.assign(e, { linked: false, reason });
    };
    const primary = members[0];
    if (!primary || members.length < 2) continue;
    if (!members.every((m) => held.has(m.sha256))) {
      notLinked('not all of its group is on the vault');
      continue;
    }
    try {
      // A group the primary already leads keeps the members it has (e.g. a Live Photo video).
      const group = (await vault.asset(primary.sha256, opts.signal))?.group;
      const existing =
        group?.role === 'primary'
          ? ((await vault.group(group.id, opts.signal))?.members ?? [])
          : [];
      for (const m of existing) if (!members.some((x) => x.sha256 === m.sha256)) members.push(m);
      const [result] = await vault.declareGroups([{ members }], opts.signal);
      if (result?.status === 'stored') report.groupsDeclared++;
      else
        notLinked(
          `the vault refused: ${result?.status === 'refused' ? result.message : (result?.status ?? '')}`,
        );
    } catch (err) {
      if (isAbortError(err) || opts.signal.aborted) throw err;
      notLinked(`not linked: ${errorMessage(err)}`);
      report.problems.push({
        path: primaryOf(k)?.entry.path ?? '',
        message: `its group was not recorded: ${errorMessage(err)}`,
      });
    }
  }
}
