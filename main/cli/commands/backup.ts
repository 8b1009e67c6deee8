// `keepsake backup FOLDER...`: one pass (scan, hash, dedup, upload, verify, metadata), then
// exit once every file has settled: 0 when every file is backed_up, duplicate or excluded,
// 1 when any failed, a folder could not be read or a backed-up photo is empty, 2 for bad input. A progress bar on a terminal only; --json prints one
// summary object; --dry-run hashes and asks the vault but uploads nothing.
import { statSync } from 'node:fs';
import { formatRate, formatSize } from '../../../common/size-units.js';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { FileRow, Folder, StateCounts } from '../../../common/contract.js';
import type { KeepsakeEngine } from '../../engine/api.js';
import { KeepsakeError } from '../../engine/errors.js';
import { displayJson } from '../../engine/raw-path.js';
import { deviceOf } from '../../engine/runtime/vault-place.js';
import { isDeviceRevoked } from '../../engine/vault/response-table.js';
import { openHost, type Host } from '../../host/host.js';
import { enrolAsToldOrByPolicy, rememberEnrolment } from '../enrol.js';
import {
  cliLogger,
  cliPolicy,
  describeFailure,
  parseEngineCliOptions,
  UsageError,
  type EngineCliOptions,
} from '../engine-setup.js';

interface BackupOptions extends EngineCliOptions {
  json?: boolean;
  dryRun?: boolean;
}

/** How long `backup` keeps asking a vault that does not answer at the start. */
const firstContactMs = Number(process.env.KEEPSAKE_FIRST_CONTACT_MS ?? 30_000);

/** How long a SIGINT/SIGTERM may take to stop a backup cleanly before it simply exits. */
const signalGraceMs = 3000;

/** How long the vault may stay unreachable before a backup gives up (exit 1). */
const vaultLostMs = Number(process.env.KEEPSAKE_VAULT_LOST_MS ?? 120_000);

/**
 * How long a backup waits for metadata once every file has settled. Metadata never holds a
 * backup up: what is not read or sent by then stays queued in the data directory (metadata
 * pending or read, not sent), and the next run or the daemon sends it. A flaky vault or a
 * slow exiftool costs at most this.
 */
const metadataGraceMs = Number(process.env.KEEPSAKE_METADATA_GRACE_MS ?? 10_000);

export interface BackupSummary {
  files: number;
  backedUp: number;
  duplicates: number;
  excluded: number;
  failed: number;
  /**
   * Of `duplicates`, the files whose content another file here holds (uploaded from there, in
   * this run or an earlier one): "duplicate of another file here", not "already on the vault".
   */
  duplicatesHere: number;
  /** Files looked at that are not photos or videos (listed in skippedFiles with why). */
  skipped: number;
  /** File bytes sent to the vault by this run (after a resume: only what was sent again). */
  bytesUploaded: number;
  seconds: number;
  missing: number;
  dryRun: boolean;
  /** Where the backup went; see [Note: Saying where the backup is]. */
  vault: { url: string; embedded: boolean; dir: string | null; sameDiskAsPhotos: boolean };
  failures: { path: string; code: string; message: string }[];
  skippedFiles: { path: string; reason: string }[];
  /**
   * Folders (or sub-folders) that could not be read (their files are not backed up), and
   * backed-up photos of 0 bytes ('empty_file'; 'possible_damage' when one was backed up with
   * more bytes and is now empty).
   */
  problems: { path: string; code: string; reason: string }[];
  /** Why the run stopped before every file settled (e.g. vault_full); absent when it did not. */
  stopped?: { code: string; message: string };
  wouldUpload?: { path: string; size: number }[];
  /** Dry run: files that would be recorded as duplicates of another file here, and of which. */
  duplicatesOfFilesHere?: { path: string; size: number; of: string }[];
  alreadyOnVault?: { path: string; size: number }[];
  excludedFiles?: { path: string; rule: string | null }[];
}

// [Note: Saying where the backup is]
// Without --to, the copy goes into the embedded vault under the data directory: on this
// computer and, usually, on the same disk as the photos. That protects against a deleted
// file, not against a dead disk or a stolen laptop, so the summary names it as such ("into
// the embedded vault in DIR, on the same disk as your photos") rather than just "backed up".

/**
 * Duplicates whose content another file here holds: the twin a person will find beside it.
 * Those the vault had before (another device, an earlier folder) are "already on the vault".
 */
