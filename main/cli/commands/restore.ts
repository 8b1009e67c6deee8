// `keepsake restore --to DIR`: rebuilds DIR/<folder label>/<path> for every location on the
// vault that matches the filters (main/engine/restore/), byte-exact names, mtimes set, every
// file's SHA-256 checked before it is kept, never replacing a file. Resumable: a second run
// continues partials and skips what is there. Exit 0 when nothing failed, 1 when anything
// did, 2 for bad input, 130 when interrupted.
//
// Which vault: --from URL --token TOKEN (a new machine needs nothing else); else the vault
// set in the data directory's Settings; else the data directory's embedded vault: the one a
// running daemon or desktop app serves, else started in this process (so `keepsake restore
// --to DIR` alone restores what `keepsake backup` put there, daemon running or not).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultDataDir } from '../../engine/data-dir.js';
import { KeepsakeError } from '../../engine/errors.js';
import { systemClock } from '../../engine/ports.js';
import {
  type ConvertOptions,
  parseConvertRules,
  parseDateOption,
  type RestoreFilters,
  runRestore,
  type RestoreProgress,
  type RestoreSummary,
} from '../../engine/restore/index.js';
import { storedVaultUrl } from '../../engine/runtime/snapshot.js';
import { createSecretStore } from '../../engine/secret-store.js';
import { createHttpClient } from '../../engine/vault/http-client.js';
import { createVaultClient } from '../../engine/vault/vault-client.js';
import type { EmbeddedVault } from '../../host/embedded-vault.js';
import {
  cliLogger,
  describeFailure,
  UsageError,
  useEmbeddedVault,
  vaultFlag,
} from '../engine-setup.js';

interface RestoreCliOptions {
  to?: string;
  from?: string;
  token?: string;
  dataDir?: string;
  caFile?: string;
  device?: string;
  folder?: string;
  path?: string;
  since?: string;
  until?: string;
  at?: string;
  dryRun?: boolean;
  json?: boolean;
  convert?: string;
  keepOriginals?: boolean;
}

export function registerRestoreCommand(program: Command): void {
  program
    .command('restore')
    .description(
      'Rebuild DIR/<folder>/<path> for every file on the vault, byte-exact, with its mtime',
    )
    .requiredOption('--to <dir>', 'where to restore (made if need be; nothing there is replaced)')
    .option('--from <url>', 'vault URL (default: the data directory’s vault)')
    .option('--token <token>', 'vault access token (or KEEPSAKE_TOKEN)')
    .option('--data-dir <dir>', 'the data directory whose vault to use without --from')
    .option('--ca-file <file>', 'extra CA bundle (PEM) for TLS inspection proxies')
    .option('--device <name>', 'only files from this device (its name or id)')
    .option('--folder <label>', 'only this folder (the watched folder’s name)')
    .option('--path <glob>', 'only paths inside the folder matching this glob, e.g. "2019/**"')
    .option('--since <date>', 'only photos taken on or after this date (YYYY-MM-DD or ISO)')
    .option('--until <date>', 'only photos taken before the end of this date')
    .option('--at <date>', 'the folders as they were at this moment (default: now)')
    .option(
      '--convert <rules>',
      'write compatible copies: heic=jpeg (HEIC/HEIF -> JPEG), hevc=h264 (HEVC video -> H.264 MP4), comma-separated',
    )
    .option('--keep-originals', 'with --convert: keep the originals beside their copies')
    .option('--dry-run', 'list what would be restored; download and write nothing')
    .option('--json', 'print one JSON summary object')
    .action(async (opts: RestoreCliOptions) => {
      process.exitCode = await runRestoreCommand(opts);
    });
}

