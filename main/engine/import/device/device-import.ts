// `keepsake import device` and the daemon's card import (issue 12 section 4): a camera card,
// or any volume with a DCIM folder, into a local folder organised by capture date, then to
// the vault. Owns the order of a run: scan the card (card-scan.ts), hash every photo and
// video, ask the vault which it holds (batches of 1,000), read the capture date of the rest
// (exiftool, through the metadata reader), copy each into its dated folder and prove the copy
// (verified-copy.ts), back the copies up through the engine (the caller's `backUp`), then ask
// the vault again for every file found: only when it holds them all is the card "safe to
// erase".
// Invariants: the card is only read, never written or deleted from; a file under its final
// name in the destination is whole and verified; every file found ends in the report as
// imported, already on the vault, or failed with its reason; a re-run (after a pulled card or a
// kill -9) copies only what is not there yet and never a second copy of the same content.
//
// [Note: Reading the card twice]
// Each new file is read twice from the card: once to hash it (so the vault can be asked, in
// one batch, before anything is copied) and once to copy it. Copying first would write files
// the vault already holds (a card inserted again is mostly that) and then remove them again.
// The second read also proves the card gives the same bytes twice; a failing card shows here.
import { basename, join } from 'node:path';
import { KeepsakeError, isAbortError, serializeError } from '../../errors.js';
import type { FileHasher } from '../../hash/types.js';
import type { MetadataReader } from '../../metadata/types.js';
import type { Logger } from '../../ports.js';
import type { VaultClient } from '../../vault/vault-client.js';
import { scanCard, type CardFile } from './card-scan.js';
import { captureDateOf, datedFolder, localDateOf, type DatePattern } from './dated-folder.js';
import { copyVerified } from './verified-copy.js';

/** Files hashed at once: a card is one device; two reads keep it busy without thrashing. */
const HASH_PARALLEL = 2;

export interface DeviceImportDeps {
  hasher: FileHasher;
  /** null: dates come from the files' modification times only. */
  metadata: MetadataReader | null;
  vault: Pick<VaultClient, 'check' | 'checkStates'>;
  /**
   * Backs these copies up (through the engine, as `keepsake backup` does) and resolves once
   * the engine settled them, backed up or failed; safe-to-erase asks the vault afterwards.
   */
  backUp(copies: readonly { path: string; sha256: string }[], signal?: AbortSignal): Promise<void>;
  logger: Logger;
}

export interface DeviceImportOptions {
  /** The card's top folder (the mount point), which holds DCIM. */
  card: string;
  /** The local folder the photos are copied into, under `pattern`. */
  into: string;
  pattern: DatePattern;
  signal?: AbortSignal;
  onProgress?: (progress: DeviceImportProgress) => void;
}

export interface DeviceImportProgress {
  phase: 'scanning' | 'hashing' | 'asking_vault' | 'reading_dates' | 'copying' | 'backing_up';
  done: number;
  total: number;
}

export interface DeviceImportReport {
  card: string;
  into: string;
  /** Photos and videos found under DCIM. */
  found: number;
  /** Now in the destination folder: copied by this run, or by an earlier one (alreadyCopied). */
  imported: number;
  /** Already on the vault before this run: not copied. */
  alreadyOnVault: number;
  /** Could not be read, copied or proven (see failures). */
  failed: number;
  /** Every file found is verified on the vault (and none failed): the card may be erased. */
  safeToErase: boolean;
  /** Of imported: copies made by this run. */
  copied: number;
  /** Of imported: the same content was already in the destination (an earlier, cut-off run). */
  alreadyCopied: number;
  bytesCopied: number;
  /** Of imported: not (yet) on the vault after the backup (the next backup sends them). */
  notOnVault: number;
  /** Imported files whose capture date was not in the file: their folder is the file's mtime. */
  datedByFileTime: string[];
  failures: { path: string; code: string; message: string }[];
  /** Files under DCIM that are not photos or videos (left on the card, not imported). */
  otherFiles: string[];
  /** Why the run stopped before every file was tried (e.g. the destination disk is full). */
  stopped?: { code: string; message: string };
  /** Where each imported file is now, by its path on the card ('/'-separated, under the card). */
  copies: { card: string; path: string; sha256: string }[];
}

interface Hashed {
  file: CardFile;
  sha256: string;
}