function duplicatesOfFilesHere(duplicates: FileRow[], backedUp: FileRow[]): FileRow[] {
  const here = new Set(backedUp.map((r) => r.sha256).filter((s): s is string => s !== null));
  return duplicates.filter((r) => r.sha256 !== null && here.has(r.sha256));
}

/**
 * Dry run: queued files whose content an earlier queued file here has. The real run uploads
 * the first (newest first, as the queue orders them) and records the others as duplicates.
 */
function predictedDuplicates(queued: FileRow[]): {
  upload: FileRow[];
  duplicates: { row: FileRow; of: FileRow }[];
} {
  const order = [...queued].sort((a, b) => b.mtimeMs - a.mtimeMs || a.id - b.id);
  const first = new Map<string, FileRow>();
  const upload: FileRow[] = [];
  const duplicates: { row: FileRow; of: FileRow }[] = [];
  for (const r of order) {
    const twin = r.sha256 === null ? undefined : first.get(r.sha256);
    if (twin) {
      duplicates.push({ row: r, of: twin });
      continue;
    }
    if (r.sha256 !== null) first.set(r.sha256, r);
    upload.push(r);
  }
  return { upload, duplicates };
}

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('Back up folders once: scan, hash, dedup, upload, verify; exit when settled')
    .argument('<folders...>', 'folders to back up')
    .option('--to <url>', 'vault URL (default: an embedded vault under the data directory)')
    .option('--token <token>', 'vault access token (or KEEPSAKE_TOKEN)')
    .option(
      '--enroll <code>',
      "with --to: exchange the vault administrator's one-time enrolment code for this computer's own token (remembered)",
    )
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .option('--concurrency <n>', 'files uploaded at once (1-16, default 3)')
    .option(
      '--bwlimit <rate>',
      'upload bandwidth cap in binary units, e.g. 4M (= 4 MiB/s), or a schedule "Mon-08:00,2M Mon-18:00,off"',
    )
    .option('--chunk-size <size>', 'tus PATCH chunk size, e.g. 8M (= 8 MiB)')
    .option('--ca-file <file>', 'extra CA bundle (PEM) for TLS inspection proxies')
    .option('--json', 'print one JSON summary object')
    .option(
      '--dry-run',
      'hash and ask the vault, but upload nothing; report what would be uploaded',
    )
    .action(async (folders: string[], opts: BackupOptions) => {
      process.exitCode = await runBackup(folders, opts);
    });
}

function sumCounts(folders: Folder[]): StateCounts {
  const total = { ...folders[0]?.counts } as StateCounts;
  for (const key of Object.keys(total) as (keyof StateCounts)[]) total[key] = 0;
  for (const f of folders) {
    for (const key of Object.keys(f.counts) as (keyof StateCounts)[]) total[key] += f.counts[key];
  }
  return total;
}

async function listAll(
  engine: KeepsakeEngine,
  folderIds: number[],
  state: FileRow['state'],
): Promise<FileRow[]> {
  const rows: FileRow[] = [];
  for (const folderId of folderIds) {
    let cursor: string | null = null;
    for (;;) {
      const page = await engine.api['files.list']({ state, folderId, limit: 1000, cursor });
      rows.push(...page.files);
      if (!page.next) break;
      cursor = page.next;
    }
  }
  return rows;
}

function startProgressBar(engine: KeepsakeEngine): () => void {
  const render = async () => {
    const s = await engine.api['status.get']({});
    const c = s.counts;
    const done = c.backed_up + c.duplicate + c.failed;
    const total = s.filesTotal;
    const width = 30;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    const rate = s.throughputBytesPerSecond > 0 ? ` ${formatRate(s.throughputBytesPerSecond)}` : '';
    process.stderr.write(
      `\r[${bar}] ${done}/${total} files, ${formatSize(s.bytesPending)} left${rate}${c.failed ? `, ${c.failed} failed` : ''}   `,
    );
  };
  const timer = setInterval(() => void render().catch(() => {}), 250);
  return () => {
    clearInterval(timer);
    process.stderr.write('\n');
  };
}

