// Abandoned partial uploads: the one clock that decides when a partial is given up. Owns the
// idle time of a partial (since its creation or its last stored byte) and the removal of
// those idle longer than the TTL (`keepsake vault --partial-ttl`, default 24 h).
// Invariant: a partial's quota reservation and the partial itself end together (removing the
// partial forgets its uploads row, which is the reservation), and only after it has been
// idle for the whole TTL: an upload that keeps sending is never expired, however old.
//
// [Note: Abandoned partials]
// A client that gives up mid-upload (deleted the file, was uninstalled, lost its database)
// leaves a partial whose declared size stays reserved against the quota. tus's own
// expiration counts from creation (3 days, then), so a vault with a quota told new uploads
// "the vault is full" while `usage` said it held nothing. Now:
// - the clock is idle time: max(creation, the partial's mtime, which every stored byte moves);
// - Upload-Expires (tus expiration extension) is that clock plus the TTL. @tus/server computes
//   it from the upload's creation_date, so the store reports the idle clock's start there. On
//   a PATCH the header is computed before the bytes are written, so it is never later than
//   the real expiry: a client told "expires at T" can rely on T;
// - a sweep every min(TTL / 2, 1 h) removes the partials idle past the TTL, and a creation the
//   quota would refuse runs the sweep first, so a reservation never outlives its TTL by more
//   than the time until the next upload asks for room;
// - `usage` reports `reservedBytes` (declared sizes of uploads still receiving), so what
//   holds the quota is visible.
import { stat } from 'node:fs/promises';
import type { VaultLogger } from './logger.js';

export const DEFAULT_PARTIAL_TTL_MS = 24 * 60 * 60 * 1000;

export interface ReceivingUpload {
  id: string;
  /** unix ms */
  createdAt: number;
}

export interface AbandonedPartialsOptions {
  ttlMs: number;
  now: () => number;
  /** the partial file of an upload */
  partialPath: (uploadId: string) => string;
  /** every upload still receiving bytes */
  receiving: () => Promise<ReceivingUpload[]>;
  /** removes an upload: its partial, its bookkeeping and its reservation */
  remove: (uploadId: string) => Promise<void>;
  logger: VaultLogger;
}

export class AbandonedPartials {
  readonly ttlMs: number;
  private sweeping: Promise<number> | undefined;

  constructor(private readonly o: AbandonedPartialsOptions) {
    this.ttlMs = o.ttlMs;
  }

  /** When the upload last made progress (unix ms): creation or its last stored byte. */
  async lastActivity(uploadId: string, createdAt: number): Promise<number> {
    const mtime = await stat(this.o.partialPath(uploadId)).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    return Math.max(createdAt, Math.floor(mtime));
  }

  /** When the upload expires if nothing more arrives (unix ms). */
  async expiresAt(uploadId: string, createdAt: number): Promise<number> {
    return (await this.lastActivity(uploadId, createdAt)) + this.ttlMs;
  }

  /**
   * Removes every partial idle longer than the TTL; resolves with how many. Concurrent calls
   * share one sweep.
   */
  expireIdle(): Promise<number> {
    this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweep(): Promise<number> {
    const now = this.o.now();
    let removed = 0;
    for (const u of await this.o.receiving()) {
      const idleSince = await this.lastActivity(u.id, u.createdAt);
      if (now - idleSince <= this.ttlMs) continue;
      try {
        await this.o.remove(u.id);
        removed += 1;
        this.o.logger.info('abandoned partial upload expired', {
          uploadId: u.id,
          idleMs: now - idleSince,
        });
      } catch (err) {
        this.o.logger.warn('could not remove an abandoned partial upload', {
          uploadId: u.id,
          error: String(err),
        });
      }
    }
    return removed;
  }
}
