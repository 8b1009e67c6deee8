// The steps every library import (Google Takeout, Apple's iCloud Photos copy) takes once it
// knows which files it brings and what their export says about them: hash each file in place,
// send the contents the vault lacks through the engine's uploader, store the export's metadata,
// record every file's place for restore, and rebuild the albums. Each import owns its own
// reading of the export; these steps own the vault side.
// Invariant: the export is only read (never written); a re-run sends no bytes and makes no
// second album (the vault's dedup check and its (source, key) albums); whatever a step could
// not do for one file lands in `tally.problems` with its path, and the others go on.
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
  type AlbumSource,
  type MediaMetadata,
  RECOMMENDED_BATCH_BYTES,
  withoutControlCharacters,
} from '../../../../common/vault-protocol.js';
import { isAbortError, KeepsakeError } from '../../errors.js';
import type { BatchUploadJob, Uploader } from '../../vault/types.js';
import type { VaultClient } from '../../vault/vault-client.js';
import { classifyByExtension } from '../../watch/media-types.js';
import type { ExportEntry, ExportSource } from './export-source.js';

/** Files up to this size go in batches; larger ones through tus, one by one. */
const BATCH_FILE_LIMIT = 8 * 1024 * 1024;
export const IMPORT_PARALLEL = 4;

/** What the steps count and the problems they meet; part of each import's report. */
export interface ImportTally {
  /** contents sent now (in a dry run: that would be sent) */
  uploaded: number;
  uploadedBytes: number;
  /** metadata records the vault stored */
  metadataStored: number;
  /** files whose place (device, folder label, path) the vault recorded */
  placesRegistered: number;
  problems: { path: string; message: string }[];
}

export interface ImportAlbumReport {
  name: string;
  /** its identity on the vault within the import's source: the same on every run */
  key: string;
  members: number;
  /** true: made now; false: it was on the vault already; null: dry run */
  created: boolean | null;
}

