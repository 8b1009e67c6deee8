// `keepsake vault sweep --data-dir DIR [--index …] [--blobs …] [--adopt | --remove]
// [--grace 1h] [--dry-run] [--json]`: lists the stored objects no index row names and the
// index rows whose object is gone (server/blob-sweep.ts), and with --adopt or --remove acts on
// the former. Exit 1 when a row has no object (the vault's health heals those from clients).
import { formatSize } from '../../../common/size-units.js';
import { sweepVault, type SweepMode, type SweepReport } from '../../../server/blob-sweep.js';
import { runMaintenance } from './vault-maintenance.js';

export interface VaultSweepOptions {
  dataDir: string;
  index?: string;
  blobs?: string;
  adopt: boolean;
  remove: boolean;
  dryRun: boolean;
  graceMs?: number;
  json: boolean;
}

function printReport(r: SweepReport): void {
  console.log(
    `swept ${r.where}: ${r.objects} objects (${formatSize(r.storedBytes)}), ${r.orphans.length} without an index row, ${r.missing.length} index rows without their object, in ${r.seconds.toFixed(1)} s`,
  );
  for (const o of r.orphans) {
    console.log(
      `orphan ${o.sha256} ${formatSize(o.storedBytes)}, ${Math.round(o.ageMs / 60_000)} min old: ${o.outcome}`,
    );
  }
  for (const m of r.missing)
    console.log(`missing ${m.sha256} (health: ${m.health ?? 'unchecked'})`);
  if (r.mode === 'report' && r.orphans.length > 0) {
    console.log(
      '--adopt keeps them (verified) for the next upload of their content; --remove removes those older than --grace',
    );
  }
  if (r.missing.length > 0) {
    console.log(
      'rows without their object are kept: clients holding the originals upload them again (scrub marks them missing)',
    );
  }
}

export async function runVaultSweep(opts: VaultSweepOptions): Promise<void> {
  if (opts.adopt && opts.remove) {
    console.error('keepsake vault sweep: --adopt and --remove exclude each other');
    process.exitCode = 2;
    return;
  }
  const mode: SweepMode = opts.adopt ? 'adopt' : opts.remove ? 'remove' : 'report';
  await runMaintenance('sweep', async (signal) => {
    const report = await sweepVault({
      dataDir: opts.dataDir,
      ...(opts.index !== undefined ? { index: opts.index } : {}),
      ...(opts.blobs !== undefined ? { blobs: opts.blobs } : {}),
      mode,
      dryRun: opts.dryRun,
      ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
      signal,
    });
    if (opts.json) console.log(JSON.stringify(report));
    else printReport(report);
    if (report.missing.length > 0) process.exitCode = 1;
  });
}
