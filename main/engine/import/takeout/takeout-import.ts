// `keepsake import takeout`: brings a Google Takeout export (folders or .zip parts) to the
// vault with the dates, places, captions and albums that live only in its JSON sidecars.
// Owns the order of the run: list every part, match sidecars by name
// (sidecar-match.ts), read them (sidecar-reader.ts), hash each photo and video, ask the vault
// which it holds, send the rest through the engine's uploader (batches, tus for large ones),
// attach the sidecar metadata (source 'takeout'), and rebuild the albums.
// Invariant: the export is only read (never written); a re-run sends no bytes and makes no
// second album (the vault's dedup check and its (source, key) albums); every file ends in
// the report: imported, already on the vault, skipped as trash, or a problem with its reason.
// The vault side (hashing, sending, metadata, places, albums) is import/common/vault-steps.ts.
import { type MediaMetadata, withoutControlCharacters } from '../../../../common/vault-protocol.js';
import type { Logger } from '../../ports.js';
import type { Uploader } from '../../vault/types.js';
import type { VaultClient } from '../../vault/vault-client.js';
import { classifyByExtension } from '../../watch/media-types.js';
import type { ExportEntry, ExportSource } from '../common/export-source.js';
import {
  baseName,
  createAlbums,
  eachLimited,
  errorMessage as message,
  folderOf,
  hashEntries,
  IMPORT_PARALLEL as HASH_PARALLEL,
  type ImportAlbumReport,
  readText as readTextUpTo,
  registerPlaces,
  sendMissing,
  storeMetadata,
} from '../common/vault-steps.js';
import { folderRole } from './album-folders.js';
import { matchSidecars, type MediaMatch } from './sidecar-match.js';
import {
  mergeMetadata,
  metadataFromSidecar,
  parseTakeoutAlbum,
  parseTakeoutSidecar,
  type TakeoutSidecar,
} from './sidecar-reader.js';

const MAX_JSON_BYTES = 1024 * 1024;

export interface TakeoutImportDeps {
  /** null: a dry run without a vault (everything counts as to be sent). */
  vault: VaultClient | null;
  /** null in a dry run. */
  uploader: Uploader | null;
  /** A private folder for archive entries on their way out. See [Note: Archive entries ...]. */
  stagingDir: string;
  zoneAt: (lat: number, lon: number) => string | undefined;
  logger: Logger;
  /**
   * This computer as the vault knows it: every imported file's place is registered under it
   * (folder TAKEOUT_FOLDER_LABEL, its path in the export), so restore brings each path back,
   * album copies included. null: places are not registered.
   */
  device: { id: string; name: string } | null;
}

/** The folder label imported files are registered under (see TakeoutImportDeps.device). */
export const TAKEOUT_FOLDER_LABEL = 'Google Takeout';

export interface TakeoutImportOptions {
  dryRun: boolean;
  includeTrashed: boolean;
  signal: AbortSignal;
}

/** key: the album folder's name (unique in an export, the same whichever part it is read from) */
export type TakeoutAlbumReport = ImportAlbumReport;

export interface TakeoutReport {
  dryRun: boolean;
  parts: string[];
  /** distinct contents (a photo in an album and in its year folder counts once) */
  photos: number;
  videos: number;
  /** media files found, copies included */
  files: number;
  /** contents sent now (in a dry run: that would be sent) */
  uploaded: number;
  uploadedBytes: number;
  alreadyOnVault: number;
  /** metadata records the vault stored */
  metadataStored: number;
  /** files whose place (device, "Google Takeout", path) the vault recorded */
  placesRegistered: number;
  albums: TakeoutAlbumReport[];
  matchedSidecars: number;
  unmatchedSidecars: { path: string; reason: string }[];
  mediaWithoutSidecar: string[];
  skippedTrash: string[];
  problems: { path: string; message: string }[];
}

interface Item {
  entry: ExportEntry;
  match: MediaMatch;
  sidecar: TakeoutSidecar | null;
  sha256: string | null;
}

interface Content {
  sha256: string;
  kind: 'image' | 'video';
  /** every file of this content, the first one the one sent */
  items: Item[];
  metadata: MediaMetadata | null;
}

