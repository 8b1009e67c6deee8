// The upload bandwidth throttle: one token bucket shared by every concurrent upload, whose
// rate follows a BandwidthPolicy (a fixed cap or a weekly timetable) and can be changed live.
//
// Invariant: over any window longer than a second, bytes granted <= rate * window + burst,
// where burst is at most a quarter of a second's worth; waiting callers are served first in,
// first out, in slices of about 50 ms of the rate, so concurrent uploads share the cap evenly
// and a rate change (or "off") reaches every waiting upload within one slice.
import type { Clock, TimerHandle } from '../ports.js';
import { type BandwidthPolicy, bandwidthAt, nextBandwidthChange } from './bandwidth.js';

interface Waiter {
  want: number;
  resolve(granted: number): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class BandwidthThrottle {
  private policy: BandwidthPolicy | null;
  private rate: number | null;
  private tokens = 0;
  private lastRefill: number;
  private readonly waiters: Waiter[] = [];
  private timer: TimerHandle | null = null;
  /** When the timetable next changes the rate (unix ms), or null. */
  private nextChangeAt: number | null;

  constructor(
    private readonly clock: Clock,
    policy: BandwidthPolicy | null = null,
  ) {
    this.policy = policy;
    this.lastRefill = clock.now();
    this.rate = bandwidthAt(policy, this.lastRefill);
    this.nextChangeAt = nextBandwidthChange(policy, this.lastRefill);
    this.tokens = this.rate === null ? 0 : this.burst();
  }

  /** The cap in force now, bytes per second (null = none). */
  currentRate(): number | null {
    this.followSchedule();
    return this.rate;
  }

  setPolicy(policy: BandwidthPolicy | null): void {
    this.policy = policy;
    const now = this.clock.now();
    this.nextChangeAt = nextBandwidthChange(policy, now);
    this.applyRate(bandwidthAt(policy, now));
  }

  setBytesPerSecond(bytesPerSecond: number | null): void {
    this.setPolicy({ kind: 'fixed', bytesPerSecond });
  }

  /**
   * Waits until up to `want` bytes may be sent and returns how many (>= 1, <= want). With no
   * cap it answers `want` at once. Rejects with the signal's reason when aborted.
   */
  take(want: number, signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    this.followSchedule();
    if (this.rate === null && this.waiters.length === 0) return Promise.resolve(want);
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = {
        want,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal?.reason as Error);
          this.pump();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      this.pump();
    });
  }

  close(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    // Let anyone still waiting go: closing must not leave an upload hanging.
    for (const w of this.waiters.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve(w.want);
    }
  }

  private followSchedule(): void {
    if (this.nextChangeAt === null) return;
    const now = this.clock.now();
    if (now < this.nextChangeAt) return;
    this.nextChangeAt = nextBandwidthChange(this.policy, now);
    this.applyRate(bandwidthAt(this.policy, now));
  }

  private applyRate(rate: number | null): void {
    if (rate === this.rate) return;
    this.refill();
    this.rate = rate;
    if (rate !== null) this.tokens = Math.min(this.tokens, this.burst());
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.pump();
  }

  private burst(): number {
    return this.rate === null ? Infinity : Math.max(16 * 1024, this.rate / 4);
  }

  private slice(): number {
    return this.rate === null ? Infinity : Math.max(4 * 1024, Math.floor(this.rate / 20));
  }

  private refill(): void {
    const now = this.clock.now();
    if (this.rate !== null) {
      this.tokens = Math.min(
        this.burst(),
        this.tokens + (Math.max(0, now - this.lastRefill) / 1000) * this.rate,
      );
    }
    this.lastRefill = now;
  }

  private pump(): void {
    if (this.timer) return; // a wake-up is already scheduled
    this.followSchedule();
    this.refill();
    while (this.waiters.length > 0) {
      const head = this.waiters[0];
      if (!head) break;
      if (this.rate === null) {
        this.grant(head, head.want);
        continue;
      }
      const ask = Math.min(head.want, this.slice());
      if (this.tokens >= ask) {
        this.tokens -= ask;
        this.grant(head, ask);
        continue;
      }
      let waitMs = Math.ceil(((ask - this.tokens) / this.rate) * 1000);
      if (this.nextChangeAt !== null) {
        waitMs = Math.min(waitMs, Math.max(1, this.nextChangeAt - this.clock.now()));
      }
      this.timer = this.clock.setTimeout(
        () => {
          this.timer = null;
          this.pump();
        },
        Math.max(1, waitMs),
      );
      return;
    }
  }

  private grant(waiter: Waiter, n: number): void {
    this.waiters.shift();
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.resolve(n);
  }
}
