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
import {
  type ExportSource,
  openFolderSource,
  openZipSource,
} from '../../engine/import/common/export-source.js';
import { importTakeout, type TakeoutReport } from '../../engine/import/takeout/takeout-import.js';
import { openTgzSource } from '../../engine/import/takeout/tgz-source.js';
import { UsageError } from '../engine-setup.js';
import { runInImportSession } from '../import-session.js';
import { registerImportDeviceCommand } from './import-device.js';
import { registerImportICloudCommand } from './import-icloud.js';

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
    .description('Bring a library from elsewhere to the vault (takeout, icloud, device)');
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
  registerImportICloudCommand(command);
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
  return runInImportSession(
    'keepsake import takeout',
    opts,
    () => parseInputs(paths),
    async (session, inputs, signal, defer) => {
      const sources: ExportSource[] = [];
      defer(() => {
        for (const s of sources) s.close();
      });
      for (const input of inputs) {
        sources.push(
          input.kind === 'folder'
            ? await openFolderSource(input.path)
            : input.kind === 'zip'
              ? await openZipSource(input.path)
              : await openTgzSource(input.path, signal),
        );
      }
      const report = await importTakeout(
        sources,
        {
          vault: session.client,
          uploader: session.uploader,
          stagingDir: session.stagingDir,
          zoneAt: (lat, lon) => {
            try {
              return tzLookup(lat, lon);
            } catch {
              return undefined;
            }
          },
          logger: session.logger,
          device: session.device,
        },
        {
          dryRun: opts.dryRun === true,
          includeTrashed: opts.includeTrashed === true,
          signal,
        },
      );
      if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else printReport(report, session.vaultUrl);
      return report.problems.length > 0 ? 1 : 0;
    },
  );
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
