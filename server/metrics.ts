// The vault's Prometheus metrics (text exposition format 0.0.4), kept in memory and reset on
// restart, as Prometheus counters are. No labels carry user data (no file names, no hashes);
// the per-device series carry the name the administrator gave each device.
import type { DeviceJson } from '../common/vault-protocol.js';

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Who found an asset's stored bytes damaged or missing. */
export type ProblemSource = 'read' | 'verify' | 'scrub' | 'check';

export type RouteClass = 'tus' | 'api' | 'health' | 'metrics' | 'other';

type Problems = { damaged: number; missing: number };
type PreviewCounts = { made: number; none: number };
/** A gauge read when /metrics is asked: from memory, or from the (asynchronous) index. */
type Read<T> = () => Promise<T> | T;

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class VaultMetrics {
  uploadsStarted = 0;
  uploadsFinished = 0;
  uploadsDeduplicated = 0;
  uploadsRejected: Record<
    'checksum_mismatch' | 'quota_exceeded' | 'too_large' | 'invalid',
    number
  > = { checksum_mismatch: 0, quota_exceeded: 0, too_large: 0, invalid: 0 };
  bytesReceived = 0;
  verificationFailures = 0;
  hashStateRebuilds = () => 0;
  /** Content responses cut short because the bytes sent did not hash to the asset's sha256. */
  damagedReads = 0;
  /** Findings of damaged or missing stored bytes, by who found them. */
  problemsFound: Record<ProblemSource, { damaged: number; missing: number }> = {
    read: { damaged: 0, missing: 0 },
    verify: { damaged: 0, missing: 0 },
    scrub: { damaged: 0, missing: 0 },
    check: { damaged: 0, missing: 0 },
  };
  /** Bytes the background scrubber re-read and hashed. */
  scrubBytes = 0;
  /** Assets the background scrubber checked. */
  scrubAssets = 0;
  /** unix ms the scrubber last finished a pass over every asset; 0 = never. */
  scrubLastFullPassAt: Read<number> = () => 0;
  /** Assets whose last check found them damaged or missing. */
  assetProblems: Read<Problems> = () => ({ damaged: 0, missing: 0 });
  /** Assets whose previews were made, or found impossible (the rest are pending). */
  previewCounts: Read<PreviewCounts> = () => ({ made: 0, none: 0 });
  /** The devices with their latest heartbeat and verdict (See devices.ts). */
  fleet: Read<DeviceJson[]> = () => [];
  private readonly latency = new Map<string, Histogram>();

  observeRequest(route: RouteClass, method: string, status: number, seconds: number): void {
    const key = `route="${route}",method="${method}",status="${status}"`;
    let h = this.latency.get(key);
    if (!h) {
      h = { counts: LATENCY_BUCKETS_S.map(() => 0), sum: 0, count: 0 };
      this.latency.set(key, h);
    }
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
      if (seconds <= (LATENCY_BUCKETS_S[i] ?? Infinity)) h.counts[i] = (h.counts[i] ?? 0) + 1;
    }
    h.sum += seconds;
    h.count += 1;
  }

  /** The text /metrics answers; the gauges read from the index are awaited here. */
  async render(gauges: {
    assets: number;
    bytes: number;
    dedupSavedBytes: number;
    storedBytes?: number;
    compressionSavedBytes?: number;
  }): Promise<string> {
    const [lastFullPassAt, problems, previews, fleet] = await Promise.all([
      this.scrubLastFullPassAt(),
      this.assetProblems(),
      this.previewCounts(),
      this.fleet(),
    ]);
    const out: string[] = [];
    const counter = (name: string, help: string, value: number) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    };
    const gauge = (name: string, help: string, value: number) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
    };
    counter('keepsake_vault_uploads_started_total', 'tus uploads created.', this.uploadsStarted);
    counter(
      'keepsake_vault_uploads_finished_total',
      'Uploads whose SHA-256 matched and whose content is stored.',
      this.uploadsFinished,
    );
    counter(
      'keepsake_vault_uploads_deduplicated_total',
      'Finished uploads whose content the vault already held.',
      this.uploadsDeduplicated,
    );
    out.push(
      '# HELP keepsake_vault_uploads_rejected_total Uploads refused, by reason.',
      '# TYPE keepsake_vault_uploads_rejected_total counter',
    );
    for (const [reason, n] of Object.entries(this.uploadsRejected)) {
      out.push(`keepsake_vault_uploads_rejected_total{reason="${reason}"} ${n}`);
    }
    counter(
      'keepsake_vault_bytes_received_total',
      'Upload bytes written to partial files.',
      this.bytesReceived,
    );
    counter(
      'keepsake_vault_verification_failures_total',
      'Finished uploads whose bytes did not hash to the declared sha256.',
      this.verificationFailures,
    );
    counter(
      'keepsake_vault_hash_state_rebuilds_total',
      'Resumed uploads whose hash state had to be rebuilt by rereading the partial.',
      this.hashStateRebuilds(),
    );
    counter(
      'keepsake_vault_damaged_reads_total',
      'Content responses cut short because the stored bytes did not hash to the sha256.',
      this.damagedReads,
    );
    out.push(
      '# HELP keepsake_vault_problems_found_total Stored bytes found damaged or missing, by finder.',
      '# TYPE keepsake_vault_problems_found_total counter',
    );
    for (const [source, byState] of Object.entries(this.problemsFound)) {
      for (const [state, n] of Object.entries(byState)) {
        out.push(`keepsake_vault_problems_found_total{source="${source}",state="${state}"} ${n}`);
      }
    }
    counter(
      'keepsake_vault_scrub_bytes_total',
      'Stored bytes the background scrubber re-read and hashed.',
      this.scrubBytes,
    );
    counter(
      'keepsake_vault_scrub_assets_total',
      'Assets the background scrubber checked.',
      this.scrubAssets,
    );
    const scrubFound = this.problemsFound.scrub;
    counter(
      'keepsake_vault_scrub_damaged_found_total',
      'Assets the background scrubber found damaged or missing.',
      scrubFound.damaged + scrubFound.missing,
    );
    gauge(
      'keepsake_vault_scrub_last_full_pass_timestamp_seconds',
      'When the scrubber last finished a pass over every asset (unix s; 0 = never).',
      Math.floor(lastFullPassAt / 1000),
    );
    out.push(
      '# HELP keepsake_vault_assets_with_problem Assets whose last check found them damaged or missing.',
      '# TYPE keepsake_vault_assets_with_problem gauge',
      `keepsake_vault_assets_with_problem{state="damaged"} ${problems.damaged}`,
      `keepsake_vault_assets_with_problem{state="missing"} ${problems.missing}`,
    );
    out.push(
      '# HELP keepsake_vault_previews Assets by what became of their thumbnail and preview.',
      '# TYPE keepsake_vault_previews gauge',
      `keepsake_vault_previews{state="made"} ${previews.made}`,
      `keepsake_vault_previews{state="none"} ${previews.none}`,
      `keepsake_vault_previews{state="pending"} ${Math.max(0, gauges.assets - previews.made - previews.none)}`,
    );
    gauge('keepsake_vault_assets', 'Assets held.', gauges.assets);
    gauge('keepsake_vault_asset_bytes', 'Bytes of content held (each content once).', gauges.bytes);
    gauge(
      'keepsake_vault_dedup_saved_bytes',
      'Bytes not stored because the content was already held.',
      gauges.dedupSavedBytes,
    );
    if (gauges.storedBytes !== undefined) {
      gauge(
        'keepsake_vault_stored_bytes',
        "Bytes the content takes on the vault's disk (compressed content as stored).",
        gauges.storedBytes,
      );
    }
    if (gauges.compressionSavedBytes !== undefined) {
      gauge(
        'keepsake_vault_compression_saved_bytes',
        'Bytes not on disk because the content is stored compressed (lossless).',
        gauges.compressionSavedBytes,
      );
    }
    this.renderFleet(out, fleet);
    const name = 'keepsake_vault_request_duration_seconds';
    out.push(`# HELP ${name} HTTP request latency.`, `# TYPE ${name} histogram`);
    for (const [labels, h] of this.latency) {
      LATENCY_BUCKETS_S.forEach((le, i) => {
        out.push(`${name}_bucket{${labels},le="${le}"} ${h.counts[i] ?? 0}`);
      });
      out.push(`${name}_bucket{${labels},le="+Inf"} ${h.count}`);
      out.push(`${name}_sum{${labels}} ${h.sum}`);
      out.push(`${name}_count{${labels}} ${h.count}`);
    }
    return `${out.join('\n')}\n`;
  }

  /**
   * Per live device, so an existing Prometheus + Alertmanager can page IT, e.g.
   * `time() - keepsake_vault_device_last_backup_timestamp_seconds > 3 * 86400`. A time that
   * never happened is 0 (an alert on "too long ago" then fires, as it should).
   */
  private renderFleet(out: string[], fleet: readonly DeviceJson[]): void {
    const devices = fleet.filter((d) => d.revokedAt === null);
    const labels = (d: DeviceJson) => `device="${escapeLabel(d.name)}",id="${escapeLabel(d.id)}"`;
    const series = (name: string, type: string, help: string, value: (d: DeviceJson) => number) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const d of devices) out.push(`${name}{${labels(d)}} ${value(d)}`);
    };
    const seconds = (ms: number | null) => (ms === null ? 0 : ms / 1000);
    series(
      'keepsake_vault_device_last_backup_timestamp_seconds',
      'gauge',
      'When the device last reported a backup pass that left nothing to send (0 = never).',
      (d) => seconds(d.lastBackupAt),
    );
    series(
      'keepsake_vault_device_last_heartbeat_timestamp_seconds',
      'gauge',
      'When the device last sent a heartbeat (0 = never).',
      (d) => seconds(d.lastHeartbeatAt),
    );
    series(
      'keepsake_vault_device_files_pending',
      'gauge',
      'Files the device reported as not yet backed up (discovered, hashing, queued, uploading).',
      (d) => PENDING_STATES.reduce((n, s) => n + (d.heartbeat?.counts[s] ?? 0), 0),
    );
    series(
      'keepsake_vault_device_bytes_pending',
      'gauge',
      'Bytes the device reported as not yet backed up.',
      (d) => d.heartbeat?.bytesPending ?? 0,
    );
    series(
      'keepsake_vault_device_oldest_unsafe_age_seconds',
      'gauge',
      'How long the oldest file the device has not backed up yet has waited (0 = none).',
      (d) => (d.heartbeat?.oldestUnsafeAgeMs ?? 0) / 1000,
    );
    series(
      'keepsake_vault_device_files_safe',
      'gauge',
      'Places the device registered with its own token that are still there.',
      (d) => d.filesSafe,
    );
    series(
      'keepsake_vault_device_bytes_safe',
      'gauge',
      'Bytes of those places.',
      (d) => d.bytesSafe,
    );
    const name = 'keepsake_vault_device_verdict';
    out.push(
      `# HELP ${name} The device's health verdict: 1 for the current one.`,
      `# TYPE ${name} gauge`,
    );
    for (const d of devices) {
      for (const v of VERDICTS) {
        out.push(`${name}{${labels(d)},verdict="${v}"} ${d.verdict === v ? 1 : 0}`);
      }
    }
  }
}

const PENDING_STATES = ['discovered', 'hashing', 'queued', 'uploading'] as const;
const VERDICTS = ['healthy', 'behind', 'silent', 'failing'] as const;

/** A label value in the Prometheus text format: backslash, double quote and newline escaped. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
