// `keepsake vault migrate --from-data-dir DIR --index postgres://… --blobs s3://…`: copies a
// stopped single-machine vault into the scaled setup (server/migrate-vault.ts), with progress
// on stderr (at most one line a second) and a final report on stdout (one JSON object with
// --json). Exit 1 when it refused or stopped, or when some content could not be copied
// (damaged or missing at the source); run it again to continue after any stop.
import { dirname, join, resolve } from 'node:path';
import { formatSize } from '../../../common/size-units.js';
import { openBlobStore } from '../../../server/blobs/open-blob-store.js';
import {
  migrateVault,
  type MigrateProgress,
  type MigrateReport,
  VaultMigrateError,
} from '../../../server/migrate-vault.js';
import { runMaintenance } from './vault-maintenance.js';

export interface VaultMigrateOptions {
  fromDataDir: string | undefined;
  index: string | undefined;
  blobs: string | undefined;
  json: boolean;
  /** assets per transaction (their blobs first) */
  assetPage?: number;
}

function progressLine(p: MigrateProgress): string {
  const b = p.blobs;
  const blobs =
    p.table === 'assets'
      ? `; blobs ${b.copied} copied (${formatSize(b.bytesCopied)}), ${b.alreadyThere + b.copiedBefore} already there, ${b.damaged.length} damaged, ${b.missing.length} missing`
      : '';
  return `migrate: ${p.table} ${p.done}/${p.total}${blobs}\n`;
}

function printReport(r: MigrateReport): void {
  const b = r.blobs;
  console.log(
    `migrated ${r.source} to ${r.target.index} and ${r.target.blobs} in ${r.seconds.toFixed(1)} s`,
  );
  for (const [table, n] of Object.entries(r.rows)) {
    console.log(`  ${table}: ${n.copied} rows copied, ${n.alreadyThere} already there`);
  }
  console.log(`  counters: ${r.counters} set`);
  console.log(
    `  blobs: ${b.copied} copied (${formatSize(b.bytesCopied)}), ${b.alreadyThere} already there (verified), ${b.copiedBefore} copied by an earlier run, ${b.damaged.length} damaged, ${b.missing.length} missing; ${formatSize(b.bytesRead)} read and hashed`,
  );
  for (const [table, why] of Object.entries(r.skipped))
    console.log(`  not copied: ${table} (${why})`);
  for (const sha of b.damaged) console.log(`damaged ${sha}`);
  for (const sha of b.missing) console.log(`missing ${sha}`);
  if (b.damaged.length + b.missing.length > 0) {
    console.log(
      'those contents were not copied; their rows were, marked so: clients holding the originals upload them again at their next backup',
    );
  }
}

export async function runVaultMigrate(opts: VaultMigrateOptions): Promise<void> {
  if (opts.fromDataDir === undefined || opts.index === undefined || opts.blobs === undefined) {
    console.error(
      'keepsake vault migrate: needs --from-data-dir DIR (the stopped vault), --index (where the index goes: postgres://…) and --blobs (where blobs go: s3://… or a directory)',
    );
    process.exitCode = 2;
    return;
  }
  const fromDataDir = resolve(opts.fromDataDir);
  const { index, blobs } = opts;
  // Verified copies wait in a work directory before their put: on the target's filesystem
  // for a directory target (the store renames them in), else beside the source vault.
  const workDir = blobs.startsWith('s3:')
    ? join(fromDataDir, 'migrate-work')
    : join(dirname(resolve(blobs)), 'keepsake-migrate-work');
  let last = 0;
  await runMaintenance(
    'migrate',
    async (signal) => {
      const report = await migrateVault({
        fromDataDir,
        index,
        openTargetBlobs: (repairs) => openBlobStore(blobs, fromDataDir, repairs),
        workDir,
        ...(opts.assetPage !== undefined ? { assetPage: opts.assetPage } : {}),
        signal,
        onProgress: (p) => {
          const t = Date.now();
          if (t - last < 1000 && p.done !== p.total) return;
          last = t;
          process.stderr.write(progressLine(p));
        },
      });
      if (opts.json) console.log(JSON.stringify(report));
      else printReport(report);
      if (report.blobs.damaged.length + report.blobs.missing.length > 0) process.exitCode = 1;
    },
    { errors: [VaultMigrateError], interrupted: 'interrupted; run it again to continue' },
  );
}