export async function runBackup(folderArgs: string[], opts: BackupOptions): Promise<number> {
  const startedAt = performance.now();
  let cli: Host | null = null;
  const abort = new AbortController();
  const onSignal = () => {
    abort.abort(new Error('interrupted'));
    // Stopping cleanly (offsets kept, the open group committed) normally takes well under a
    // second; whatever it waits on (a vault that does not answer, a scan of a slow share), a
    // signal ends the run within seconds.
    setTimeout(() => {
      process.stderr.write(
        'keepsake backup: interrupted; the next run continues where this one stopped\n',
      );
      process.exit(130);
    }, signalGraceMs).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const parsed = parseEngineCliOptions(opts);
    const folders = folderArgs.map((f) => resolve(f));
    for (const f of folders) {
      let isDir = false;
      try {
        isDir = statSync(f).isDirectory();
      } catch {
        throw new UsageError(`no such folder: ${f}`);
      }
      if (!isDir) throw new UsageError(`not a folder: ${f}`);
    }
    const policy = await cliPolicy('backup', opts);
    const enrolled = await enrolAsToldOrByPolicy('backup', parsed, policy.current, abort.signal);
    cli = await openHost({
      policy,
      dataDir: parsed.dataDir,
      vault: parsed.vault,
      logger: cliLogger('warn'),
      engine: {
        overrides: parsed.overrides,
        createWatcher: null,
        reconcileIntervalMs: 0,
        dryRun: opts.dryRun === true,
      },
    });
    const { engine } = cli;
    if (enrolled !== null) await rememberEnrolment(engine, enrolled, policy.current);
    await firstContact(engine, cli.vaultUrl, abort.signal);
    const folderIds: number[] = [];
    for (const f of folders) folderIds.push((await engine.api['folders.add']({ path: f })).id);
    const stopBar = process.stderr.isTTY && !opts.json ? startProgressBar(engine) : null;
    // A vault that stays unreachable (uploads retry with backoff; the dedup check would
    // wait forever) ends the run with an error instead of hanging it.
    const lostVault = new AbortController();
    let unreachableSince: number | null = null;
    const watchVault = setInterval(() => {
      void engine.api['status.get']({}).then((st) => {
        if (st.vault.reachable) unreachableSince = null;
        else unreachableSince ??= performance.now();
        if (unreachableSince !== null && performance.now() - unreachableSince > vaultLostMs) {
          lostVault.abort(
            new KeepsakeError('vault_unreachable', `lost the vault at ${cli?.vaultUrl ?? ''}`),
          );
        }
      });
    }, 1000);
    // Why the run stopped before every file settled (the vault's disk is full, the vault was
    // lost, no room for the database here): the summary of where it stopped is still printed,
    // then the reason, and the run exits 1; the next run goes on from there.
    let stopped: KeepsakeError | null = null;
    try {
      await engine.start();
      try {
        await engine.whenSettled(AbortSignal.any([abort.signal, lostVault.signal]));
      } catch (err) {
        if (abort.signal.aborted || !(err instanceof KeepsakeError)) throw err;
        stopped = err;
      }
      if (!opts.dryRun && stopped === null) {
        // A timer we hold, not AbortSignal.timeout(): inside AbortSignal.any() Node 20 holds
        // the timeout signal weakly, and once a GC collected it the grace never ended (a
        // 20,000-file backup waited for every file's metadata).
        const graceOver = new AbortController();
        const graceTimer = setTimeout(() => graceOver.abort(), metadataGraceMs);
        const grace = AbortSignal.any([abort.signal, graceOver.signal]);
        try {
          await engine.whenMetadataSent(grace).catch(() => {
            // Metadata is never a reason to fail a backup; it is sent on a later run.
          });
          // Where each file lives (what a restore rebuilds): sent in a few requests, unsent
          // places are registered by the next run.
          await engine.whenLocationsSent(grace).catch(() => {});
          // Live Photos, RAW+JPEG pairs, edits and sidecars: declared once their members
          // are safe; what is not declared now is by the next run.
          await engine.whenGroupsSent(grace).catch(() => {});
        } finally {
          clearTimeout(graceTimer);
        }
      }
      // How this run left the device, for the vault's fleet view (not when the vault is lost:
      // it would only wait for a timeout). Never fails the run.
      if (stopped?.code !== 'vault_unreachable') await engine.sendHeartbeat('backup');
    } finally {
      clearInterval(watchVault);
      stopBar?.();
    }
    const mine = (await engine.api['folders.list']({})).filter((f) => folderIds.includes(f.id));
    const c = sumCounts(mine);
    const failedRows = await listAll(engine, folderIds, 'failed');
    const duplicateRows = await listAll(engine, folderIds, 'duplicate');
    // Every backed-up row is read only when something needs it: the twins of duplicates, the
    // safe files with a problem (safeFileProblem in runtime/status.ts: status counts each kind),
    // the dry run's list. An unchanged re-run of 5,000 files spent a tenth of its CPU listing
    // them for nothing.
    const st = await engine.api['status.get']({});
    const needBackedUp =
      opts.dryRun === true || duplicateRows.length > 0 || st.emptyFiles + st.placesNotRecorded > 0;
    const backedUpRows = needBackedUp ? await listAll(engine, folderIds, 'backed_up') : [];
    const vaultDev = cli.embeddedDir === null ? null : deviceOf(cli.embeddedDir);
    const summary: BackupSummary = {
      files:
        c.backed_up +
        c.duplicate +
        c.excluded +
        c.skipped +
        c.failed +
        c.queued +
        c.discovered +
        c.hashing +
        c.uploading,
      backedUp: c.backed_up,
      duplicates: c.duplicate,
      duplicatesHere: duplicatesOfFilesHere(duplicateRows, backedUpRows).length,
      excluded: c.excluded,
      failed: c.failed,
      skipped: c.skipped,
      bytesUploaded: engine.bytesUploaded(),
      seconds: Math.round((performance.now() - startedAt) / 10) / 100,
      missing: c.missing,
      dryRun: opts.dryRun === true,
      vault: {
        url: cli.vaultUrl,
        embedded: cli.embedded,
        dir: cli.embeddedDir,
        sameDiskAsPhotos: vaultDev !== null && folders.some((f) => deviceOf(f) === vaultDev),
      },
      failures: failedRows.map((r) => ({
        path: r.path,
        code: r.error?.code ?? 'internal',
        message: r.error?.message ?? 'failed',
      })),
      skippedFiles: (await listAll(engine, folderIds, 'skipped')).map((r) => ({
        path: r.path,
        reason: r.excludedBy ?? 'not a photo or video',
      })),
      problems: [
        ...mine.flatMap((f) =>
          f.problems.map((p) => ({ path: p.path, code: p.code, reason: p.message })),
        ),
        ...[...backedUpRows, ...duplicateRows].flatMap((r) =>
          r.problem === null
            ? []
            : [{ path: r.path, code: r.problem.code, reason: r.problem.message }],
        ),
      ],
    };
    if (opts.dryRun) {
      const queued = await listAll(engine, folderIds, 'queued');
      const excluded = await listAll(engine, folderIds, 'excluded');
      // Same content twice among the files to upload: the real run sends it once and records
      // the others as duplicates of it, so the dry run says so too.
      const predicted = predictedDuplicates(queued);
      summary.wouldUpload = predicted.upload.map((r) => ({ path: r.path, size: r.size }));
      summary.duplicatesOfFilesHere = predicted.duplicates.map(({ row, of }) => ({
        path: row.path,
        size: row.size,
        of: of.path,
      }));
      summary.duplicates += predicted.duplicates.length;
      summary.duplicatesHere += predicted.duplicates.length;
      const held = [...duplicateRows, ...backedUpRows];
      summary.alreadyOnVault = held.map((r) => ({ path: r.path, size: r.size }));
      summary.excludedFiles = excluded.map((r) => ({ path: r.path, rule: r.excludedBy }));
    }
    if (stopped !== null) summary.stopped = { code: stopped.code, message: stopped.message };
    if (opts.json) {
      process.stdout.write(`${displayJson(summary)}\n`); // names as a person reads them
    } else {
      printHuman(summary);
    }
    if (stopped !== null) {
      const { code, line } = describeFailure(stopped);
      process.stderr.write(`keepsake backup: ${line}\n`);
      return code;
    }
    return summary.failed > 0 || summary.problems.length > 0 ? 1 : 0;
  } catch (caught) {
    // whenSettled rejects with the abort reason: the lost-vault error says what happened.
    const err: unknown = caught;
    if (abort.signal.aborted) {
      process.stderr.write(
        'keepsake backup: interrupted; the next run continues where this one stopped\n',
      );
      return 130;
    }
    const { code, line } = describeFailure(err);
    process.stderr.write(`keepsake backup: ${line}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cli?.close();
  }
}

/** "into the embedded vault in DIR, on the same disk as your photos", or "to the vault at URL". */
function destination(v: BackupSummary['vault']): string {
  if (!v.embedded || v.dir === null) return `to the vault at ${v.url}`;
  return `into the embedded vault in ${v.dir}, ${v.sameDiskAsPhotos ? 'on the same disk as your photos' : 'on this computer'}`;
}

/**
 * Asks the vault once before any work, so a wrong address or token is one clear line. A vault
 * that does not answer yet (restarting, its machine waking up) is asked again for up to
 * firstContactMs before the run gives up.
 */
async function firstContact(
  engine: KeepsakeEngine,
  vaultUrl: string,
  signal: AbortSignal,
): Promise<void> {
  const deadline = performance.now() + firstContactMs;
  let told = false;
  for (;;) {
    try {
      await engine.api['vault.usage']({});
      return;
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof KeepsakeError && err.code === 'sign_in_needed') {
        // A revoked device is told so in the vault's words (a new token will not be typed in).
        if (isDeviceRevoked(err)) throw err;
        // A wrong --token is bad input (exit 2), found at the first question.
        throw new UsageError(`the vault at ${vaultUrl} refused the token`);
      }
      if (!(err instanceof KeepsakeError && err.code === 'vault_unreachable')) throw err;
      if (vaultUrl.startsWith('https:') && (await speaksPlainHttp(vaultUrl, err))) {
        throw new UsageError(
          `--to: ${vaultUrl} answers plain HTTP, not HTTPS: use http:// (or start the vault with --tls-cert and --tls-key)`,
        );
      }
      // A lasting fault (an untrusted certificate) is not worth waiting for.
      if (!err.retryable || performance.now() >= deadline) {
        throw new KeepsakeError('vault_unreachable', `cannot reach the vault at ${vaultUrl}`);
      }
      if (!told) {
        told = true;
        process.stderr.write(
          `keepsake backup: the vault at ${vaultUrl} does not answer yet; trying again for up to ${Math.round(firstContactMs / 1000)} s\n`,
        );
      }
      await sleep(1000, undefined, { signal });
    }
  }
}

