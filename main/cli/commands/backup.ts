// `keepsake backup FOLDER...`: one pass (scan, hash, dedup, upload, verify, metadata), then
// exit once every file has settled: 0 when every file is backed_up, duplicate or excluded,
// 1 when any failed or a folder could not be read, 2 for bad input. A progress bar on a terminal only; --json prints one
// summary object; --dry-run hashes and asks the vault but uploads nothing.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { FileRow, Folder, StateCounts } from '../../../common/contract.js';
import type { KeepsakeEngine } from '../../engine/api.js';
import { KeepsakeError } from '../../engine/errors.js';
import { openHost, type Host } from '../../host/host.js';
import {
  cliLogger,
  describeFailure,
  parseEngineCliOptions,
  UsageError,
  type EngineCliOptions,
} from '../engine-setup.js';

interface BackupOptions extends EngineCliOptions {
  json?: boolean;
  dryRun?: boolean;
}

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
  bytesUploaded: number;
  seconds: number;
  missing: number;
  dryRun: boolean;
  failures: { path: string; code: string; message: string }[];
  /** Folders (or sub-folders) that could not be read: their files are not backed up. */
  problems: { path: string; code: string; reason: string }[];
  wouldUpload?: { path: string; size: number }[];
  alreadyOnVault?: { path: string; size: number }[];
  excludedFiles?: { path: string; rule: string | null }[];
}

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('Back up folders once: scan, hash, dedup, upload, verify; exit when settled')
    .argument('<folders...>', 'folders to back up')
    .option('--to <url>', 'vault URL (default: an embedded vault under the data directory)')
    .option('--token <token>', 'vault access token (or KEEPSAKE_TOKEN)')
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .option('--concurrency <n>', 'files uploaded at once (1-16, default 3)')
    .option(
      '--bwlimit <rate>',
      'upload bandwidth cap, e.g. 4M, or a schedule "Mon-08:00,2M Mon-18:00,off"',
    )
    .option('--chunk-size <size>', 'tus PATCH chunk size, e.g. 8M')
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

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
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
    const rate =
      s.throughputBytesPerSecond > 0 ? ` ${formatBytes(s.throughputBytesPerSecond)}/s` : '';
    process.stderr.write(
      `\r[${bar}] ${done}/${total} files, ${formatBytes(s.bytesPending)} left${rate}${c.failed ? `, ${c.failed} failed` : ''}   `,
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
  const onSignal = () => abort.abort(new Error('interrupted'));
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
    cli = await openHost({
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
    // Ask the vault once before any work: a wrong address or token is one clear line.
    try {
      await engine.api['vault.usage']({});
    } catch (err) {
      if (err instanceof KeepsakeError && err.code === 'vault_unreachable') {
        throw new KeepsakeError('vault_unreachable', `cannot reach the vault at ${cli.vaultUrl}`);
      }
      if (err instanceof KeepsakeError && err.code === 'sign_in_needed') {
        throw new KeepsakeError('sign_in_needed', `the vault at ${cli.vaultUrl} refused the token`);
      }
      throw err;
    }
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
    try {
      await engine.start();
      await engine.whenSettled(AbortSignal.any([abort.signal, lostVault.signal]));
      if (!opts.dryRun) {
        const grace = AbortSignal.any([abort.signal, AbortSignal.timeout(metadataGraceMs)]);
        await engine.whenMetadataSent(grace).catch(() => {
          // Metadata is never a reason to fail a backup; it is sent on a later run.
        });
      }
    } finally {
      clearInterval(watchVault);
      stopBar?.();
    }
    const mine = (await engine.api['folders.list']({})).filter((f) => folderIds.includes(f.id));
    const c = sumCounts(mine);
    const failedRows = await listAll(engine, folderIds, 'failed');
    const summary: BackupSummary = {
      files:
        c.backed_up +
        c.duplicate +
        c.excluded +
        c.failed +
        c.queued +
        c.discovered +
        c.hashing +
        c.uploading,
      backedUp: c.backed_up,
      duplicates: c.duplicate,
      excluded: c.excluded,
      failed: c.failed,
      bytesUploaded: engine.bytesUploaded(),
      seconds: Math.round((performance.now() - startedAt) / 10) / 100,
      missing: c.missing,
      dryRun: opts.dryRun === true,
      failures: failedRows.map((r) => ({
        path: r.path,
        code: r.error?.code ?? 'internal',
        message: r.error?.message ?? 'failed',
      })),
      problems: mine.flatMap((f) =>
        f.problems.map((p) => ({ path: p.path, code: p.code, reason: p.message })),
      ),
    };
    if (opts.dryRun) {
      const queued = await listAll(engine, folderIds, 'queued');
      const excluded = await listAll(engine, folderIds, 'excluded');
      summary.wouldUpload = queued.map((r) => ({ path: r.path, size: r.size }));
      const held = [
        ...(await listAll(engine, folderIds, 'duplicate')),
        ...(await listAll(engine, folderIds, 'backed_up')),
      ];
      summary.alreadyOnVault = held.map((r) => ({ path: r.path, size: r.size }));
      summary.excludedFiles = excluded.map((r) => ({ path: r.path, rule: r.excludedBy }));
    }
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      printHuman(summary);
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

function printHuman(s: BackupSummary): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (s.dryRun) {
    for (const f of s.wouldUpload ?? []) out(`would upload  ${f.path} (${formatBytes(f.size)})`);
    for (const f of s.alreadyOnVault ?? []) out(`on the vault  ${f.path}`);
    for (const f of s.excludedFiles ?? []) out(`excluded      ${f.path} (${f.rule ?? 'rule'})`);
    out(
      `Dry run: ${s.wouldUpload?.length ?? 0} files would be uploaded (${formatBytes((s.wouldUpload ?? []).reduce((n, f) => n + f.size, 0))}), ${s.alreadyOnVault?.length ?? 0} already on the vault, ${s.excluded} excluded, ${s.failed} failed.`,
    );
  } else {
    out(
      `${s.files} files: ${s.backedUp} backed up, ${s.duplicates} already on the vault, ${s.excluded} excluded, ${s.failed} failed; ${formatBytes(s.bytesUploaded)} uploaded in ${s.seconds} s.`,
    );
    if (s.problems.length > 0) {
      out(`${s.problems.length} folder(s) could not be read; their files are not backed up:`);
    }
  }
  for (const f of s.failures) out(`failed        ${f.path}: ${f.message}`);
  for (const p of s.problems) out(`cannot read   ${p.path}: ${p.reason}`);
}