export async function importDevice(
  deps: DeviceImportDeps,
  options: DeviceImportOptions,
): Promise<DeviceImportReport> {
  const { signal } = options;
  const progress = options.onProgress ?? (() => {});
  progress({ phase: 'scanning', done: 0, total: 0 });
  const scan = await scanCard(options.card, signal);
  const report: DeviceImportReport = {
    card: options.card,
    into: options.into,
    found: scan.files.length,
    imported: 0,
    alreadyOnVault: 0,
    failed: 0,
    safeToErase: false,
    copied: 0,
    alreadyCopied: 0,
    bytesCopied: 0,
    notOnVault: 0,
    datedByFileTime: [],
    failures: scan.unreadable.map((u) => ({
      path: u.path,
      code: 'permission_denied',
      message: u.message,
    })),
    otherFiles: scan.otherFiles,
    copies: [],
  };
  const fail = (path: string, err: unknown) => {
    if (isAbortError(err) || signal?.aborted) throw err;
    const e = serializeError(err);
    report.failures.push({ path, code: e.code, message: e.message });
  };

  // 1. Hash every file on the card.
  const hashed: Hashed[] = [];
  let done = 0;
  const queue = [...scan.files];
  const worker = async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      try {
        const h = await deps.hasher.hashFile(file.path, signal);
        hashed.push({ file: { ...file, size: h.size, mtimeMs: h.mtimeMs }, sha256: h.sha256 });
      } catch (err) {
        fail(file.path, err);
      }
      progress({ phase: 'hashing', done: ++done, total: scan.files.length });
    }
  };
  await Promise.all(Array.from({ length: HASH_PARALLEL }, worker));
  hashed.sort((a, b) => (a.file.rel < b.file.rel ? -1 : a.file.rel > b.file.rel ? 1 : 0));

  // 2. Ask the vault which it holds (batched by the client).
  progress({ phase: 'asking_vault', done: 0, total: hashed.length });
  const held = await deps.vault.check([...new Set(hashed.map((h) => h.sha256))], signal);
  const fresh = hashed.filter((h) => !held.has(h.sha256));
  report.alreadyOnVault = hashed.length - fresh.length;

  // 3. Capture dates of what is to be copied (the reader batches them into exiftool calls).
  progress({ phase: 'reading_dates', done: 0, total: fresh.length });
  const dated = await Promise.all(
    fresh.map(async (h) => {
      let captureTime: string | null = null;
      let fromFileTime = true;
      if (deps.metadata) {
        const read = await deps.metadata.read(h.file.path, h.file.mtimeMs, signal);
        captureTime = read.metadata.captureTime;
        fromFileTime =
          read.metadata.captureTimeSource === 'mtime' || read.metadata.captureTimeSource === null;
      }
      const date =
        (fromFileTime ? null : captureDateOf(captureTime)) ?? localDateOf(h.file.mtimeMs);
      return { ...h, folder: datedFolder(options.pattern, date), fromFileTime };
    }),
  );

  // 4. Copy and prove each, one at a time (a card reads best sequentially). Same content twice
  // on the card is copied once.
  const placed = new Map<string, string>();
  done = 0;
  for (const item of dated) {
    signal?.throwIfAborted();
    progress({ phase: 'copying', done: done++, total: dated.length });
    if (report.stopped) {
      report.failures.push({ path: item.file.path, ...report.stopped });
      continue;
    }
    const earlier = placed.get(item.sha256);
    if (earlier !== undefined) {
      report.imported++;
      report.alreadyCopied++;
      report.copies.push({ card: item.file.rel, path: earlier, sha256: item.sha256 });
      continue;
    }
    try {
      const outcome = await copyVerified(
        item.file.path,
        join(options.into, item.folder),
        basename(item.file.path),
        { sha256: item.sha256, size: item.file.size },
        signal,
      );
      placed.set(item.sha256, outcome.path);
      report.imported++;
      if (outcome.kind === 'copied') {
        report.copied++;
        report.bytesCopied += item.file.size;
      } else report.alreadyCopied++;
      if (item.fromFileTime) report.datedByFileTime.push(item.file.rel);
      report.copies.push({ card: item.file.rel, path: outcome.path, sha256: item.sha256 });
    } catch (err) {
      fail(item.file.path, err);
      if (err instanceof KeepsakeError && err.code === 'disk_full') {
        report.stopped = { code: err.code, message: err.message };
      }
    }
  }
  progress({ phase: 'copying', done: dated.length, total: dated.length });

  // 5. Back the copies up, then ask the vault about every file found.
  if (report.copies.length > 0) {
    progress({ phase: 'backing_up', done: 0, total: report.copies.length });
    await deps.backUp(
      report.copies.map((c) => ({ path: c.path, sha256: c.sha256 })),
      signal,
    );
  }
  const states = await deps.vault.checkStates([...new Set(hashed.map((h) => h.sha256))], signal);
  report.notOnVault = report.copies.filter((c) => !states.present.has(c.sha256)).length;
  const everyFileOnVault = hashed.every((h) => states.present.has(h.sha256));
  report.failed = report.failures.length;
  report.safeToErase = report.failed === 0 && everyFileOnVault && report.stopped === undefined;
  deps.logger.info('device import done', {
    found: report.found,
    imported: report.imported,
    alreadyOnVault: report.alreadyOnVault,
    failed: report.failed,
    safeToErase: report.safeToErase,
  });
  return report;
}