/**
 * Whether a TLS handshake failed because the other end speaks plain HTTP (the usual
 * "https:// against an http:// vault"): then a plain request to the same port gets an answer.
 */
async function speaksPlainHttp(vaultUrl: string, err: KeepsakeError): Promise<boolean> {
  const cause = err.cause as { code?: unknown; cause?: { code?: unknown } } | undefined;
  if (cause?.code !== 'EPROTO' && cause?.cause?.code !== 'EPROTO') return false;
  const plain = new URL(vaultUrl);
  plain.protocol = 'http:';
  try {
    await fetch(new URL('/api/v1/health', plain), { signal: AbortSignal.timeout(3000) });
    return true;
  } catch {
    return false;
  }
}

/** A problem of a backed-up file (an empty photo), not of a folder that could not be read. */
function isFileProblem(code: string): boolean {
  return code === 'empty_file' || code === 'possible_damage';
}

function printHuman(s: BackupSummary): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  // A dry run lists everything the vault holds already (backed up earlier, or found there).
  const onVault = s.dryRun ? (s.alreadyOnVault?.length ?? 0) : s.duplicates - s.duplicatesHere;
  const here = s.dryRun ? (s.duplicatesOfFilesHere?.length ?? 0) : s.duplicatesHere;
  const duplicates = `${here} duplicates of another file here, ${onVault} already on the vault`;
  if (s.dryRun) {
    for (const f of s.wouldUpload ?? []) out(`would upload  ${f.path} (${formatSize(f.size)})`);
    for (const f of s.duplicatesOfFilesHere ?? []) out(`duplicate     ${f.path} (of ${f.of})`);
    for (const f of s.alreadyOnVault ?? []) out(`on the vault  ${f.path}`);
    for (const f of s.excludedFiles ?? []) out(`excluded      ${f.path} (${f.rule ?? 'rule'})`);
    out(
      `Dry run: ${s.wouldUpload?.length ?? 0} files would be uploaded (${formatSize((s.wouldUpload ?? []).reduce((n, f) => n + f.size, 0))}) ${destination(s.vault)}; ${duplicates}, ${s.excluded} excluded, ${s.failed} failed.`,
    );
  } else {
    out(
      `${s.files} files: ${s.backedUp} backed up, ${duplicates}, ${s.excluded} excluded, ${s.skipped} skipped (not photos or videos), ${s.failed} failed; ${formatSize(s.bytesUploaded)} uploaded in ${s.seconds} s ${destination(s.vault)}.`,
    );
    const unreadable = s.problems.filter((p) => !isFileProblem(p.code)).length;
    if (unreadable > 0) {
      out(`${unreadable} folder(s) could not be read; their files are not backed up:`);
    }
  }
  for (const f of s.failures) out(`failed        ${f.path}: ${f.message}`);
  for (const p of s.problems) {
    out(`${(isFileProblem(p.code) ? 'problem' : 'cannot read').padEnd(14)}${p.path}: ${p.reason}`);
  }
}
