// Why uploads are paused, if they are: one answer from four sources, in this order of
// precedence: a block (the vault refused us: sign-in needed, vault full; or this machine's
// storage failed: disk full, damaged database), the person paused (maybe
// until a time), the battery, a metered network (each only when its setting says so).
//
// Invariant: every change of any source calls onChange exactly once, after the state is
// updated, so whoever applies the pause (the queue, the metadata pump, status) sees the new
// reason; a timed user pause ends by itself and is cancelled by resume or close.
import type { PauseReason } from '../../../common/contract.js';
import type { Clock, PowerState, TimerHandle } from '../ports.js';

export type BlockReason = 'sign_in_needed' | 'vault_full' | 'disk_full' | 'database_corrupt';

export interface PauseOptions {
  clock: Clock;
  power?: PowerState;
  /** The current settings (read at each question, so a changed setting counts at once). */
  pauseOnBattery(): boolean;
  pauseOnMetered(): boolean;
  onChange(): void;
}

export interface Pause {
  reason(): PauseReason | null;
  /** When a timed user pause ends (unix ms); null when not paused by the person or untimed. */
  pausedUntil(): number | null;
  /** The vault's refusal, if any (what `keepsake backup` stops on). */
  blocked(): { reason: BlockReason; message: string } | null;
  /**
   * The vault refused us. `replace`: a different refusal replaces the current one (the
   * queue's view); otherwise the first refusal stands (the metadata pump's). Returns whether
   * anything changed.
   */
  block(reason: BlockReason, message: string, replace: boolean): boolean;
  pauseByUser(untilMs: number | null): void;
  /** The person resumed: also how they say "I fixed the token / made room", so it unblocks. */
  resumeByUser(): void;
  /** The cause of a block went away by itself (the engine found room again). */
  unblock(reason: BlockReason): void;
  setPower(state: PowerState): void;
  /** The signals as last fed in (null: unknown on this computer). */
  power(): { onBattery: boolean | null; metered: boolean | null };
  /** Settings changed: the answer may have too. */
  recheck(): void;
  close(): void;
}

export function createPause(options: PauseOptions): Pause {
  const { clock } = options;
  let userPause: { until: number | null } | null = null;
  let userPauseTimer: TimerHandle | null = null;
  let blockedBy: { reason: BlockReason; message: string } | null = null;
  // Until someone feeds the signals in, they are unknown (and the settings cannot act).
  let power: PowerState = options.power ?? {
    onBattery: false,
    metered: false,
    batteryKnown: false,
    meteredKnown: false,
  };

  function clearUserTimer(): void {
    if (userPauseTimer !== null) clock.clearTimeout(userPauseTimer);
    userPauseTimer = null;
  }

  return {
    reason() {
      if (blockedBy) return blockedBy.reason;
      if (userPause) return 'user';
      if (power.onBattery && options.pauseOnBattery()) return 'battery';
      if (power.metered && options.pauseOnMetered()) return 'metered';
      return null;
    },
    pausedUntil: () => (blockedBy === null ? (userPause?.until ?? null) : null),
    blocked: () => blockedBy,
    block(reason, message, replace) {
      if (replace ? blockedBy?.reason === reason : blockedBy !== null) return false;
      blockedBy = { reason, message };
      options.onChange();
      return true;
    },
    pauseByUser(untilMs) {
      userPause = { until: untilMs };
      clearUserTimer();
      if (untilMs) {
        userPauseTimer = clock.setTimeout(
          () => {
            userPauseTimer = null;
            userPause = null;
            options.onChange();
          },
          Math.max(0, untilMs - clock.now()),
        );
        userPauseTimer.unref?.();
      }
      options.onChange();
    },
    resumeByUser() {
      userPause = null;
      clearUserTimer();
      blockedBy = null;
      options.onChange();
    },
    unblock(reason) {
      if (blockedBy?.reason !== reason) return;
      blockedBy = null;
      options.onChange();
    },
    setPower(state) {
      power = { ...state };
      options.onChange();
    },
    power: () => ({
      onBattery: power.batteryKnown === false ? null : power.onBattery,
      metered: power.meteredKnown === false ? null : power.metered,
    }),
    recheck: () => options.onChange(),
    close: clearUserTimer,
  };
}
