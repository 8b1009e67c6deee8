// `keepsake import device PATH [--into DIR] [--pattern 'YYYY/YYYY-MM-DD/'] [--to URL --token
// TOKEN] [--data-dir DIR] [--json]`: a camera card (or anything with a DCIM folder) into DIR by
// capture date, then backed up as `keepsake backup` would (DIR becomes a watched folder, or is
// inside one already), then "safe to erase" when the vault holds every file found
// (main/engine/import/device/). Exit 0 when every file was imported or already on the vault and
// all of it is on the vault, 1 when something failed or is not on the vault yet, 2 for bad
// input (no DCIM, bad pattern, DIR on the card), 130 when interrupted (the next run goes on).
import { mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { formatSize } from '../../../common/size-units.js';
import { createFileHasher } from '../../engine/hash/index.js';
import { findDcim } from '../../engine/import/device/card-scan.js';
import { DEFAULT_DATE_PATTERN, parseDatePattern } from '../../engine/import/device/dated-folder.js';
import { importDevice, type DeviceImportReport } from '../../engine/import/device/device-import.js';
import { createMetadataReader } from '../../engine/metadata/index.js';
import { relativeTo } from '../../engine/pipeline/reconcile.js';
import { systemClock } from '../../engine/ports.js';
import { createHttpClient } from '../../engine/vault/http-client.js';
import { createVaultClient } from '../../engine/vault/vault-client.js';
import { openHost, type Host } from '../../host/host.js';
import { cliLogger, describeFailure, parseEngineCliOptions, UsageError } from '../engine-setup.js';

interface ImportDeviceOptions {
  into?: string;
  pattern?: string;
  to?: string;
  token?: string;
  dataDir?: string;
  json?: boolean;
}

/** How long the run waits for metadata and places once the copies are backed up. */
const metadataGraceMs = Number(process.env.KEEPSAKE_METADATA_GRACE_MS ?? 10_000);

/** Where imports go when --into is not given: the person's Pictures folder. */
export function defaultImportFolder(): string {
  return join(homedir(), 'Pictures');
}

export function registerImportDeviceCommand(importCommand: Command): void {
  importCommand
    .command('device')
    .description(
      'A camera card or a phone that mounts as a disk: copy what the vault lacks into a folder by date, back it up, say when the card is safe to erase',
    )
    .argument('<path>', "the card's top folder (the one holding DCIM)")
    .option('--into <dir>', `where the photos are copied (default: ${defaultImportFolder()})`)
    .option('--pattern <pattern>', `folders by capture date (default: ${DEFAULT_DATE_PATTERN})`)
    .option('--to <url>', 'vault URL (default: the one this data directory backs up to)')
    .option('--token <token>', 'vault access token (or KEEPSAKE_TOKEN)')
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .option('--json', 'print {"found","imported","alreadyOnVault","failed","safeToErase",...}')
    .action(async (path: string, opts: ImportDeviceOptions) => {
      process.exitCode = await runImportDevice(path, opts);
    });
}

export async function runImportDevice(path: string, opts: ImportDeviceOptions): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let host: Host | null = null;
  const closers: (() => Promise<void> | void)[] = [];
  try {
    const card = resolve(path);
    try {
      if (!statSync(card).isDirectory()) throw new UsageError(`not a folder: ${path}`);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`no such folder: ${path}`);
    }
    if ((await findDcim(card)) === null) {
      throw new UsageError(
        `${card} has no DCIM folder: it does not look like a camera card or a phone's storage (give the card's top folder)`,
      );
    }
    const into = resolve(opts.into ?? defaultImportFolder());
    if (into === card || relativeTo(card, into) !== null) {
      throw new UsageError(`--into ${into} is on the card: Keepsake never writes to the card`);
    }
    const pattern = parseDatePattern(opts.pattern ?? DEFAULT_DATE_PATTERN);
    const parsed = parseEngineCliOptions({
      ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
      ...(opts.to !== undefined ? { to: opts.to } : {}),
      ...(opts.token !== undefined ? { token: opts.token } : {}),
    });
    const { dataDir } = parsed;
    try {
      mkdirSync(into, { recursive: true });
    } catch (err) {
      throw new UsageError(
        `--into ${into}: cannot make this folder (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    const logger = cliLogger('warn');
    host = await openHost({
      dataDir,
      vault: parsed.vault,
      logger,
      engine: { createWatcher: null, reconcileIntervalMs: 0 },
    });
    const { engine } = host;
    // The vault `keepsake backup` would use (--to, else Settings', else the embedded one).
    const credentials = { url: host.vaultUrl, token: host.vaultToken };
    // DIR is backed up as a watched folder: the one holding it, or DIR itself (kept, so the
    // daemon and later backups keep it safe). Checked before anything is copied.
    const watched = (await engine.api['folders.list']({})).find(
      (f) => f.path === into || relativeTo(f.path, into) !== null,
    );
    if (!watched) await engine.api['folders.add']({ path: into });

    const http = createHttpClient({
      endpoint: credentials.url,
      idleTimeoutMs: 120_000,
      ...(parsed.vault?.caFile !== undefined ? { caFile: parsed.vault.caFile } : {}),
    });
    closers.push(() => http.destroy());
    const client = createVaultClient({
      endpoint: credentials.url,
      token: credentials.token,
      http,
    });
    closers.push(() => client.close());
    const hasher = createFileHasher({ logger, threads: 2 });
    closers.push(() => hasher.close());
    const metadata = createMetadataReader({ logger, clock: systemClock });
    closers.push(() => metadata.close());

    const report = await importDevice(
      {
        hasher,
        metadata,
        vault: client,
        logger,
        backUp: async (_copies, signal) => {
          await engine.start();
          await engine.whenSettled(signal);
          // A timer we hold, not AbortSignal.timeout(): see runBackup in backup.ts (Node 20
          // holds a timeout signal inside AbortSignal.any() weakly).
          const graceOver = new AbortController();
          const timer = setTimeout(() => graceOver.abort(), metadataGraceMs);
          const grace = AbortSignal.any([...(signal ? [signal] : []), graceOver.signal]);
          try {
            await engine.whenMetadataSent(grace).catch(() => {});
            await engine.whenLocationsSent(grace).catch(() => {});
          } finally {
            clearTimeout(timer);
          }
        },
      },
      {
        card,
        into,
        pattern,
        signal: abort.signal,
        ...(process.stderr.isTTY && !opts.json
          ? {
              onProgress: (p) =>
                process.stderr.write(
                  `\r${p.phase.replace('_', ' ')} ${p.total > 0 ? `${p.done}/${p.total}` : ''}      `,
                ),
            }
          : {}),
      },
    );
    if (process.stderr.isTTY && !opts.json) process.stderr.write('\n');
    if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else printReport(report);
    return report.failed > 0 || report.notOnVault > 0 || report.stopped ? 1 : 0;
  } catch (err) {
    if (abort.signal.aborted) {
      process.stderr.write(
        'keepsake import device: interrupted; run it again to go on (nothing half-copied is kept)\n',
      );
      return 130;
    }
    const { code, line } = describeFailure(err);
    process.stderr.write(`keepsake import device: ${line}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // closing is best effort; the process ends next
      }
    }
    await host?.close();
  }
}

function printReport(r: DeviceImportReport): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `${r.found} photos and videos on ${r.card}: ${r.imported} imported into ${r.into} (${r.copied} copied, ${formatSize(r.bytesCopied)}${r.alreadyCopied > 0 ? `; ${r.alreadyCopied} were there already` : ''}), ${r.alreadyOnVault} already on the vault, ${r.failed} failed.`,
  );
  if (r.datedByFileTime.length > 0) {
    out(
      `${r.datedByFileTime.length} had no capture date inside: filed by their modification time:`,
    );
    for (const p of r.datedByFileTime) out(`  ${p}`);
  }
  for (const f of r.failures) out(`failed  ${f.path}: ${f.message}`);
  if (r.otherFiles.length > 0) {
    out(`${r.otherFiles.length} other files under DCIM are not photos or videos (not imported).`);
  }
  if (r.stopped) out(`Stopped: ${r.stopped.message}`);
  if (r.notOnVault > 0) {
    out(`${r.notOnVault} imported files are not on the vault yet: keep the card.`);
  }
  out(
    r.safeToErase
      ? 'The card is safe to erase: every photo and video on it is verified on the vault.'
      : 'Do not erase the card yet: not everything on it is verified on the vault.',
  );
}
