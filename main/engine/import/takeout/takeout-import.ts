// `keepsake import takeout`: brings a Google Takeout export (folders or .zip parts) to the
// vault with the dates, places, captions and albums that live only in its JSON sidecars.
// Owns the order of the run: list every part, match sidecars by name
// (sidecar-match.ts), read them (sidecar-reader.ts), hash each photo and video, ask the vault
// which it holds, send the rest through the engine's uploader (batches, tus for large ones),
// attach the sidecar metadata (source 'takeout'), and rebuild the albums.
// Invariant: the export is only read (never written); a re-run sends no bytes and makes no
// second album (the vault's dedup check and its (source, key) albums); every file ends in
// the report: imported, already on the vault, skipped as trash, or a problem with its reason.
//
// [Note: Archive entries on the way to the vault]
// Hashing and the dedup check read a zip entry as a stream, in place. The uploader sends
// files from disk (it re-reads for resume and batches), so an entry the vault lacks is
// copied into the data directory's private staging folder just before it is sent and
// removed right after, a batch (at most 16 MiB) at a time: what is staged is bounded and
// never lies next to the input. What a killed run left there is removed by the next run,
// before it stages anything.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  RECOMMENDED_BATCH_BYTES,
  type MediaMetadata,
  withoutControlCharacters,
} from '../../../../common/vault-protocol.js';
import { isAbortError, KeepsakeError } from '../../errors.js';
import type { Logger } from '../../ports.js';
import type { BatchUploadJob, Uploader } from '../../vault/types.js';
import type { VaultClient } from '../../vault/vault-client.js';
import { classifyByExtension } from '../../watch/media-types.js';
import { folderRole } from './album-folders.js';
import type { ExportEntry, ExportSource } from './export-source.js';
import { matchSidecars, type MediaMatch } from './sidecar-match.js';
import {
  mergeMetadata,
  metadataFromSidecar,
  parseTakeoutAlbum,
  parseTakeoutSidecar,
  type TakeoutSidecar,
} from './sidecar-reader.js';

/** Files up to this size go in batches; larger ones through tus, one by one. */
const BATCH_FILE_LIMIT = 8 * 1024 * 1024;
const MAX_JSON_BYTES = 1024 * 1024;
const HASH_PARALLEL = 4;

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

export interface TakeoutAlbumReport {
  name: string;
  /**
   * the album folder's name (its identity on the vault with source 'takeout'): unique in an
   * export, and the same whichever folder or part it is read from
   */
  key: string;
  members: number;
  /** true: made now; false: it was on the vault already; null: dry run */
  created: boolean | null;
}

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

async function readText(entry: ExportEntry): Promise<string> {
  if (entry.size > MAX_JSON_BYTES) throw new Error(`larger than ${MAX_JSON_BYTES} bytes`);
  const stream = await entry.open();
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function hashEntry(entry: ExportEntry, signal: AbortSignal): Promise<string> {
  const stream = await entry.open();
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of stream) {
      signal.throwIfAborted();
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } finally {
    stream.destroy();
  }
  if (size !== entry.size) throw new Error(`read ${size} bytes where ${entry.size} were listed`);
  return hash.digest('hex');
}

