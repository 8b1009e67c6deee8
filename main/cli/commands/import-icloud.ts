// `keepsake import icloud PATH... [--to URL --token TOKEN] [--data-dir DIR] [--dry-run]
// [--include-deleted] [--json]`: Apple's iCloud Photos copy (privacy.apple.com; its "iCloud
// Photos Part N of M" folders or zips, all at once) to the vault with the dates, favourites,
// hidden marks and albums of its CSV files (main/engine/import/icloud/). Without --to, the
// embedded vault of the data directory. Prints what was found and done; --json prints it as
// one object. Exit 0 when every file was imported or already there, 1 on any problem (a
// malformed CSV line included: the rest is imported all the same), 2 for bad input.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { formatSize } from '../../../common/size-units.js';
import {
  type ExportSource,
  openFolderSource,
  openZipSource,
} from '../../engine/import/common/export-source.js';
import { type ICloudReport, importICloud } from '../../engine/import/icloud/icloud-import.js';
import { UsageError } from '../engine-setup.js';
import { runInImportSession } from '../import-session.js';

interface ImportICloudOptions {
  to?: string;
  token?: string;
  dataDir?: string;
  dryRun?: boolean;
  includeDeleted?: boolean;
  json?: boolean;
}

/** Adds `import icloud` to the `import` command. */
export function registerImportICloudCommand(importCommand: Command): void {
  importCommand
    .command('icloud')
    .description(
      "Apple's iCloud Photos copy (privacy.apple.com): photos, videos, dates, favourites and albums",
    )
    .argument(
      '<paths...>',
      'every "iCloud Photos Part N of M" folder or .zip of one copy, or the folder holding them',
    )
    .option('--to <url>', 'vault URL (default: the embedded vault of the data directory)')
    .option('--token <token>', 'vault access token (or KEEPSAKE_TOKEN)')
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .option('--dry-run', 'report what would be imported; send nothing')
    .option('--include-deleted', 'also import what was in Recently Deleted')
    .option('--json', 'print the report as one JSON object')
    .action(async (paths: string[], opts: ImportICloudOptions) => {
      process.exitCode = await runImportICloud(paths, opts);
    });
}

/**
 * A part's own folder ("iCloud Photos Part 1 of 3", holding Photos/, Albums/ …) names its
 * files with its name in front, as its zip does; a folder holding several parts does not.
 */
function isPartFolder(dir: string): boolean {
  return ['Photos', 'Albums', 'Recently Deleted', 'Memories'].some((f) => existsSync(join(dir, f)));
}

function parseInputs(paths: readonly string[]): { path: string; kind: 'folder' | 'zip' }[] {
  return paths.map((p) => {
    const path = resolve(p);
    if (!existsSync(path)) throw new UsageError(`no such file or folder: ${p}`);
    if (statSync(path).isDirectory()) return { path, kind: 'folder' };
    if (/\.zip$/i.test(path)) return { path, kind: 'zip' };
    throw new UsageError(`${p}: expected an iCloud Photos folder or a .zip part`);
  });
}

export async function runImportICloud(
  paths: readonly string[],
  opts: ImportICloudOptions,
): Promise<number> {
  return runInImportSession(
    'keepsake import icloud',
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
            ? await openFolderSource(input.path, isPartFolder(input.path))
            : await openZipSource(input.path),
        );
      }
      const report = await importICloud(
        sources,
        {
          vault: session.client,
          uploader: session.uploader,
          stagingDir: session.stagingDir,
          logger: session.logger,
          device: session.device,
        },
        { dryRun: opts.dryRun === true, includeDeleted: opts.includeDeleted === true, signal },
      );
      if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else printReport(report, session.vaultUrl);
      return report.problems.length > 0 ? 1 : 0;
    },
  );
}

function printReport(r: ICloudReport, vaultUrl: string | null): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const n = (x: number) => x.toLocaleString('en-US');
  const verb = r.dryRun ? 'would send' : 'sent';
  out(
    `${r.dryRun ? 'Dry run: ' : ''}${n(r.photos)} photos and ${n(r.videos)} videos (${n(r.files)} files) in ${r.parts.length} part${r.parts.length === 1 ? '' : 's'}${vaultUrl ? `, vault ${vaultUrl}` : ''}.`,
  );
  out(
    `${verb} ${n(r.uploaded)} (${formatSize(r.uploadedBytes)}), ${n(r.alreadyOnVault)} already on the vault; dates from ${n(r.matchedRows)} Photo Details rows${r.dryRun ? '' : ` (${n(r.metadataStored)} stored)`}; ${n(r.favorites)} favourites, ${n(r.hidden)} hidden.`,
  );
  out(`Albums: ${r.albums.length}`);
  for (const a of r.albums) {
    const state = a.created === null ? '' : a.created ? ' (new)' : ' (already there)';
    out(`  ${a.name}: ${n(a.members)}${state}`);
  }
  const list = <T>(title: string, items: readonly T[], line: (item: T) => string) => {
    if (items.length === 0) return;
    out(`${title}: ${n(items.length)}`);
    for (const item of items) out(`  ${line(item)}`);
  };
  list('Skipped as deleted (--include-deleted imports them)', r.skippedDeleted, (p) => p);
  if (r.groupsDeclared > 0) out(`Groups recorded on the vault: ${n(r.groupsDeclared)}`);
  list('Edits (IMG_E) beside their originals', r.edits, (e) =>
    e.linked ? `${e.edit}: linked to ${e.original ?? ''}` : `${e.edit}: not linked, ${e.reason}`,
  );
  list(
    'Without a Photo Details row (no date or favourite from Apple)',
    r.mediaWithoutRow,
    (m) => `${m.path}: ${m.reason}`,
  );
  list(
    'Rows naming no file for certain',
    r.unmatchedRows,
    (u) => `${u.path} line ${u.line}: ${u.name}: ${u.reason}`,
  );
  list('Not imported', r.notImported, (x) => `${x.path}: ${x.reason}`);
  list('Problems', r.problems, (p) => `${p.path}: ${p.message}`);
}
