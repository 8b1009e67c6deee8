// Progress samples for one upload: bytes on the wire, a rate smoothed over the last few
// seconds, and an ETA. Invariant: at most one sample per `minIntervalMs` (default 250 ms,
// i.e. four a second) unless forced (start and end), so a UI is never flooded.
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