async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
function folderOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

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
  await eachLimited(items, HASH_PARALLEL, async (item) => {
    try {
      item.sha256 = item.entry.sha256 ?? (await hashEntry(item.entry, signal));
    } catch (err) {
      if (isAbortError(err) || signal.aborted) throw err;
      report.problems.push({ path: item.entry.path, message: `unreadable: ${message(err)}` });
    }
  });
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
      missing,
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
    const withMetadata = [...contents.values()].filter(
      (c): c is Content & { metadata: MediaMetadata } => c.metadata !== null && held.has(c.sha256),
    );
    // Content the vault held before keeps what a backup read from the file itself.
    const sentNow = new Set(missing);
    const before = withMetadata.filter((c) => !sentNow.has(c));
    await eachLimited(before, HASH_PARALLEL, async (c) => {
      const asset = await deps.vault?.asset(c.sha256, signal);
      if (asset && asset.metadata !== null) c.metadata = mergeMetadata(asset.metadata, c.metadata);
    });
    if (withMetadata.length > 0) {
      const results = await deps.vault.putMetadataBatch(
        withMetadata.map((c) => ({ sha256: c.sha256, metadata: c.metadata })),
        signal,
      );
      results.forEach((r, i) => {
        if (r.status === 'stored') report.metadataStored++;
        else {
          const path = withMetadata[i]?.items[0]?.entry.path ?? r.sha256;
          report.problems.push({
            path,
            message: `the vault refused its metadata: ${r.message ?? r.status}`,
          });
        }
      });
    }
  }

  // Every file's place, so restore brings back each path (album copies included).
  if (!opts.dryRun && deps.vault && deps.device) {
    const placed = items.filter(
      (i): i is Item & { sha256: string } => i.sha256 !== null && held.has(i.sha256),
    );
    const results = await deps.vault.registerLocations(
      deps.device,
      placed.map((i) => ({
        sha256: i.sha256,
        folder: TAKEOUT_FOLDER_LABEL,
        pathB64: Buffer.from(i.entry.path, 'utf8').toString('base64'),
        path: i.entry.path,
        size: i.entry.size,
        mtimeMs: i.entry.mtimeMs,
      })),
      signal,
    );
    results.forEach((r, k) => {
      if (r.ok) report.placesRegistered++;
      else {
        const path = placed[k]?.entry.path ?? '';
        report.problems.push({ path, message: `its place was not recorded: ${r.message}` });
      }
    });
  }

  // Albums: every folder of media that is not a year, trash or archive folder.
  const folders = new Map<string, Item[]>();
  for (const item of items) {
    const folder = folderOf(item.entry.path);
    const list = folders.get(folder) ?? [];
    list.push(item);
    folders.set(folder, list);
  }
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
    const name = title?.title ?? baseName(folder);
    const key = baseName(folder);
    if (members.length === 0) continue;
    if (opts.dryRun || !deps.vault) {
      report.albums.push({ name, key, members: members.length, created: null });
      continue;
    }
    try {
      const reply = await deps.vault.createAlbum(
        {
          name,
          ...(title?.description ? { description: title.description } : {}),
          source: 'takeout',
          key,
          members,
        },
        signal,
      );
      report.albums.push({
        name,
        key,
        members: reply.album.memberCount,
        created: reply.created,
      });
    } catch (err) {
      if (isAbortError(err) || signal.aborted) throw err;
      report.problems.push({ path: folder, message: `album not made: ${message(err)}` });
    }
  }
  report.problems.sort((a, b) => (a.path < b.path ? -1 : 1));
  return report;
}

/** photoTakenTime in seconds, or +Infinity: an album is ordered by capture time, then name. */
function orderKey(item: Item): number {
  const t = item.sidecar?.photoTakenTime?.timestamp;
  const n = t === undefined ? NaN : Number(t);
  return Number.isFinite(n) && n !== 0 ? n : Number.POSITIVE_INFINITY;
}

/**
 * Sends each content the vault lacks (its first file), small ones in batches and large ones
 * through tus; answers the hashes the vault now holds. See [Note: Archive entries ...].
 */