/** One content to send: its hash and the file it is sent from. */
export interface ContentToSend {
  sha256: string;
  entry: ExportEntry;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function folderOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** A small text file of the export (a sidecar, a CSV), whole; refused above `maxBytes`. */
export async function readText(entry: ExportEntry, maxBytes: number): Promise<string> {
  if (entry.size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
  const stream = await entry.open();
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function hashEntry(entry: ExportEntry, signal: AbortSignal): Promise<string> {
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

export async function eachLimited<T>(
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

/**
 * Hashes every entry (streamed, in place; what a listing pass already hashed is kept), a few
 * at a time. An unreadable file is a problem and answers null; an abort ends the run.
 */
export async function hashEntries(
  entries: readonly ExportEntry[],
  tally: Pick<ImportTally, 'problems'>,
  signal: AbortSignal,
): Promise<Map<ExportEntry, string>> {
  const out = new Map<ExportEntry, string>();
  await eachLimited(entries, IMPORT_PARALLEL, async (entry) => {
    try {
      out.set(entry, entry.sha256 ?? (await hashEntry(entry, signal)));
    } catch (err) {
      if (isAbortError(err) || signal.aborted) throw err;
      tally.problems.push({ path: entry.path, message: `unreadable: ${errorMessage(err)}` });
    }
  });
  return out;
}

/**
 * Stores each content's metadata from the export. Content the vault held before the run keeps
 * what a backup read from the file itself: `merge` lays the export's fields over it.
 */
export async function storeMetadata(
  vault: VaultClient,
  records: readonly { sha256: string; metadata: MediaMetadata; path: string; sentNow: boolean }[],
  merge: (existing: unknown, fromExport: MediaMetadata) => MediaMetadata,
  tally: ImportTally,
  signal: AbortSignal,
): Promise<void> {
  if (records.length === 0) return;
  const final = records.map((r) => ({ ...r }));
  await eachLimited(
    final.filter((r) => !r.sentNow),
    IMPORT_PARALLEL,
    async (r) => {
      const asset = await vault.asset(r.sha256, signal);
      if (asset && asset.metadata !== null) r.metadata = merge(asset.metadata, r.metadata);
    },
  );
  const results = await vault.putMetadataBatch(
    final.map((r) => ({ sha256: r.sha256, metadata: r.metadata })),
    signal,
  );
  results.forEach((r, i) => {
    if (r.status === 'stored') tally.metadataStored++;
    else {
      tally.problems.push({
        path: final[i]?.path ?? r.sha256,
        message: `the vault refused its metadata: ${r.message ?? r.status}`,
      });
    }
  });
}

/**
 * Records every file's place on the vault under this computer and `folderLabel` (its path in
 * the export), so restore brings each path back, album copies included.
 */
export async function registerPlaces(
  vault: VaultClient,
  device: { id: string; name: string },
  folderLabel: string,
  placed: readonly ContentToSend[],
  tally: ImportTally,
  signal: AbortSignal,
): Promise<void> {
  if (placed.length === 0) return;
  const results = await vault.registerLocations(
    device,
    placed.map(({ sha256, entry }) => ({
      sha256,
      folder: folderLabel,
      pathB64: Buffer.from(entry.path, 'utf8').toString('base64'),
      path: entry.path,
      size: entry.size,
      mtimeMs: entry.mtimeMs,
    })),
    signal,
  );
  results.forEach((r, k) => {
    if (r.ok) tally.placesRegistered++;
    else {
      const path = placed[k]?.entry.path ?? '';
      tally.problems.push({ path, message: `its place was not recorded: ${r.message}` });
    }
  });
}

/**
 * Makes each album on the vault (or, in a dry run without a vault, only reports it). The vault
 * answers the album already there for a (source, key) it knows: a re-run makes none twice.
 * `path` names the album in a problem.
 */
export async function createAlbums(
  vault: VaultClient | null,
  source: AlbumSource,
  albums: readonly {
    name: string;
    key: string;
    description?: string;
    members: string[];
    path: string;
  }[],
  tally: ImportTally,
  signal: AbortSignal,
): Promise<ImportAlbumReport[]> {
  const out: ImportAlbumReport[] = [];
  for (const a of albums) {
    if (a.members.length === 0) continue;
    if (!vault) {
      out.push({ name: a.name, key: a.key, members: a.members.length, created: null });
      continue;
    }
    try {
      const reply = await vault.createAlbum(
        {
          name: a.name,
          ...(a.description ? { description: a.description } : {}),
          source,
          key: a.key,
          members: a.members,
        },
        signal,
      );
      out.push({
        name: a.name,
        key: a.key,
        members: reply.album.memberCount,
        created: reply.created,
      });
    } catch (err) {
      if (isAbortError(err) || signal.aborted) throw err;
      tally.problems.push({ path: a.path, message: `album not made: ${errorMessage(err)}` });
    }
  }
  return out;
}

/**
 * Sends each content the vault lacks (from its entry), small ones in batches and large ones
 * through tus; answers the hashes the vault now holds. See [Note: Archive entries ...].
 */
export async function sendMissing(
  missing: readonly ContentToSend[],
  sources: readonly ExportSource[],
  uploader: Uploader,
  stagingDir: string,
  tally: ImportTally,
  signal: AbortSignal,
): Promise<string[]> {
  const held: string[] = [];
  let fileId = 0;
  const staged: string[] = [];
  let runDir: string | null = null;
  const pathFor = async (c: ContentToSend, body?: Readable): Promise<string> => {
    const { entry } = c;
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
  const jobOf = async (c: ContentToSend, body?: Readable): Promise<BatchUploadJob> => {
    const { entry } = c;
    const mime = classifyByExtension(baseName(entry.path));
    return {
      fileId: ++fileId,
      path: await pathFor(c, body),
      size: entry.size,
      sha256: c.sha256,
      mtimeMs: entry.mtimeMs,
      filename: withoutControlCharacters(baseName(entry.path)),
      relPath: withoutControlCharacters(entry.path),
      mime: mime?.kind === 'media' ? mime.mime : null,
    };
  };
  const problem = (c: ContentToSend, err: unknown) => {
    tally.problems.push({ path: c.entry.path, message: `not sent: ${errorMessage(err)}` });
  };
  const sendGroup = async (group: readonly { c: ContentToSend; job: BatchUploadJob }[]) => {
    try {
      const jobs = group.map((g) => g.job);
      const outcomes = uploader.uploadBatch
        ? await uploader.uploadBatch(jobs, signal)
        : await uploadOneByOne(uploader, jobs, signal);
      outcomes.forEach((o, k) => {
        const c = (group[k] as { c: ContentToSend }).c;
        if (o.outcome === 'refused') problem(c, o.error);
        else {
          held.push(c.sha256);
          tally.uploaded++;
          tally.uploadedBytes += c.entry.size;
        }
      });
    } finally {
      await clearStaged();
    }
  };
  const sendLarge = async (c: ContentToSend, job: () => Promise<BatchUploadJob>) => {
    try {
      const j = await job();
      await uploader.upload({ ...j, resume: null }, noCallbacks, signal);
      held.push(c.sha256);
      tally.uploaded++;
      tally.uploadedBytes += j.size;
    } catch (err) {
      if (isAbortError(err) || signal.aborted) throw err;
      if (err instanceof KeepsakeError && !fileLevel(err)) throw err;
      problem(c, err);
    } finally {
      await clearStaged();
    }
  };
  const sizeOf = (c: ContentToSend) => c.entry.size;
  // Parts read only in order (.tgz) send what they hold in one pass each, below.
  const inOrder = new Map(sources.filter((s) => s.scan !== undefined).map((s) => [s.part, s]));
  try {
    const random = missing.filter((c) => !inOrder.has(c.entry.part));
    const small = random.filter((c) => sizeOf(c) <= BATCH_FILE_LIMIT);
    // Small files in groups of at most RECOMMENDED_BATCH_BYTES (staged ones on disk only
    // for their group).
    for (let i = 0; i < small.length;) {
      const group: { c: ContentToSend; job: BatchUploadJob }[] = [];
      let bytes = 0;
      while (i < small.length) {
        const c = small[i] as ContentToSend;
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
        missing.filter((c) => c.entry.part === source.part).map((c) => [c.entry.path, c]),
      );
      if (wanted.size === 0 || !source.scan) continue;
      let group: { c: ContentToSend; job: BatchUploadJob }[] = [];
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
