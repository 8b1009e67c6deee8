// `keepsake status`: counts per state, bytes pending, failed files and the last errors, read
// from the data directory's database opened read-only, so it works beside a running daemon
// (which holds the lock) and never changes anything.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { fileStates, type StateCounts } from '../../../common/contract.js';
import { databasePath, lockFileName } from '../../engine/data-dir.js';
import { systemClock } from '../../engine/ports.js';
import { openDatabaseReadOnly } from '../../engine/store/database.js';
import { createStore } from '../../engine/store/store.js';
import { describeFailure, parseEngineCliOptions } from '../engine-setup.js';

interface StatusOptions {
  dataDir?: string;
  json?: boolean;
}

function daemonPid(dataDir: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(join(dataDir, lockFileName), 'utf8').trim(), 10);
    if (!Number.isInteger(pid) || pid <= 0) return null;
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? -1 : null;
  }
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('Show counts per state, bytes pending and the last errors')
    .option('--data-dir <dir>', 'where Keepsake keeps its state (default: per-user)')
    .option('--json', 'print one JSON object')
    .action((opts: StatusOptions) => {
      process.exitCode = runStatus(opts);
    });
}

export function runStatus(opts: StatusOptions): number {
  try {
    const { dataDir } = parseEngineCliOptions({
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    });
    const counts = Object.fromEntries(fileStates.map((s) => [s, 0])) as StateCounts;
    const report = {
      dataDir,
      running: daemonPid(dataDir) !== null,
      counts,
      filesTotal: 0,
      bytesTotal: 0,
      bytesSafe: 0,
      bytesPending: 0,
      folders: [] as { id: number; path: string; counts: StateCounts; lastScanAt: number | null }[],
      failedFiles: [] as {
        path: string;
        relPath: string;
        code: string;
        message: string;
        retryable: boolean;
      }[],
      lastErrors: [] as { at: string; message: string; path: string | null; code: string | null }[],
    };
    if (existsSync(databasePath(dataDir))) {
      const store = createStore(openDatabaseReadOnly(databasePath(dataDir)), systemClock);
      try {
        const perFolder = new Map<number, StateCounts>();
        for (const row of store.summary()) {
          counts[row.state] += row.files;
          let fc = perFolder.get(row.folderId);
          if (!fc) {
            fc = Object.fromEntries(fileStates.map((s) => [s, 0])) as StateCounts;
            perFolder.set(row.folderId, fc);
          }
          fc[row.state] += row.files;
          if (row.state === 'excluded' || row.state === 'missing') continue;
          report.filesTotal += row.files;
          report.bytesTotal += row.bytes;
          if (row.state === 'backed_up' || row.state === 'duplicate') report.bytesSafe += row.bytes;
          if (['discovered', 'hashing', 'queued', 'uploading'].includes(row.state)) {
            report.bytesPending += row.bytes;
          }
        }
        report.folders = store.listFolders().map((f) => ({
          id: f.id,
          path: f.path,
          counts:
            perFolder.get(f.id) ??
            (Object.fromEntries(fileStates.map((s) => [s, 0])) as StateCounts),
          lastScanAt: f.lastScanAt,
        }));
        report.failedFiles = store.listFiles({ state: 'failed', limit: 1000 }).files.map((f) => ({
          path: f.path,
          relPath: f.relPath,
          code: f.error?.code ?? 'internal',
          message: f.error?.message ?? 'failed',
          retryable: f.error?.retryable ?? false,
        }));
        report.lastErrors = store.lastErrors(20).map((e) => ({
          at: new Date(e.at).toISOString(),
          message: e.message,
          path: e.path,
          code: e.code,
        }));
      } finally {
        store.close();
      }
    }
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      return 0;
    }
    const out = (line: string) => process.stdout.write(`${line}\n`);
    const mb = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MiB`;
    out(`Keepsake data: ${dataDir}${report.running ? ' (a daemon is running)' : ''}`);
    out(
      `${report.filesTotal} files (${mb(report.bytesTotal)}); ${mb(report.bytesSafe)} safe on the vault, ${mb(report.bytesPending)} pending`,
    );
    for (const s of fileStates) if (counts[s] > 0) out(`  ${s.padEnd(11)} ${counts[s]}`);
    for (const f of report.folders) out(`folder ${f.path}`);
    for (const f of report.failedFiles.slice(0, 50)) out(`failed  ${f.path}: ${f.message}`);
    for (const e of report.lastErrors.slice(0, 10)) out(`error   ${e.at} ${e.message}`);
    return 0;
  } catch (err) {
    const { code, line } = describeFailure(err);
    process.stderr.write(`keepsake status: ${line}\n`);
    return code;
  }
}
