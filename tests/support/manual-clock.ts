// A Clock whose time moves only when a test says so; its timers fire as time passes them.
// Lets a test drive settle times, retries and group commits without waiting on the wall clock.
import type { Clock, TimerHandle } from '../../main/engine/ports.js';

export interface ManualClock extends Clock {
  /** Moves time forward by ms, firing every timer it passes, in time order. */
  advance(ms: number): void;
  /** Moves time to the earliest pending timer and fires it; false when none is pending. */
  fireNext(): boolean;
  /** Timers pending. */
  pending(): number;
}

export function manualClock(start: number): ManualClock {
  let now = start;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 1;
  const earliest = (until: number) =>
    timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
  function fire(t: { at: number; fn: () => void }): void {
    now = Math.max(now, t.at);
    timers = timers.filter((x) => x !== t);
    t.fn();
  }
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t = { at: now + Math.max(0, ms), fn, id: nextId++ };
      timers.push(t);
      return t as unknown as TimerHandle;
    },
    clearTimeout(handle) {
      timers = timers.filter((t) => t !== (handle as unknown));
    },
    sleep: () => Promise.resolve(),
    advance(ms) {
      const end = now + ms;
      for (let due = earliest(end); due; due = earliest(end)) fire(due);
      now = end;
    },
    fireNext() {
      const due = earliest(Number.POSITIVE_INFINITY);
      if (!due) return false;
      fire(due);
      return true;
    },
    pending: () => timers.length,
  };
}
