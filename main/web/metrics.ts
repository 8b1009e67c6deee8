// The daemon's own Prometheus metrics (issue 13 section 2), served as GET /metrics on the web
// UI's port behind the same token (server.ts): files per state, bytes pending and safe, bytes
// uploaded, errors, pauses, whether the vault answers, and when the backup was last complete.
// Text exposition format 0.0.4. No label carries a file name or a path.
// Invariant: rendering reads the engine's status and changes nothing but this module's memory
// of when the backup was last seen complete.
import type { EngineStatus } from '../../common/contract.js';

const PENDING_STATES = ['discovered', 'hashing', 'queued', 'uploading'] as const;

/** Complete: nothing left to hash or upload, and not held back by a pause. */
function complete(st: EngineStatus): boolean {
  return st.bytesPending === 0 && PENDING_STATES.every((s) => st.counts[s] === 0) && !st.paused;
}

export class DaemonMetrics {
  /** unix ms the backup was last seen complete since this daemon started; null = not yet */
  private lastCompleteAt: number | null = null;

  constructor(private readonly now: () => number = () => Date.now()) {}

  render(st: EngineStatus, bytesUploaded: number | null): string {
    const now = this.now();
    if (complete(st)) this.lastCompleteAt = now;
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
    };
    metric(
      'keepsake_files',
      'gauge',
      'Files under the watched folders, by state.',
      Object.entries(st.counts).map(([state, n]) => [`{state="${state}"}`, n]),
    );
    metric('keepsake_bytes_pending', 'gauge', 'Bytes not backed up yet.', [['', st.bytesPending]]);
    metric('keepsake_bytes_safe', 'gauge', 'Bytes backed up (or held as duplicates).', [
      ['', st.bytesSafe],
    ]);
    if (bytesUploaded !== null) {
      metric(
        'keepsake_upload_bytes_total',
        'counter',
        'Bytes the vault confirmed since the daemon started.',
        [['', bytesUploaded]],
      );
    }
    metric('keepsake_upload_bytes_per_second', 'gauge', 'Upload speed over the last seconds.', [
      ['', st.throughputBytesPerSecond],
    ]);
    metric('keepsake_files_failed', 'gauge', 'Files that could not be backed up.', [
      ['', st.counts.failed],
    ]);
    metric(
      'keepsake_last_error_timestamp_seconds',
      'gauge',
      'When the latest error was recorded (0 = none).',
      [['', (st.lastErrors[0]?.at ?? 0) / 1000]],
    );
    metric(
      'keepsake_paused',
      'gauge',
      'Whether uploads are paused (1), with the reason as a label.',
      [[st.pauseReason === null ? '' : `{reason="${st.pauseReason}"}`, st.paused ? 1 : 0]],
    );
    metric('keepsake_vault_reachable', 'gauge', 'Whether the vault answers (1) or not (0).', [
      ['', st.vault.reachable ? 1 : 0],
    ]);
    metric(
      'keepsake_oldest_unsafe_file_mtime_seconds',
      'gauge',
      'mtime of the oldest file not backed up yet (0 = every file is safe).',
      [['', (st.oldestUnsafeMtimeMs ?? 0) / 1000]],
    );
    metric(
      'keepsake_last_full_backup_timestamp_seconds',
      'gauge',
      'When every file was last seen backed up, since the daemon started (0 = not yet).',
      [['', (this.lastCompleteAt ?? 0) / 1000]],
    );
    metric(
      'keepsake_seconds_since_full_backup',
      'gauge',
      'Seconds since every file was last seen backed up (NaN = not yet since the daemon started).',
      [['', this.lastCompleteAt === null ? Number.NaN : (now - this.lastCompleteAt) / 1000]],
    );
    return `${out.join('\n')}\n`;
  }
}