function parseFilters(opts: RestoreCliOptions): RestoreFilters {
  const filters: RestoreFilters = {};
  const date = (flag: string, text: string, endOfDay: boolean): number => {
    try {
      return parseDateOption(text, endOfDay);
    } catch (err) {
      throw new UsageError(`${flag}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  if (opts.device !== undefined) filters.device = opts.device;
  if (opts.folder !== undefined) filters.folder = opts.folder;
  if (opts.path !== undefined) filters.pathGlob = opts.path;
  if (opts.since !== undefined) filters.sinceMs = date('--since', opts.since, false);
  if (opts.until !== undefined) filters.untilMs = date('--until', opts.until, true);
  if (opts.at !== undefined) filters.atMs = date('--at', opts.at, true);
  return filters;
}

function parseConvert(opts: RestoreCliOptions): ConvertOptions | undefined {
  if (opts.convert === undefined) {
    if (opts.keepOriginals === true) throw new UsageError('--keep-originals needs --convert');
    return undefined;
  }
  try {
    return { rules: parseConvertRules(opts.convert), keepOriginals: opts.keepOriginals === true };
  } catch (err) {
    throw new UsageError(`--convert: ${err instanceof Error ? err.message : String(err)}`);
  }
}

interface VaultChoice {
  url: string;
  token: string;
  caFile?: string;
  embedded: EmbeddedVault | null;
}

async function chooseVault(opts: RestoreCliOptions): Promise<VaultChoice> {
  const token = opts.token ?? process.env.KEEPSAKE_TOKEN;
  const caFile = opts.caFile === undefined ? {} : { caFile: resolve(opts.caFile) };
  if (opts.caFile !== undefined && !existsSync(opts.caFile)) {
    throw new UsageError(`--ca-file: no such file ${opts.caFile}`);
  }
  if (opts.from !== undefined) {
    return { ...vaultFlag('--from', opts.from, token), ...caFile, embedded: null };
  }
  if (opts.token !== undefined) throw new UsageError('--token is only used with --from URL');
  const dataDir = resolve(opts.dataDir ?? process.env.KEEPSAKE_DATA_DIR ?? defaultDataDir());
  const stored = existsSync(dataDir) ? storedVaultUrl(dataDir) : null;
  if (stored !== null) {
    const secret = await createSecretStore(dataDir).read();
    if (secret !== null) return { url: stored, token: secret, ...caFile, embedded: null };
  }
  if (!existsSync(join(dataDir, 'vault'))) {
    throw new UsageError(
      `no vault to restore from: ${dataDir} has none; give --from URL --token TOKEN`,
    );
  }
  // A daemon or the desktop app holding this data directory serves its vault already:
  // restore through it.
  return useEmbeddedVault(dataDir, '--from URL --token TOKEN');
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function startProgressBar(progress: RestoreProgress): () => void {
  const started = performance.now();
  const render = () => {
    const width = 30;
    const frac = progress.bytesTotal > 0 ? progress.bytesDone / progress.bytesTotal : 0;
    const filled = Math.max(0, Math.min(width, Math.round(frac * width)));
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? progress.bytesDone / seconds : 0;
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${progress.filesDone}/${progress.filesTotal} files, ${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}, ${formatBytes(rate)}/s   `,
    );
  };
  const timer = setInterval(render, 250);
  return () => {
    clearInterval(timer);
    render();
    process.stderr.write('\n');
  };
}

export async function runRestoreCommand(opts: RestoreCliOptions): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let vault: VaultChoice | null = null;
  try {
    if (opts.to === undefined || opts.to === '') throw new UsageError('--to DIR is required');
    const filters = parseFilters(opts);
    const convert = parseConvert(opts);
    vault = await chooseVault(opts);
    const http = createHttpClient({
      endpoint: vault.url,
      ...(vault.caFile !== undefined ? { caFile: vault.caFile } : {}),
      idleTimeoutMs: 60_000,
    });
    const client = createVaultClient({ endpoint: vault.url, token: vault.token, http });
    const progress: RestoreProgress = { filesTotal: 0, filesDone: 0, bytesTotal: 0, bytesDone: 0 };
    const stopBar =
      process.stderr.isTTY && opts.json !== true && opts.dryRun !== true
        ? startProgressBar(progress)
        : null;
    let summary: RestoreSummary;
    try {
      summary = await runRestore({
        vault: client,
        content: { http, endpoint: vault.url, token: vault.token },
        to: opts.to,
        filters,
        dryRun: opts.dryRun === true,
        clock: systemClock,
        logger: cliLogger('warn'),
        signal: abort.signal,
        progress,
        ...(convert === undefined ? {} : { convert }),
      });
    } catch (err) {
      if (err instanceof KeepsakeError && err.code === 'sign_in_needed') {
        throw new KeepsakeError('sign_in_needed', `the vault at ${vault.url} refused the token`);
      }
      if (err instanceof KeepsakeError && err.code === 'vault_unreachable') {
        throw new KeepsakeError('vault_unreachable', `cannot reach the vault at ${vault.url}`);
      }
      throw err;
    } finally {
      stopBar?.();
      client.close();
      http.destroy();
    }
    summary.seconds = Math.round(summary.seconds * 100) / 100;
    if (opts.json === true) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      printHuman(summary, resolve(opts.to), opts.dryRun === true);
    }
    return summary.failed > 0 ? 1 : 0;
  } catch (err) {
    if (abort.signal.aborted) {
      process.stderr.write(
        'keepsake restore: interrupted; run it again to continue where it stopped\n',
      );
      return 130;
    }
    const { code, line } = describeFailure(err);
    process.stderr.write(`keepsake restore: ${line}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await vault?.embedded?.close();
  }
}

function printHuman(s: RestoreSummary, to: string, dryRun: boolean): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (dryRun) {
    for (const f of s.wouldRestore ?? []) out(`would restore  ${f.path} (${formatBytes(f.size)})`);
    const bytes = (s.wouldRestore ?? []).reduce((n, f) => n + f.size, 0);
    out(
      `Dry run: ${s.wouldRestore?.length ?? 0} of ${s.files} files would be restored to ${to} (${formatBytes(bytes)}), ${s.skipped} already there, ${s.failed} cannot be.`,
    );
  } else {
    out(
      `${s.files} files: ${s.restored} restored to ${to}, ${s.skipped} already there, ${s.failed} failed; ${formatBytes(s.bytesDownloaded)} downloaded in ${s.seconds} s.`,
    );
  }
  for (const f of s.failures) out(`failed         ${f.path}: ${f.message}`);
  for (const c of s.converted ?? []) {
    const taken = c.renamedFrom === null ? '' : ` (${c.renamedFrom} was taken)`;
    out(`converted      ${c.path} -> ${c.to}${taken}`);
  }
  for (const n of s.notConverted ?? []) out(`not converted  ${n.path}: ${n.reason}`);
}