const readText = (entry: ExportEntry) => readTextUpTo(entry, MAX_JSON_BYTES);

/** Imports the export made of `sources` (its parts). See the module header. */
export async function importTakeout(
  sources: readonly ExportSource[],
  deps: TakeoutImportDeps,
  opts: TakeoutImportOptions,
): Promise<TakeoutReport> {
  const { signal } = opts;
  const report: TakeoutReport = {
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
    albums: [],
    matchedSidecars: 0,
    unmatchedSidecars: [],
    mediaWithoutSidecar: [],
    skippedTrash: [],
    problems: [],
  };
  // One tree from every part: the first part that holds a path wins.
  const byPath = new Map<string, ExportEntry>();
  for (const source of sources) {
    for (const r of source.refused) report.problems.push(r);
    for (const e of source.entries) if (!byPath.has(e.path)) byPath.set(e.path, e);
  }
  const match = matchSidecars([...byPath.keys()]);
  report.unmatchedSidecars = match.unmatchedSidecars.map((u) => ({
    path: u.path,
    reason:
      u.reason === 'ambiguous'
        ? `could describe several files: ${(u.candidates ?? []).join(', ')}`
        : u.reason === 'media_has_one'
          ? 'its photo already has a sidecar'
          : 'no photo or video of that name in the export',
  }));

  // Sidecars and album titles (small JSON, read whole).
  const sidecars = new Map<string, TakeoutSidecar | null>();
  const sidecarPaths = [
    ...new Set(match.media.flatMap((m) => (m.sidecar === null ? [] : [m.sidecar]))),
  ];
  await eachLimited(sidecarPaths, HASH_PARALLEL, async (path) => {
    const entry = byPath.get(path);
    let parsed: TakeoutSidecar | null = null;
    try {
      if (entry) {
        const result = parseTakeoutSidecar(await readText(entry));
        if (result.ok) parsed = result.value;
        else report.problems.push({ path, message: `sidecar ${result.problem}` });
      }
    } catch (err) {
      report.problems.push({ path, message: `sidecar unreadable: ${message(err)}` });
    }
    sidecars.set(path, parsed);
  });
  const albumTitles = new Map<string, { title: string; description: string }>();
  for (const [folder, path] of match.albumMetadata) {
    const entry = byPath.get(path);
    try {
      const result = entry ? parseTakeoutAlbum(await readText(entry)) : null;
      if (result?.ok && result.value.title.trim() !== '') {
        albumTitles.set(folder, {
          title: result.value.title,
          description: result.value.description ?? '',
        });
      } else if (result && !result.ok) {
        report.problems.push({ path, message: `album metadata ${result.problem}` });
      }
    } catch (err) {
      report.problems.push({ path, message: `album metadata unreadable: ${message(err)}` });
    }
  }

  // Which files are brought in.
  const items: Item[] = [];
  for (const m of match.media) {
    const entry = byPath.get(m.path);
    if (!entry) continue;
    const sidecar = m.sidecar === null ? null : (sidecars.get(m.sidecar) ?? null);
    const folder = folderOf(m.path);
    const role = folderRole(baseName(folder), match.albumMetadata.has(folder));
    if (!opts.includeTrashed && (sidecar?.trashed === true || role === 'trash')) {
      report.skippedTrash.push(m.path);
      continue;
    }
    report.files++;
    if (m.sidecar === null) report.mediaWithoutSidecar.push(m.path);
    else if (sidecar) report.matchedSidecars++;
    items.push({ entry, match: m, sidecar, sha256: null });
  }

  // Hash every file (streamed, in place), and group copies of one content.
  const hashes = await hashEntries(
    items.map((i) => i.entry),
    report,
    signal,
  );
  for (const item of items) item.sha256 = hashes.get(item.entry) ?? null;
  const contents = new Map<string, Content>();
  for (const item of items) {
    if (item.sha256 === null) continue;
    let c = contents.get(item.sha256);
    if (!c) {
      c = { sha256: item.sha256, kind: item.match.kind, items: [], metadata: null };
      contents.set(item.sha256, c);
    }
    c.items.push(item);
    if (c.metadata === null && item.sidecar) {
      const mime = classifyByExtension(baseName(item.entry.path));
      c.metadata = {
        ...metadataFromSidecar(item.sidecar, {
          mime: mime?.kind === 'media' ? mime.mime : null,
          zoneAt: deps.zoneAt,
        }),
        originalPath: withoutControlCharacters(item.entry.path).slice(0, 4096),
      };
    }
  }
  for (const c of contents.values()) {
    if (c.kind === 'video') report.videos++;
    else report.photos++;
  }

  // What the vault lacks, and sending it.
  const all = [...contents.keys()];
  const held = deps.vault ? await deps.vault.check(all, signal) : new Set<string>();
  const missing = [...contents.values()].filter((c) => !held.has(c.sha256));
  report.alreadyOnVault = all.length - missing.length;
  if (opts.dryRun || !deps.uploader) {
    report.uploaded = missing.length;
    report.uploadedBytes = missing.reduce((n, c) => n + (c.items[0]?.entry.size ?? 0), 0);
  } else {
    const sent = await sendMissing(
      missing.map((c) => ({ sha256: c.sha256, entry: (c.items[0] as Item).entry })),
      sources,
      deps.uploader,
      deps.stagingDir,
      report,
      signal,
    );
    for (const s of sent) held.add(s);
  }

  // Metadata from the sidecars, for every content the vault now holds.
  if (!opts.dryRun && deps.vault) {
    const sentNow = new Set(missing);
    await storeMetadata(
      deps.vault,
      [...contents.values()].flatMap((c) =>
        c.metadata !== null && held.has(c.sha256)
          ? [
              {
                sha256: c.sha256,
                metadata: c.metadata,
                path: c.items[0]?.entry.path ?? c.sha256,
                sentNow: sentNow.has(c),
              },
            ]
          : [],
      ),
      mergeMetadata,
      report,
      signal,
    );
  }

  // Every file's place, so restore brings back each path (album copies included).
  if (!opts.dryRun && deps.vault && deps.device) {
    await registerPlaces(
      deps.vault,
      deps.device,
      TAKEOUT_FOLDER_LABEL,
      items.flatMap((i) =>
        i.sha256 !== null && held.has(i.sha256) ? [{ sha256: i.sha256, entry: i.entry }] : [],
      ),
      report,
      signal,
    );
  }

  // Albums: every folder of media that is not a year, trash or archive folder.
  const folders = new Map<string, Item[]>();
  for (const item of items) {
    const folder = folderOf(item.entry.path);
    const list = folders.get(folder) ?? [];
    list.push(item);
    folders.set(folder, list);
  }
  const albums = [];
  for (const [folder, list] of [...folders].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (folderRole(baseName(folder), match.albumMetadata.has(folder)) !== 'album') continue;
    if (folder === '') continue;
    const title = albumTitles.get(folder);
    const members = [
      ...new Set(
        list
          .filter((i) => i.sha256 !== null && (opts.dryRun || held.has(i.sha256)))
          .sort((a, b) => orderKey(a) - orderKey(b) || (a.entry.path < b.entry.path ? -1 : 1))
          .map((i) => i.sha256 as string),
      ),
    ];
    albums.push({
      name: title?.title ?? baseName(folder),
      key: baseName(folder),
      ...(title?.description ? { description: title.description } : {}),
      members,
      path: folder,
    });
  }
  report.albums = await createAlbums(
    opts.dryRun ? null : deps.vault,
    'takeout',
    albums,
    report,
    signal,
  );
  report.problems.sort((a, b) => (a.path < b.path ? -1 : 1));
  return report;
}

/** photoTakenTime in seconds, or +Infinity: an album is ordered by capture time, then name. */
function orderKey(item: Item): number {
  const t = item.sidecar?.photoTakenTime?.timestamp;
  const n = t === undefined ? NaN : Number(t);
  return Number.isFinite(n) && n !== 0 ? n : Number.POSITIVE_INFINITY;
}
