// The object the Electron shell, the CLI and the web UI server talk to. createEngine() in
// engine.ts builds it; its `api` implements every command of common/contract.ts, and its
// events are the contract's events. Transports validate with the contract's schemas.
import type { EventName, EventPayload, KeepsakeApi } from '../../common/contract.js';
import type { PowerState } from './ports.js';

export interface Engine {
  /** Every command of the contract, as methods taking already-validated arguments. */
  readonly api: KeepsakeApi;
  /** Subscribes to an engine event; returns the unsubscribe function. */
  on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void): () => void;
  /** Reconcile-scans the folders, starts the watchers and the upload queue. */
  start(): Promise<void>;
  /** Resolves when every known file has settled (no discovered/hashing/queued/uploading left,
   * and no retry scheduled before the deadline): what `keepsake backup` waits for. */
  whenSettled(signal?: AbortSignal): Promise<void>;
  /** Battery and metered-network state from the Electron shell or the CLI. */
  setPowerState(state: PowerState): void;
  /** Stops cleanly: watchers closed, in-flight uploads aborted with their offsets kept,
   * the database closed and the data-directory lock released. */
  close(): Promise<void>;
}
