// `keepsake import takeout PATH... [--to URL --token TOKEN] [--data-dir DIR] [--dry-run]
// [--include-trashed] [--json]`: a Google Takeout export (its unpacked folder, or its .zip
// or .tgz parts, all at once) to the vault with dates, places, captions and albums from its JSON
// sidecars (main/engine/import/takeout/). Without --to, the embedded vault of the data
// directory. Prints what was found and done; --json prints it as one object. Exit 0 when
// every file was imported or already there, 1 on any problem, 2 for bad input.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import tzLookup from '@photostructure/tz-lookup';
import type { Command } from 'commander';
import { defaultDataDir } from '../../engine/data-dir.js';
import { defaultDeviceName, deviceIdOf } from '../../engine/device.js';
import {
  type ExportSource,
  openFolderSource,
  openZipSource,
} from '../../engine/import/common/export-source.js';
import { importTakeout, type TakeoutReport } from '../../engine/import/takeout/takeout-import.js';
import { openTgzSource } from '../../engine/import/takeout/tgz-source.js';
import { systemClock } from '../../engine/ports.js';
import { openDataDir } from '../../engine/runtime/recovery.js';
import type { Store } from '../../engine/store/store.js';
import { createHttpClient } from '../../engine/vault/http-client.js';
import { createTusUploader } from '../../engine/vault/tus-uploader.js';
import { createVaultClient } from '../../engine/vault/vault-client.js';
import { startEmbeddedVault, type EmbeddedVault } from '../../host/embedded-vault.js';
import { cliLogger, describeFailure, UsageError, vaultFlag } from '../engine-setup.js';
import { registerImportDeviceCommand } from './import-device.js';

interface ImportTakeoutOptions {
  to?: string;
  token?: string;
  dataDir?: string;
  dryRun?: boolean;
  includeTrashed?: boolean;
  json?: boolean;
}

export function registerImportCommand(program: Command): void {
  const command = program
    .command('import')
    .description('Bring a library from elsewhere to the vault (takeout)');
  command
    .command('takeout')
    .description(
      'A Google Takeout export (folder or .zip parts): photos, videos, dates, places and albums',
    )
    .argument(
      '<paths...>',
      'the unpacked Takeout folder, or every takeout-*.zip / .tgz of one export',
    )
    .option('--to <url>', 'vault URL (default: the embedded vault of the data directory)')
    .option('--token <token>', 'vault access token (or KEEPSAKE_TOKEN)')
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .option('--dry-run', 'report what would be imported; send nothing')
    .option('--include-trashed', "also import what was in Google Photos' trash")
    .option('--json', 'print the report as one JSON object')
    .action(async (paths: string[], opts: ImportTakeoutOptions) => {
      process.exitCode = await runImportTakeout(paths, opts);
    });
  registerImportDeviceCommand(command);
}

function parseInputs(paths: readonly string[]): { path: string; kind: 'folder' | 'zip' | 'tgz' }[] {
  return paths.map((p) => {
    const path = resolve(p);
    if (!existsSync(path)) throw new UsageError(`no such file or folder: ${p}`);
    if (statSync(path).isDirectory()) return { path, kind: 'folder' };
    if (/\.zip$/i.test(path)) return { path, kind: 'zip' };
    if (/\.(tgz|tar\.gz)$/i.test(path)) return { path, kind: 'tgz' };
    throw new UsageError(`${p}: expected a Takeout folder, a .zip or a .tgz part`);
  });
}

