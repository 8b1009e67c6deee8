// The device's heartbeat to its vault (issue 13 section 2): after each reconcile pass and
// each backup pass that settles, a small report (version, OS, counts per state, bytes
// pending, how long the oldest unsafe file has waited, the latest error, paused and why)
// goes to POST /api/v1/heartbeat, so the vault can tell IT which machines are behind,
// silent or failing. Invariant: a heartbeat never holds up or fails a backup: it is sent
// in the background, one at a time, and any failure (an older vault without the route, the
// admin token, a network fault) is logged at debug level and forgotten.
import type { EngineStatus } from '../../../common/contract.js';
import type { Heartbeat } from '../../../common/vault-protocol.js';
import type { Clock, Logger, TimerHandle } from '../ports.js';

export interface HeartbeatOptions {
  /** the vault call; absent: no vault, no heartbeat */
  send: ((beat: Heartbeat, signal: AbortSignal) => Promise<void>) | null;
  status: () => EngineStatus;
  /** unix ms since which the longest-waiting unsafe file has waited; null: all safe */
  oldestUnsafeSince: () => number | null;
  reconciling: () => boolean;
  /** nothing left to scan, hash, upload or record */
  settled: () => boolean;
  clock: Clock;
  logger: Logger;
  version: string;
  os: string;
  signal: AbortSignal;
  /** how often the settled state is looked at, ms (default 5 s) */
  checkEveryMs?: number;
}

export interface HeartbeatSender {
  /** Called on every status change: notices a reconcile pass ending. Cheap. */
  poke(): void;
  /** Sends one heartbeat now (the CLI's end of a backup run); resolves when answered or failed. */
  send(pass: Heartbeat['pass']): Promise<void>;
  close(): void;
}

/** The heartbeat for a status; pure, for the tests. */
export function heartbeatOf(
  st: EngineStatus,
  pass: Heartbeat['pass'],
  now: number,
  oldestUnsafeSince: number | null,
  errorsSince: number,
  version: string,
  os: string,
): Heartbeat {
  const lastError = st.lastErrors.filter((e) => e.at >= errorsSince).at(0) ?? null;
  return {
    version,
    os,
    counts: { ...st.counts },
    bytesPending: st.bytesPending,
    oldestUnsafeAgeMs: oldestUnsafeSince === null ? null : Math.max(0, now - oldestUnsafeSince),
    lastError: lastError?.message.slice(0, 1000) ?? null,
    paused: st.paused,
    pausedReason: st.pauseReason,
    pass,
    at: now,
  };
}

export function createHeartbeat(o: HeartbeatOptions): HeartbeatSender {
  const checkEveryMs = o.checkEveryMs ?? 5000;
  let wasReconciling = false;
  let wasSettled = false;
  // Errors older than the previous heartbeat were reported then (or are stale): the next one
  // reports only what happened since.
  let errorsSince = 0;
  let inFlight: Promise<void> | null = null;
  let pending: Heartbeat['pass'] | null = null;
  let timer: TimerHandle | null = null;
  let closed = false;

  async function sendOne(pass: Heartbeat['pass']): Promise<void> {
    if (o.send === null || closed) return;
    const now = o.clock.now();
    const beat = heartbeatOf(
      o.status(),
      pass,
      now,
      o.oldestUnsafeSince(),
      errorsSince,
      o.version,
      o.os,
    );
    try {
      await o.send(beat, o.signal);
      errorsSince = now;
    } catch (err) {
      o.logger.debug('heartbeat not sent', { error: String(err) });
    }
  }

  /** One heartbeat at a time; a pass ending meanwhile is sent right after (the latest wins). */
  function queue(pass: Heartbeat['pass']): Promise<void> {
    if (inFlight !== null) {
      // A backup pass says more than a reconcile pass: never let one replace the other.
      if (pending !== 'backup') pending = pass;
      return inFlight;
    }
    inFlight = sendOne(pass).finally(() => {
      inFlight = null;
      const next = pending;
      pending = null;
      if (next !== null) void queue(next);
    });
    return inFlight;
  }

  function check(): void {
    timer = null;
    if (closed) return;
    const settled = o.settled();
    if (settled && !wasSettled) void queue('backup');
    wasSettled = settled;
    timer = o.clock.setTimeout(check, checkEveryMs);
    timer.unref?.();
  }
  if (o.send !== null) {
    timer = o.clock.setTimeout(check, checkEveryMs);
    timer.unref?.();
  }

  return {
    poke() {
      if (o.send === null || closed) return;
      const reconciling = o.reconciling();
      if (wasReconciling && !reconciling) void queue('reconcile');
      wasReconciling = reconciling;
    },
    send: (pass) => queue(pass),
    close() {
      closed = true;
      if (timer !== null) o.clock.clearTimeout(timer);
      timer = null;
    },
  };
}
