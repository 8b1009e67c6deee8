// Progress samples for one upload: bytes on the wire, a rate smoothed over the last few
// seconds, and an ETA. Invariant: at most one sample per `minIntervalMs` (default 250 ms,
// i.e. four a second) unless forced (start and end), so a UI is never flooded.
// ThroughputMeter: the engine's one upload rate, from every byte put on the wire by any
// upload or batch, so the speed shown never reads 0 while bytes are flowing (see
// [Note: One throughput]).
import type { Clock } from '../ports.js';
import type { UploadProgressSample } from './types.js';

const WINDOW_MS = 3000;

export class ProgressMeter {
  private readonly samples: { at: number; bytes: number }[] = [];
  private lastEmitAt = -Infinity;
  private bytes = 0;

  constructor(
    private readonly clock: Clock,
    private readonly fileId: number,
    private readonly total: number,
    private readonly emit: (sample: UploadProgressSample) => void,
    private readonly minIntervalMs = 250,
  ) {}

  /** Bytes sent so far (may go back after a failed request: the server's offset wins). */
  update(bytesSent: number, force = false): void {
    const now = this.clock.now();
    this.bytes = bytesSent;
    const last = this.samples[this.samples.length - 1];
    if (!last || now - last.at >= 100 || bytesSent < last.bytes) {
      if (last && bytesSent < last.bytes) this.samples.length = 0; // a rewind: restart the window
      this.samples.push({ at: now, bytes: bytesSent });
      while (this.samples.length > 2 && (this.samples[0]?.at ?? now) < now - WINDOW_MS) {
        this.samples.shift();
      }
    }
    if (!force && now - this.lastEmitAt < this.minIntervalMs) return;
    this.lastEmitAt = now;
    const rate = this.rate(now);
    this.emit({
      fileId: this.fileId,
      bytesSent: this.bytes,
      bytesTotal: this.total,
      bytesPerSecond: rate,
      etaSeconds:
        this.bytes >= this.total
          ? 0
          : rate > 0
            ? Math.ceil((this.total - this.bytes) / rate)
            : null,
    });
  }

  private rate(now: number): number {
    const first = this.samples[0];
    if (!first) return 0;
    const span = now - first.at;
    if (span < 200) return 0;
    return Math.max(0, Math.round(((this.bytes - first.bytes) * 1000) / span));
  }
}

// [Note: One throughput]
// The status's throughputBytesPerSecond was the sum of each upload's own smoothed rate. A
// batch of small files had no rate at all, and a new upload's rate is 0 for its first
// moments, so the speed chart read 0 bytes/s in the middle of a backup. Now every byte
// handed to the network (tus bodies and batch frames alike) is recorded here, and the rate
// is bytes over the last WINDOW_MS: between two files, or two batches, it does not drop.

/** Bytes sent by all uploads, and their rate over the last few seconds. */
export class ThroughputMeter {
  /** Bytes per 250 ms bucket, oldest first: [bucket start (ms), bytes]. */
  private readonly buckets: [number, number][] = [];
  private total = 0;
  private firstAt: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** `bytes` more were just handed to the network. */
  record(bytes: number): void {
    if (bytes <= 0) return;
    const now = this.clock.now();
    this.total += bytes;
    this.firstAt ??= now;
    const start = now - (now % 250);
    const last = this.buckets[this.buckets.length - 1];
    if (last && last[0] === start) last[1] += bytes;
    else this.buckets.push([start, bytes]);
    this.prune(now);
  }

  /** Every byte recorded since the meter was made. */
  bytes(): number {
    return this.total;
  }

  /** Bytes per second over the last window (0 when nothing was sent in it). */
  rate(): number {
    const now = this.clock.now();
    this.prune(now);
    if (this.buckets.length === 0 || this.firstAt === null) return 0;
    const sum = this.buckets.reduce((n, [, b]) => n + b, 0);
    // Before a full window has passed, divide by the time since the first byte (at least
    // one bucket), so the first seconds of a backup do not read a quarter of the speed.
    const span = Math.max(250, Math.min(this.windowMs, now - this.firstAt + 250));
    return Math.round((sum * 1000) / span);
  }

  private prune(now: number): void {
    while (this.buckets.length > 0 && (this.buckets[0]?.[0] ?? now) <= now - this.windowMs) {
      this.buckets.shift();
    }
    // After a quiet spell, the next burst is measured from its own start.
    if (this.buckets.length === 0) this.firstAt = null;
  }
}