export async function runImportTakeout(
  paths: readonly string[],
  opts: ImportTakeoutOptions,
): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const sources: ExportSource[] = [];
  let embedded: EmbeddedVault | null = null;
  let store: Store | null = null;
  let release: (() => void) | null = null;
  try {
    const inputs = parseInputs(paths);
    const dataDir = resolve(opts.dataDir ?? process.env.KEEPSAKE_DATA_DIR ?? defaultDataDir());
    const token = opts.token ?? process.env.KEEPSAKE_TOKEN;
    let vault: { url: string; token: string } | null = null;
    if (opts.to !== undefined) vault = vaultFlag('--to', opts.to, token);
    else if (opts.token !== undefined) throw new UsageError('--token is only used with --to URL');
    else if (!opts.dryRun || existsSync(resolve(dataDir, 'vault'))) {
      embedded = await startEmbeddedVault(dataDir);
      vault = { url: embedded.url, token: embedded.token };
    }
    for (const input of inputs) {
      sources.push(
        input.kind === 'folder'
          ? await openFolderSource(input.path)
          : input.kind === 'zip'
            ? await openZipSource(input.path)
            : await openTgzSource(input.path, abort.signal),
      );
    }
    const logger = cliLogger('warn');
    // This computer's identity on the vault, under which every imported path is recorded.
    let device: { id: string; name: string } | null = null;
    if (!opts.dryRun) {
      const opened = await openDataDir(dataDir, systemClock, logger);
      store = opened.store;
      release = () => opened.lock.release();
      const named = store.userSettings().get('deviceName');
      device = {
        id: deviceIdOf(dataDir, store),
        name: typeof named === 'string' && named.trim() !== '' ? named : defaultDeviceName(),
      };
    }
    const http = vault ? createHttpClient({ endpoint: vault.url, idleTimeoutMs: 120_000 }) : null;
    const client =
      vault && http ? createVaultClient({ endpoint: vault.url, token: vault.token, http }) : null;
    const uploader =
      vault && http && !opts.dryRun
        ? createTusUploader({
            endpoint: vault.url,
            token: vault.token,
            http,
            logger: logger.child({ part: 'upload' }),
            clock: systemClock,
          })
        : null;
    try {
      const report = await importTakeout(
        sources,
        {
          vault: client,
          uploader,
          stagingDir: resolve(dataDir, 'import-staging'),
          zoneAt: (lat, lon) => {
            try {
              return tzLookup(lat, lon);
            } catch {
              return undefined;
            }
          },
          logger,
          device,
        },
        {
          dryRun: opts.dryRun === true,
          includeTrashed: opts.includeTrashed === true,
          signal: abort.signal,
        },
      );
      if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else printReport(report, vault?.url ?? null);
      return report.problems.length > 0 ? 1 : 0;
    } finally {
      await uploader?.close();
      client?.close();
      http?.destroy();
    }
  } catch (err) {
    if (abort.signal.aborted) {
      process.stderr.write('keepsake import takeout: interrupted\n');
      return 130;
    }
    const { code, line } = describeFailure(err);
    process.stderr.write(`keepsake import takeout: ${line}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const s of sources) s.close();
    store?.close();
    release?.();
    await embedded?.close();
  }
}

function printReport(r: TakeoutReport, vaultUrl: string | null): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const n = (x: number) => x.toLocaleString('en-US');
  const verb = r.dryRun ? 'would send' : 'sent';
  out(
    `${r.dryRun ? 'Dry run: ' : ''}${n(r.photos)} photos and ${n(r.videos)} videos (${n(r.files)} files) in ${r.parts.length} part${r.parts.length === 1 ? '' : 's'}${vaultUrl ? `, vault ${vaultUrl}` : ''}.`,
  );
  out(
    `${verb} ${n(r.uploaded)} (${formatBytes(r.uploadedBytes)}), ${n(r.alreadyOnVault)} already on the vault; dates and places from ${n(r.matchedSidecars)} sidecars${r.dryRun ? '' : ` (${n(r.metadataStored)} stored)`}.`,
  );
  out(`Albums: ${r.albums.length}`);
  for (const a of r.albums) {
    const state = a.created === null ? '' : a.created ? ' (new)' : ' (already there)';
    out(`  ${a.name}: ${n(a.members)}${state}`);
  }
  if (r.skippedTrash.length > 0) out(`Skipped as trash: ${n(r.skippedTrash.length)}`);
  for (const p of r.skippedTrash) out(`  ${p}`);
  if (r.mediaWithoutSidecar.length > 0) {
    out(`Without a sidecar (no date or place from Google): ${n(r.mediaWithoutSidecar.length)}`);
    for (const p of r.mediaWithoutSidecar) out(`  ${p}`);
  }
  if (r.unmatchedSidecars.length > 0) {
    out(`Sidecars without their photo: ${n(r.unmatchedSidecars.length)}`);
    for (const u of r.unmatchedSidecars) out(`  ${u.path}: ${u.reason}`);
  }
  if (r.problems.length > 0) {
    out(`Problems: ${n(r.problems.length)}`);
    for (const p of r.problems) out(`  ${p.path}: ${p.message}`);
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
