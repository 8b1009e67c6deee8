// A single pending wake-up at the earliest time asked for. The hash pump and the upload queue
// each sleep until their next retry or settle time; asking for a later time than the one
// already pending changes nothing, asking for an earlier one moves the wake-up forward.
import type { Clock, TimerHandle } from '../ports.js';

export interface WakeTimer {
  /** Wake at unix ms `at` (or at the pending time, if that is earlier). */
  scheduleAt(at: number): void;
  /** Drops the pending wake-up. */
  cancel(): void;
}

export function createWakeTimer(clock: Clock, wake: () => void, minDelayMs = 0): WakeTimer {
  let timer: TimerHandle | null = null;
  let timerAt: number | null = null;
  return {
    scheduleAt(at) {
      if (timer !== null && timerAt !== null && timerAt <= at) return;
      if (timer !== null) clock.clearTimeout(timer);
      timerAt = at;
      timer = clock.setTimeout(
        () => {
          timer = null;
          timerAt = null;
          wake();
        },
        Math.max(minDelayMs, at - clock.now()),
      );
      timer.unref?.();
    },
    cancel() {
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
      timerAt = null;
    },
  };
}
