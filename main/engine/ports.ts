// The engine's seams to the outside world (see DESIGN.md "Boundaries the engine is built
// around"). Production and tests pass real implementations; a seeded simulation may pass
// deterministic ones. Nothing below main/engine/ calls Date.now() or setTimeout directly.
import { displayJson } from './raw-path.js';

/** Wall-clock time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Resolves after `ms`, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface TimerHandle {
  /** Lets the process exit while the timer is pending. */
  unref?(): void;
}

export type LogFields = Record<string, unknown>;

/** Structured logging. Never log tokens or file contents. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Power and network signals fed in by the Electron shell (powerMonitor) or the CLI. */
export interface PowerState {
  onBattery: boolean;
  metered: boolean;
  /** false: this computer cannot tell (onBattery is then false); the setting cannot act. */
  batteryKnown?: boolean;
  /** false: this computer cannot tell (metered is then false); the setting cannot act. */
  meteredKnown?: boolean;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** A logger that drops everything (for tests that do not look at logs). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

/** JSON lines to a writable (stderr for the CLI, a file for the daemon). */
export function jsonLogger(
  write: (line: string) => void,
  minLevel: 'debug' | 'info' | 'warn' | 'error' = 'info',
  base: LogFields = {},
  clock: Pick<Clock, 'now'> = systemClock,
): Logger {
  const order = { debug: 0, info: 1, warn: 2, error: 3 } as const;
  const log =
    (level: keyof typeof order) =>
    (msg: string, fields?: LogFields): void => {
      if (order[level] < order[minLevel]) return;
      const entry = { t: new Date(clock.now()).toISOString(), level, msg, ...base, ...fields };
      // a path that is not UTF-8 is logged as a person reads it (U+FFFD)
      write(`${displayJson(entry)}\n`);
    };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => jsonLogger(write, minLevel, { ...base, ...fields }, clock),
  };
}

/**
 * Where a secret the person entered (the vault token set in Settings) is kept between runs.
 * The CLI and the daemon keep it in a file only its owner can read; the desktop app passes
 * Electron's safeStorage (secret-store.ts), so the same engine reads back what it wrote.
 */
export interface SecretStore {
  /** Where the secret really is (Settings shows it as tokenStorage). */
  readonly kind: 'safe_storage' | 'file';
  /** null when none is kept. */
  read(): Promise<string | null>;
  /** null forgets it. */
  write(secret: string | null): Promise<void>;
}