async function sendMissing(
  missing: readonly Content[],
  sources: readonly ExportSource[],
  uploader: Uploader,
  stagingDir: string,
  report: TakeoutReport,
  signal: AbortSignal,
): Promise<string[]> {
  const held: string[] = [];
  let fileId = 0;
  const staged: string[] = [];
  let runDir: string | null = null;
  const pathFor = async (c: Content, entry: ExportEntry, body?: Readable): Promise<string> => {
    if (entry.diskPath !== null) return entry.diskPath;
    if (runDir === null) {
      // A run killed mid-send (kill -9, power cut) left its staged copies behind; the import
      // holds the data directory's lock, so every run-* folder here is such a leftover.
      await rm(stagingDir, { recursive: true, force: true });
      await mkdir(stagingDir, { recursive: true, mode: 0o700 });
      runDir = await mkdtemp(join(stagingDir, 'run-'));
    }
    const target = join(runDir, c.sha256);
    staged.push(target);
    await pipeline(body ?? (await entry.open()), createWriteStream(target, { mode: 0o600 }), {
      signal,
    });
    // The uploader checks that a file still has the size and mtime it was hashed with.
    await utimes(target, new Date(entry.mtimeMs), new Date(entry.mtimeMs));
    return target;
  };
  const clearStaged = async () => {
    await Promise.all(staged.splice(0).map((p) => rm(p, { force: true })));
  };
  const jobOf = async (c: Content, body?: Readable): Promise<BatchUploadJob> => {
    const entry = (c.items[0] as Item).entry;
    const mime = classifyByExtension(baseName(entry.path));
    return {
      fileId: ++fileId,
      path: await pathFor(c, entry, body),
      size: entry.size,
      sha256: c.sha256,
      mtimeMs: entry.mtimeMs,
      filename: withoutControlCharacters(baseName(entry.path)),
      relPath: withoutControlCharacters(entry.path),
      mime: mime?.kind === 'media' ? mime.mime : null,
    };
  };
  const problem = (c: Content, err: unknown) => {
    const path = c.items[0]?.entry.path ?? c.sha256;
    report.problems.push({ path, message: `not sent: ${message(err)}` });
  };
  const sendGroup = async (group: readonly { c: Content; job: BatchUploadJob }[]) => {
    try {
      const jobs = group.map((g) => g.job);
      const outcomes = uploader.uploadBatch
        ? await uploader.uploadBatch(jobs, signal)
        : await uploadOneByOne(uploader, jobs, signal);
      outcomes.forEach((o, k) => {
        const c = (group[k] as { c: Content }).c;
        if (o.outcome === 'refused') problem(c, o.error);
        else {
          held.push(c.sha256);
          report.uploaded++;
          report.uploadedBytes += c.items[0]?.entry.size ?? 0;
        }
      });
    } finally {
      await clearStaged();
    }
  };
  const sendLarge = async (c: Content, job: () => Promise<BatchUploadJob>) => {
    try {
      const j = await job();
      await uploader.upload({ ...j, resume: null }, noCallbacks, signal);
      held.push(c.sha256);
      report.uploaded++;
      report.uploadedBytes += j.size;
    } catch (err) {
      if (isAbortError(err) || signal.aborted) throw err;
      if (err instanceof KeepsakeError && !fileLevel(err)) throw err;
      problem(c, err);
    } finally {
      await clearStaged();
    }
  };
  const sizeOf = (c: Content) => c.items[0]?.entry.size ?? 0;
  // Parts read only in order (.tgz) send what they hold in one pass each, below.
  const inOrder = new Map(sources.filter((s) => s.scan !== undefined).map((s) => [s.part, s]));
  try {
    const random = missing.filter((c) => !inOrder.has(c.items[0]?.entry.part ?? ''));
    const small = random.filter((c) => sizeOf(c) <= BATCH_FILE_LIMIT);
    // Small files in groups of at most RECOMMENDED_BATCH_BYTES (staged ones on disk only
    // for their group).
    for (let i = 0; i < small.length;) {
      const group: { c: Content; job: BatchUploadJob }[] = [];
      let bytes = 0;
      while (i < small.length) {
        const c = small[i] as Content;
        if (group.length > 0 && bytes + sizeOf(c) > RECOMMENDED_BATCH_BYTES) break;
        group.push({ c, job: await jobOf(c) });
        bytes += sizeOf(c);
        i++;
      }
      await sendGroup(group);
    }
    for (const c of random.filter((x) => sizeOf(x) > BATCH_FILE_LIMIT)) {
      await sendLarge(c, () => jobOf(c));
    }
    for (const source of inOrder.values()) {
      const wanted = new Map(
        missing
          .filter((c) => c.items[0]?.entry.part === source.part)
          .map((c) => [(c.items[0] as Item).entry.path, c]),
      );
      if (wanted.size === 0 || !source.scan) continue;
      let group: { c: Content; job: BatchUploadJob }[] = [];
      let bytes = 0;
      for await (const found of source.scan(new Set(wanted.keys()), signal)) {
        const c = wanted.get(found.path);
        if (!c) continue;
        if (sizeOf(c) > BATCH_FILE_LIMIT) {
          await sendLarge(c, () => jobOf(c, found.body));
          continue;
        }
        if (group.length > 0 && bytes + sizeOf(c) > RECOMMENDED_BATCH_BYTES) {
          await sendGroup(group);
          group = [];
          bytes = 0;
        }
        group.push({ c, job: await jobOf(c, found.body) });
        bytes += sizeOf(c);
      }
      if (group.length > 0) await sendGroup(group);
    }
  } finally {
    await clearStaged();
    if (runDir !== null) await rm(runDir, { recursive: true, force: true });
  }
  return held;
}

/** Codes that concern one file; others (vault full, sign-in) end the run. */
function fileLevel(err: KeepsakeError): boolean {
  return [
    'file_changed',
    'file_not_found',
    'read_error',
    'verification_failed',
    'too_large',
    'upload_rejected',
  ].includes(err.code);
}

const noCallbacks = {
  onCreated: () => undefined,
  onOffset: () => undefined,
  onProgress: () => undefined,
};

async function uploadOneByOne(
  uploader: Uploader,
  jobs: readonly BatchUploadJob[],
  signal: AbortSignal,
): ReturnType<NonNullable<Uploader['uploadBatch']>> {
  const outcomes = [];
  for (const job of jobs) {
    try {
      await uploader.upload({ ...job, resume: null }, noCallbacks, signal);
      outcomes.push({ fileId: job.fileId, sha256: job.sha256, outcome: 'stored' as const });
    } catch (err) {
      if (isAbortError(err) || signal.aborted || !(err instanceof KeepsakeError)) throw err;
      outcomes.push({
        fileId: job.fileId,
        sha256: job.sha256,
        outcome: 'refused' as const,
        error: err,
      });
    }
  }
  return outcomes;
}
