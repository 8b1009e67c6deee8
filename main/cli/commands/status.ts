// `keepsake status`: counts per state, bytes pending, failed files and the last errors, from
// and the last verify receipt (what was proven on which vault, and when), from
// the engine's read-only snapshot of the data directory (runtime/snapshot.ts), so it works
// beside a running daemon (which holds the lock) and never changes anything.
import { formatSize } from '../../../common/size-units.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { fileStates, type VerifyReceipt } from '../../../common/contract.js';
import { databasePath, lockFileName } from '../../engine/data-dir.js';
import { storageProblem } from '../../engine/store/database.js';
import { readStatusSnapshot } from '../../engine/runtime/snapshot.js';
import { describeFailure, parseEngineCliOptions } from '../engine-setup.js';
import { displayJson } from '../../engine/raw-path.js';

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

/** "3 days ago", "5 minutes ago", "just now": how long ago `at` was, in words. */
function timeAgo(at: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 60) return 'just now';
  for (const [unit, size] of [
    ['year', 365 * 86_400],
    ['month', 30 * 86_400],
    ['day', 86_400],
    ['hour', 3600],
    ['minute', 60],
  ] as const) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  }
  return 'just now';
}

/** "1,204 of 1,204 files proven on the vault 3 days ago (http://nas:8420)"; problems after. */
function lastVerifyLine(r: VerifyReceipt | null, now: number): string {
  if (r === null) return 'Last verify: never verified';
  const n = (x: number) => x.toLocaleString('en-US');
  const where = r.vault.embedded ? 'the embedded vault' : r.vault.url;
  const problems =
    r.problemCount === 0
      ? ''
      : `; ${n(r.problemCount)} problem${r.problemCount === 1 ? '' : 's'} (keepsake verify lists them)`;
  return `Last verify: ${n(r.filesProven)} of ${n(r.files)} files proven on the vault ${timeAgo(r.finishedAt, now)} (${where})${problems}`;
}

export function runStatus(opts: StatusOptions): number {
  try {
    const { dataDir } = parseEngineCliOptions({
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    });
    const snapshot = readStatusSnapshot(dataDir);
    const { counts } = snapshot;
    // A daemon paused on a full disk or a damaged database cannot write that down: say it here.
    const problem = storageProblem(databasePath(dataDir));
    const report = {
      dataDir,
      running: daemonPid(dataDir) !== null,
      storage: problem === null ? null : { code: problem.code, message: problem.message },
      ...snapshot,
      lastErrors: snapshot.lastErrors.map((e) => ({
        at: new Date(e.at).toISOString(),
        message: e.message,
        path: e.path,
        code: e.code,
      })),
      lastVerify: snapshot.lastVerify && {
        ok: snapshot.lastVerify.problemCount === 0,
        files: snapshot.lastVerify.files,
        filesProven: snapshot.lastVerify.filesProven,
        bytes: snapshot.lastVerify.bytes,
        bytesProven: snapshot.lastVerify.bytesProven,
        verifiedAt: new Date(snapshot.lastVerify.finishedAt).toISOString(),
        vault: snapshot.lastVerify.vault.url,
        embedded: snapshot.lastVerify.vault.embedded,
        sample: snapshot.lastVerify.sample,
        folder: snapshot.lastVerify.folder,
        problemCount: snapshot.lastVerify.problemCount,
      },
    };
    if (opts.json) {
      process.stdout.write(`${displayJson(report)}\n`);
      return 0;
    }
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(`Keepsake data: ${dataDir}${report.running ? ' (a daemon is running)' : ''}`);
    if (report.storage) out(`problem  ${report.storage.message}`);
    out(
      `${report.filesTotal} files (${formatSize(report.bytesTotal)}); ${formatSize(report.bytesSafe)} safe on the vault, ${formatSize(report.bytesPending)} pending`,
    );
    for (const s of fileStates) if (counts[s] > 0) out(`  ${s.padEnd(11)} ${counts[s]}`);
    out(lastVerifyLine(snapshot.lastVerify, Date.now()));
    for (const f of report.folders) out(`folder ${f.path}`);
    for (const p of report.unreadableFolders) out(`cannot read  ${p.path}: ${p.message}`);
    for (const f of report.failedFiles.slice(0, 50)) out(`failed  ${f.path}: ${f.message}`);
    for (const f of report.emptyFiles.slice(0, 50)) out(`problem ${f.path}: ${f.message}`);
    for (const f of report.placesNotRecorded.slice(0, 50)) out(`problem ${f.path}: ${f.message}`);
    for (const e of report.lastErrors.slice(0, 10)) out(`error   ${e.at} ${e.message}`);
    return 0;
  } catch (err) {
    const { code, line } = describeFailure(err);
    process.stderr.write(`keepsake status: ${line}\n`);
    return code;
  }
}
